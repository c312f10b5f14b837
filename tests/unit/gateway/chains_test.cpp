// The gateway role serving /chains: the chains' local models are OpenAI clients of the
// gateway's own /v1 (GatewayServer::self_endpoint), so their calls reach the engine pool. The
// engines here are real HttpServers over FakeEngines on loopback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "chain/openai_client.h"
#include "chain/yaml_loader.h"
#include "gateway/pool.h"
#include "gateway/server.h"
#include "server/http_server.h"
#include "support/fake_engine.h"

namespace llmchain::gateway::test {
namespace {

using namespace llmchain::server;  // the options, HTTP types and engine-role servers the gateway runs with
using nlohmann::json;
using namespace std::chrono_literals;

// The FakeEngine answers "echo: X" with X.
constexpr const char* kChainsYaml = R"YAML(
models:
  local: {path: any.gguf, params: {max_tokens: 64}}
  scripted: {type: fake, responses: ["from the fake model"]}
chains:
  echo:
    description: Echoes through an engine
    model: local
    prompt: "echo: {text}"
    output_key: reply
  scripted:
    model: scripted
    prompt: "{text}"
    output_key: reply
  twice:
    type: sequential
    input_variables: [text]
    output_variables: [first, second]
    steps:
      - {prompt: "echo: {text}", model: local, output_key: first}
      - {prompt: "echo: again {first}", model: local, output_key: second}
)YAML";

struct Engine {
  explicit Engine(const std::string& name, int token_delay_ms = 0) {
    fakes::FakeEngineOptions eo;
    eo.name = name;
    eo.token_delay_ms = token_delay_ms;
    fake = std::make_unique<fakes::FakeEngine>(eo);
    ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.parallel = 4;
    so.shutdown_grace_s = 1;
    http = std::make_unique<HttpServer>(*fake, so);
    port = *http->start();
  }
  ~Engine() { stop(); }
  void stop() {
    if (http) http->shutdown();
    http.reset();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  std::unique_ptr<fakes::FakeEngine> fake;
  std::unique_ptr<HttpServer> http;
  int port = 0;
};

class GatewayChainsTest : public ::testing::Test {
 protected:
  void start(const std::vector<const Engine*>& engines, ServerOptions so = {}) {
    UpstreamPoolOptions po;
    for (const auto* e : engines) po.upstreams.push_back(e->url());
    po.health_interval_s = 0.2;
    auto p = UpstreamPool::create(po);
    ASSERT_TRUE(p.ok()) << p.error().message();
    pool_ = *p;
    so.host = "127.0.0.1";
    so.port = 0;
    if (so.shutdown_grace_s == ServerOptions{}.shutdown_grace_s) so.shutdown_grace_s = 5;
    api_key_ = so.api_key;
    gw_ = std::make_unique<GatewayServer>(pool_, so);
    ASSERT_TRUE(gw_->bind().ok());
    // What cmd_serve does in the gateway role: local models become clients of the gateway's /v1.
    GatewaySelf self = gw_->self_endpoint();
    chain::LoadOptions lo;
    lo.local_model_factory = [self](const chain::LocalModelSpec& spec) -> Expected<chain::LanguageModelPtr> {
      chain::OpenAIOptions oo;
      oo.base_url = self.base_url;
      oo.api_key = self.api_key;
      oo.headers = self.headers;
      oo.use_completions_endpoint = true;
      oo.defaults = chain::LlmParams::from_json(spec.options.value("params", json::object()));
      return chain::LanguageModelPtr(std::make_shared<chain::OpenAIClient>(oo));
    };
    auto cfg = chain::load_chain_config_string(kChainsYaml, "gateway_chains.yaml", lo);
    ASSERT_TRUE(cfg.ok()) << cfg.error().message();
    gw_->set_chains(cfg->registry);
    pool_->start();
    auto port = gw_->start();
    ASSERT_TRUE(port.ok());
    port_ = *port;
  }
  void TearDown() override {
    if (gw_) gw_->shutdown();
    gw_.reset();
    if (pool_) pool_->stop();
  }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(20, 0);
    if (!api_key_.empty()) c->set_bearer_token_auth(api_key_);
    return c;
  }
  httplib::Result post(const std::string& path, const json& body) const {
    return client()->Post(path, body.dump(), "application/json");
  }

