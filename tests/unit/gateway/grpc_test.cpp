// The gateway over grpc:// upstreams (gateway/grpc_upstream.h): a GatewayServer whose pool holds
// engines served by RpcServer over FakeEngines on loopback ports, called over HTTP as a client
// would. Routing over both engines, health from grpc.health.v1, retries before the first token
// (an engine gone, draining, mid-way through a buffered answer), the stream error event once a
// stream has started, the engine's error messages intact, cancellation reaching the engine.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "gateway/grpc_upstream.h"
#include "gateway/server.h"
#include "rpc/engine_service.h"
#include "support/fake_engine.h"

namespace llmchain::gateway::test {
namespace {

using namespace std::chrono_literals;
using namespace llmchain::rpc;
using namespace llmchain::server;
using fakes::FakeEngine;
using fakes::FakeEngineOptions;
using nlohmann::json;

// One engine: a FakeEngine behind the gRPC service on its own port.
struct Engine {
  explicit Engine(RpcServerOptions o = {}, FakeEngineOptions f = {}) : fake(f), options(o) { start(); }
  void start() {
    server = std::make_unique<RpcServer>(fake, options);
    auto p = server->start();
    ASSERT_TRUE(p.ok()) << p.error().what();
    port = *p;
    options.port = port;  // a restart takes the same port
  }
  void stop() { server.reset(); }  // gone: its port refuses connections
  std::string url() const { return "grpc://127.0.0.1:" + std::to_string(port); }

  FakeEngine fake;
  RpcServerOptions options;
  std::unique_ptr<RpcServer> server;
  int port = 0;
};

std::vector<std::string> sse_events(const std::string& raw) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t end; (end = raw.find("\n\n", pos)) != std::string::npos; pos = end + 2) {
    std::string block = raw.substr(pos, end - pos);
    if (block.rfind("data: ", 0) == 0) out.push_back(block.substr(6));
  }
  return out;
}

class GatewayGrpcTest : public ::testing::Test {
 protected:
  void start_gateway(const std::vector<Engine*>& engines, server::ServerOptions so = {}, UpstreamEngineOptions eo = {},
                     const std::vector<std::string>& urls = {}) {
    gateway::UpstreamPoolOptions po;
    po.health_interval_s = 0.2;
    for (auto* e : engines) po.upstreams.push_back(e->url());
    if (!urls.empty()) po.upstreams = urls;
    gateway::GatewayOptions go;
    auto used = use_grpc_upstreams(po, go, eo);
    ASSERT_TRUE(used.ok()) << used.error().what();
    auto pool = gateway::UpstreamPool::create(po);
    ASSERT_TRUE(pool.ok()) << pool.error().what();
    pool_ = *pool;
    so.host = "127.0.0.1";
    so.port = 0;
    so.shutdown_grace_s = 2;
    gw_ = std::make_unique<gateway::GatewayServer>(pool_, so, go);
    auto port = gw_->start();
    ASSERT_TRUE(port.ok()) << port.error().what();
    port_ = *port;
    pool_->start();
  }
  void TearDown() override {
    if (gw_) gw_->shutdown();
    gw_.reset();
    if (pool_) pool_->stop();
  }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(20, 0);
    return c;
  }
  static json chat_body(const std::string& content, const json& extra = json::object()) {
    json body = {{"messages", {{{"role", "user"}, {"content", content}}}}};
    body.update(extra);
    return body;
  }
  httplib::Result chat(const std::string& content, const json& extra = json::object()) const {
    return client()->Post("/v1/chat/completions", chat_body(content, extra).dump(), "application/json");
  }
  // A streamed chat completion's raw body (stop_after_bytes > 0: the client hangs up then).
  std::string stream(const std::string& content, const json& extra = json::object(),
                     size_t stop_after_bytes = 0) const {
    json body = chat_body(content, extra);
    body["stream"] = true;
    std::string raw;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      raw.append(d, n);
      return stop_after_bytes == 0 || raw.size() < stop_after_bytes;
    };
    client()->send(req);
    return raw;
  }
  gateway::UpstreamStatus status_of(const Engine& e) const {
    for (const auto& s : pool_->status()) {
      if (s.url == e.url()) return s;
    }
    ADD_FAILURE() << "no status for " << e.url();
    return {};
  }
  template <typename Pred>
  static bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return pred();
  }
  static std::string content_of(const httplib::Result& r) {
    return json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>();
  }

  std::shared_ptr<gateway::UpstreamPool> pool_;
  std::unique_ptr<gateway::GatewayServer> gw_;
  int port_ = 0;
};

TEST_F(GatewayGrpcTest, ChatCompletionsAreSpreadOverTheEngines) {
  Engine a, b;
  start_gateway({&a, &b});
  ASSERT_EQ(pool_->healthy_count(), 2u);
  for (int i = 0; i < 6; ++i) {
    auto r = chat("echo: hello " + std::to_string(i));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(content_of(r), "hello " + std::to_string(i));
    auto j = json::parse(r->body);
    EXPECT_EQ(j["model"], "fake-model");
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
    EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
    EXPECT_GE(j["usage"]["completion_tokens"].get<int>(), static_cast<int>(("hello " + std::to_string(i)).size()));
  }
  EXPECT_GT(a.fake.generate_calls(), 0);
  EXPECT_GT(b.fake.generate_calls(), 0);
  auto models = client()->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "fake-model");
}