  std::shared_ptr<UpstreamPool> pool_;
  std::unique_ptr<GatewayServer> gw_;
  int port_ = 0;
  std::string api_key_;
};

int64_t calls(const std::vector<const Engine*>& engines) {
  int64_t n = 0;
  for (const auto* e : engines) n += e->fake->generate_calls();
  return n;
}

TEST_F(GatewayChainsTest, SelfEndpointIsLoopback) {
  Engine a("a");
  start({&a});
  GatewaySelf self = gw_->self_endpoint();
  EXPECT_EQ(self.base_url, "http://127.0.0.1:" + std::to_string(port_) + "/v1");
  ASSERT_EQ(self.headers.size(), 1u);
  EXPECT_EQ(self.headers[0].first, kGatewayInternalHeader);
  EXPECT_GE(self.headers[0].second.size(), 16u);
}

TEST_F(GatewayChainsTest, InvokeBatchAndStreamRunOnTheEngines) {
  Engine a("a"), b("b");
  start({&a, &b});
  auto list = client()->Get("/chains");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200) << list->body;
  EXPECT_EQ(json::parse(list->body)["data"].size(), 3u);

  auto r = post("/chains/echo/invoke", {{"input", {{"text", "hello gateway"}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["output"], "hello gateway");
  EXPECT_EQ(calls({&a, &b}), 1);

  auto batch = post("/chains/echo/batch", {{"inputs", {{{"text", "one"}}, {{"text", "two"}}, {{"text", "three"}}}}});
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->status, 200) << batch->body;
  auto out = json::parse(batch->body)["output"];
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2], "three");
  EXPECT_EQ(calls({&a, &b}), 4);
  EXPECT_GT(a.fake->generate_calls(), 0) << "least-outstanding selection uses both engines";
  EXPECT_GT(b.fake->generate_calls(), 0);

  std::string raw;
  httplib::Request req;
  req.method = "POST";
  req.path = "/chains/echo/stream";
  req.body = json{{"input", {{"text", "streamed words"}}}}.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    raw.append(d, n);
    return true;
  };
  auto s = client()->send(req);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 200);
  EXPECT_EQ(raw.rfind("event: metadata", 0), 0u) << raw;
  EXPECT_NE(raw.find("event: data"), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(raw.size() - 12), "event: end\n\n") << raw;
  std::string streamed;
  for (size_t p = raw.find("event: data\ndata: "); p != std::string::npos; p = raw.find("event: data\ndata: ", p + 1)) {
    size_t e = raw.find("\n\n", p);
    streamed += json::parse(raw.substr(p + 18, e - p - 18)).get<std::string>();
  }
  EXPECT_EQ(streamed, "streamed words");
  EXPECT_EQ(calls({&a, &b}), 5);

  // Sequential: the second step's prompt is built from the first step's engine output.
  auto seq = post("/chains/twice/invoke", {{"input", {{"text", "x"}}}});
  ASSERT_TRUE(seq);
  ASSERT_EQ(seq->status, 200) << seq->body;
  EXPECT_EQ(json::parse(seq->body)["output"]["second"], "again x");

  // Non-local models stay as declared.
  auto fake = post("/chains/scripted/invoke", {{"input", {{"text", "t"}}}});
  ASSERT_TRUE(fake);
  EXPECT_EQ(json::parse(fake->body)["output"], "from the fake model");
  EXPECT_EQ(calls({&a, &b}), 7);

  EXPECT_EQ(post("/chains/nope/invoke", {{"input", "x"}})->status, 404);
  EXPECT_EQ(client()->Get("/chains/echo/invoke")->status, 405);
  auto schema = client()->Get("/chains/echo/input_schema");
  ASSERT_TRUE(schema);
  EXPECT_EQ(schema->status, 200);
  EXPECT_TRUE(json::parse(schema->body)["properties"].contains("text")) << schema->body;
}

TEST_F(GatewayChainsTest, ApiKeyGuardsChainsAndTheirModelCallsCarryIt) {
  Engine a("a");
  ServerOptions so;
  so.api_key = "gw-key";
  start({&a}, so);
  httplib::Client anon("127.0.0.1", port_);
  EXPECT_EQ(anon.Get("/chains")->status, 401);
  EXPECT_EQ(anon.Post("/chains/echo/invoke", R"({"input":{"text":"x"}})", "application/json")->status, 401);
  auto r = post("/chains/echo/invoke", {{"input", {{"text", "with key"}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["output"], "with key");
}

TEST_F(GatewayChainsTest, ADeadEngineIsSkipped) {
  Engine a("a"), b("b");
  start({&a, &b});
  a.stop();
  for (int i = 0; i < 6; ++i) {
    auto r = post("/chains/echo/invoke", {{"input", {{"text", "still here " + std::to_string(i)}}}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["output"], "still here " + std::to_string(i));
  }
  EXPECT_EQ(b.fake->generate_calls(), 6);
}

TEST_F(GatewayChainsTest, ShutdownLetsARunningChainFinishItsModelCalls) {
  Engine a("a", /*token_delay_ms=*/15);
  start({&a});
  std::atomic<int> status{0};
  std::string body;
  std::thread chain([&] {
    auto r = post("/chains/twice/invoke", {{"input", {{"text", "abcdefghij"}}}});
    if (r) {
      body = r->body;
      status = r->status;
    }
  });
  // Shut down while the first step runs: the second step's call is still forwarded.
  for (int i = 0; i < 200 && a.fake->generate_calls() == 0; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(a.fake->generate_calls(), 1);
  std::thread stopper([&] { EXPECT_TRUE(gw_->shutdown()); });
  std::this_thread::sleep_for(50ms);
  auto refused = post("/chains/echo/invoke", {{"input", {{"text", "late"}}}});
  if (refused) {
    EXPECT_EQ(refused->status, 503) << "new chain calls are refused while draining";
  }
  auto v1 = client()->Post("/v1/completions", R"({"prompt":"echo: late"})", "application/json");
  if (v1) {
    EXPECT_EQ(v1->status, 503) << "and so are clients' model calls";
  }
  chain.join();
  stopper.join();
  EXPECT_EQ(status.load(), 200) << body;
  EXPECT_EQ(json::parse(body)["output"]["second"], "again abcdefghij");
  EXPECT_EQ(a.fake->generate_calls(), 2);
}

TEST_F(GatewayChainsTest, NonStreamingClientDisconnectCancelsTheEngineSequence) {
  Engine a("a", /*token_delay_ms=*/20);
  start({&a});
  for (const char* path : {"/v1/completions", "/chains/echo/invoke"}) {
    SCOPED_TRACE(path);
    const int64_t before = a.fake->cancelled_total();
    json body = std::string(path) == "/v1/completions" ? json{{"prompt", "echo: " + std::string(200, 'z')}}
                                                       : json{{"input", {{"text", std::string(200, 'z')}}}};
    {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(0, 300 * 1000);
      EXPECT_FALSE(c.Post(path, body.dump(), "application/json"));
    }
    for (int i = 0; i < 200 && a.fake->cancelled_total() == before; ++i) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(a.fake->cancelled_total(), before + 1);
    for (int i = 0; i < 200 && a.fake->running() > 0; ++i) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(a.fake->running(), 0);
  }
}

}  // namespace
}  // namespace llmchain::gateway::test