TEST_F(GatewayGrpcTest, CompletionsLogprobsTokenizeAndEmbeddings) {
  Engine a;
  start_gateway({&a});
  auto c = client()->Post("/v1/completions", json{{"prompt", "echo: abc"}, {"logprobs", 2}, {"echo", true}}.dump(),
                          "application/json");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->status, 200) << c->body;
  auto j = json::parse(c->body);
  EXPECT_EQ(j["choices"][0]["text"], "echo: abcabc");
  EXPECT_FALSE(j["choices"][0]["logprobs"]["tokens"].empty());

  auto t = client()->Post("/tokenize", json{{"content", "hi"}, {"with_pieces", true}}.dump(), "application/json");
  ASSERT_TRUE(t);
  ASSERT_EQ(t->status, 200) << t->body;
  auto tj = json::parse(t->body);
  ASSERT_EQ(tj["tokens"].size(), 2u);
  EXPECT_EQ(tj["tokens"][0]["piece"], "h");

  auto d = client()->Post("/detokenize", json{{"tokens", {3 + 'o', 3 + 'k'}}}.dump(), "application/json");
  ASSERT_TRUE(d);
  EXPECT_EQ(json::parse(d->body)["content"], "ok");

  auto e = client()->Post("/v1/embeddings", json{{"input", {"one", "two"}}}.dump(), "application/json");
  ASSERT_TRUE(e);
  ASSERT_EQ(e->status, 200) << e->body;
  auto ej = json::parse(e->body);
  ASSERT_EQ(ej["data"].size(), 2u);
  EXPECT_EQ(ej["data"][0]["embedding"].size(), 16u);
}

// /v1/rerank through the gateway: the engines' pooling, SEP and flags cross in Info, the pairs are
// built at the gateway and scored by the engines.
TEST_F(GatewayGrpcTest, RerankIsServedOverTheEngines) {
  FakeEngineOptions f;
  f.reranker = true;
  Engine a({}, f), b({}, f);
  start_gateway({&a, &b});
  auto r = client()->Post("/v1/rerank", json{{"query", "qq"}, {"documents", {"aaaa", "a", "aa"}}, {"top_n", 2}}.dump(),
                          "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["index"], 1);
  EXPECT_EQ(j["results"][1]["index"], 2);
  // [BOS] q q [SEP] a: five tokens.
  EXPECT_EQ(j["results"][0]["relevance_score"], -5.0);
}

TEST_F(GatewayGrpcTest, RerankOnAnEmbeddingModelIsA400) {
  Engine a;
  start_gateway({&a});
  auto r = client()->Post("/v1/rerank", json{{"query", "q"}, {"documents", {"a"}}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "model");
}

TEST_F(GatewayGrpcTest, StreamedChatEndsWithDone) {
  Engine a;
  start_gateway({&a});
  auto events = sse_events(stream("echo: streamed words"));
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto j = json::parse(events[i]);
    ASSERT_FALSE(j.contains("error")) << events[i];
    const auto& delta = j["choices"][0]["delta"];
    if (delta.contains("content") && delta["content"].is_string()) text += delta["content"].get<std::string>();
  }
  EXPECT_EQ(text, "streamed words");
}

TEST_F(GatewayGrpcTest, AnEngineGoneIsRetriedOnAnotherAndMarkedUnhealthy) {
  Engine a, b;
  start_gateway({&a, &b});
  a.stop();
  for (int i = 0; i < 4; ++i) {
    auto r = chat("echo: still here");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(content_of(r), "still here");
  }
  EXPECT_TRUE(eventually([&] { return !status_of(a).healthy; }));
  EXPECT_TRUE(status_of(b).healthy);

  a.start();  // back on its port: health brings it back into rotation
  EXPECT_TRUE(eventually([&] { return status_of(a).healthy; }));
  const int64_t before = a.fake.generate_calls();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(chat("echo: x")->status, 200);
  EXPECT_GT(a.fake.generate_calls(), before);
}

TEST_F(GatewayGrpcTest, ADrainingEngineIsNotChosen) {
  Engine a, b;
  start_gateway({&a, &b});
  a.fake.set_ready(false);
  a.server->set_serving(false);
  EXPECT_TRUE(eventually([&] { return !status_of(a).healthy; }));
  const int64_t before = a.fake.generate_calls();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(chat("echo: y")->status, 200);
  EXPECT_EQ(a.fake.generate_calls(), before);
}

TEST_F(GatewayGrpcTest, NoEngineIsA503NamingWhy) {
  Engine a;
  start_gateway({&a});
  a.stop();
  auto r = chat("echo: z");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  auto err = json::parse(r->body)["error"];
  EXPECT_NE(err["message"].get<std::string>().find("127.0.0.1:" + std::to_string(a.port)), std::string::npos)
      << err.dump();
  EXPECT_TRUE(eventually([&] { return client()->Get("/health/ready")->status == 503; }));
}

TEST_F(GatewayGrpcTest, TheEnginesErrorMessageComesBackIntact) {
  Engine a;
  server::ServerOptions so;
  so.chat_template = "no-such-template";
  start_gateway({&a}, so);
  auto r = chat("echo: hi");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("unknown chat template 'no-such-template'"), std::string::npos) << r->body;
  EXPECT_TRUE(status_of(a).healthy);  // the request's fault, not the engine's
}

TEST_F(GatewayGrpcTest, ABufferedAnswerBrokenMidwayIsRetried) {
  Engine a, b;
  b.fake.set_ready(false);
  b.server->set_serving(false);
  start_gateway({&a, &b});
  ASSERT_TRUE(eventually([&] { return !status_of(b).healthy; }));
  a.fake.set_token_delay_ms(20);
  int status = 0;
  std::string body;
  std::thread t([&] {
    if (auto r = chat("echo: a buffered answer that takes a while")) {
      status = r->status;
      body = r->body;
    }
  });
  ASSERT_TRUE(eventually([&] { return a.fake.running() > 0; }));
  std::this_thread::sleep_for(100ms);  // some tokens made on a
  b.fake.set_ready(true);
  b.server->set_serving(true);
  ASSERT_TRUE(eventually([&] { return status_of(b).healthy; }));
  a.stop();  // mid-way through the answer
  t.join();
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(json::parse(body)["choices"][0]["message"]["content"], "a buffered answer that takes a while");
  EXPECT_GT(b.fake.generate_calls(), 0);
}

TEST_F(GatewayGrpcTest, AStreamBrokenAfterItStartedEndsWithTheErrorEvent) {
  Engine a;
  start_gateway({&a});
  a.fake.set_token_delay_ms(20);
  std::string raw;
  std::thread t([&] { raw = stream("echo: a stream that will be cut off before its end"); });
  ASSERT_TRUE(eventually([&] { return a.fake.running() > 0; }));
  std::this_thread::sleep_for(150ms);
  a.stop();
  t.join();
  auto events = sse_events(raw);
  ASSERT_GE(events.size(), 3u) << raw;
  EXPECT_EQ(events.back(), "[DONE]");
  auto err = json::parse(events[events.size() - 2]);
  ASSERT_TRUE(err.contains("error")) << raw;
  EXPECT_EQ(err["error"]["code"], "upstream_stream_broken");
  auto metrics = client()->Get("/metrics");
  EXPECT_NE(metrics->body.find("llmchain_gateway_stream_errors_total 1"), std::string::npos);
}

TEST_F(GatewayGrpcTest, AClientGoneCancelsTheEnginesSequence) {
  Engine a;
  start_gateway({&a});
  a.fake.set_token_delay_ms(20);
  const int64_t before = a.fake.cancelled_total();
  stream("echo: a long answer nobody will read to its end", json::object(), 200);
  EXPECT_TRUE(eventually([&] { return a.fake.cancelled_total() > before && a.fake.running() == 0; }));
}

TEST_F(GatewayGrpcTest, TheUpstreamApiKeyIsSentToTheEngines) {
  RpcServerOptions ro;
  ro.api_key = "engine-secret";
  Engine a(ro);
  UpstreamEngineOptions eo;
  eo.api_key = "engine-secret";
  start_gateway({&a}, {}, eo);
  auto r = chat("echo: with a key");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(GatewayGrpcTest, ConcurrentStreamsAllComplete) {
  Engine a, b;
  start_gateway({&a, &b});
  a.fake.set_token_delay_ms(2);
  b.fake.set_token_delay_ms(2);
  std::vector<std::thread> threads;
  std::vector<std::string> raws(24);
  for (size_t i = 0; i < raws.size(); ++i) {
    threads.emplace_back([&, i] { raws[i] = stream("echo: number " + std::to_string(i)); });
  }
  for (auto& t : threads) t.join();
  for (const auto& raw : raws) {
    auto events = sse_events(raw);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]") << raw;
  }
}

TEST_F(GatewayGrpcTest, ANameIsResolvedToOneChannelPerAddress) {
  Engine a;
  start_gateway({}, {}, {}, {"grpc://localhost:" + std::to_string(a.port)});
  auto st = pool_->status();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].url, a.url());  // grpc://127.0.0.1:PORT, from the name
  EXPECT_EQ(st[0].source, "grpc://localhost:" + std::to_string(a.port));
  EXPECT_TRUE(st[0].healthy);
  auto r = chat("echo: by name");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST(UseGrpcUpstreams, RefusesMixedSchemes) {
  gateway::UpstreamPoolOptions po;
  po.upstreams = {"grpc://127.0.0.1:9000", "http://127.0.0.1:8080"};
  gateway::GatewayOptions go;
  auto r = use_grpc_upstreams(po, go, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.error().what()).find("cannot be mixed"), std::string::npos);
  EXPECT_FALSE(gateway::parse_upstream_url("grpc://engine").ok());  // a gRPC port has no default
  auto u = gateway::parse_upstream_url("grpc://[::1]:9090");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->authority(), "[::1]:9090");
}

}  // namespace
}  // namespace llmchain::gateway::test
