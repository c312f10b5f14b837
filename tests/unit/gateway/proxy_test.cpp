// The gateway role: UpstreamPool selection, health and circuit breaking, and
// the proxy's retry / streaming rules, against fake engines on loopback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gateway/pool.h"
#include "gateway/server.h"

namespace llmchain::gateway::test {
namespace {

using namespace llmchain::server;  // the options, HTTP types and engine-role servers the gateway runs with
using nlohmann::json;
using namespace std::chrono_literals;

// A scripted engine: /health/ready, /v1/models and /v1/chat/completions (JSON
// or SSE). Knobs are atomics so tests can flip them while it serves.
class FakeUpstream {
 public:
  explicit FakeUpstream(std::string name) : name_(std::move(name)) {
    svr_.Get("/health/ready", [this](const httplib::Request&, httplib::Response& res) {
      ++health_checks;
      res.status = ready.load() ? 200 : 503;
      res.set_content(ready.load() ? R"({"status":"ok"})" : R"({"status":"unavailable"})", "application/json");
    });
    svr_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(json{{"object", "list"}, {"data", {{{"id", name_}}}}}.dump(), "application/json");
    });
    svr_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { chat(req, res); });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~FakeUpstream() { stop(); }
  void stop() {
    svr_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& name() const { return name_; }

  std::atomic<bool> ready{true};
  std::atomic<int> fail_status{0};    // non-zero: /v1 answers this status
  std::atomic<int> delay_ms{0};       // before answering (non-stream) or between events
  std::atomic<int> events{3};         // SSE events before [DONE]
  std::atomic<int> break_after{-1};   // >= 0: the SSE stream is cut after this many events
  std::atomic<bool> truncate{false};  // non-stream answers are 200 with JSON cut off
  std::atomic<int> requests{0}, inflight{0}, max_inflight{0}, health_checks{0}, client_gone{0};
  std::string last_authorization;
  std::string last_request_id;

 private:
  void chat(const httplib::Request& req, httplib::Response& res) {
    ++requests;
    last_authorization = req.get_header_value("Authorization");
    last_request_id = req.get_header_value("X-Request-Id");
    if (int s = fail_status.load(); s != 0) {
      res.status = s;
      res.set_content(json{{"error", {{"message", name_ + " failing"}, {"code", "fake"}}}}.dump(), "application/json");
      return;
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_object() && body.value("stream", false)) {
      res.set_chunked_content_provider("text/event-stream", [this](size_t, httplib::DataSink& sink) {
        for (int i = 0; i < events.load(); ++i) {
          if (break_after.load() >= 0 && i == break_after.load()) return false;  // connection cut
          if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
          std::string ev = "data: " + json{{"upstream", name_}, {"i", i}}.dump() + "\n\n";
          if (!sink.write(ev.data(), ev.size())) {
            ++client_gone;
            return false;
          }
        }
        std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      });
      return;
    }
    int now = ++inflight;
    int prev = max_inflight.load();
    while (now > prev && !max_inflight.compare_exchange_weak(prev, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    --inflight;
    std::string answer = json{{"served_by", name_}}.dump();
    if (truncate.load()) answer.resize(answer.size() / 2);
    res.set_content(answer, "application/json");
  }

  std::string name_;
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
};

std::vector<std::string> sse_events(const std::string& raw) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t end = raw.find("\n\n", pos);
    if (end == std::string::npos) break;
    std::string block = raw.substr(pos, end - pos);
    pos = end + 2;
    if (block.rfind("data: ", 0) == 0) out.push_back(block.substr(6));
  }
  return out;
}

class GatewayTest : public ::testing::Test {
 protected:
  void make_pool(const std::vector<const FakeUpstream*>& ups, UpstreamPoolOptions o = {}) {
    for (const auto* u : ups) o.upstreams.push_back(u->url());
    auto p = UpstreamPool::create(o);
    ASSERT_TRUE(p.ok()) << p.error().message();
    pool_ = *p;
    pool_->start();
  }
  void start_gateway(ServerOptions so = {}, GatewayOptions go = {}) {
    so.host = "127.0.0.1";
    so.port = 0;
    so.shutdown_grace_s = 2;
    gw_ = std::make_unique<GatewayServer>(pool_, so, go);
    auto port = gw_->start();
    ASSERT_TRUE(port.ok()) << port.error().message();
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
    return c;
  }
  httplib::Result chat(const json& extra = json::object()) const {
    json body = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    body.update(extra);
    return client()->Post("/v1/chat/completions", body.dump(), "application/json");
  }
  std::string stream(const json& extra = json::object()) const {
    json body = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", true}};
    body.update(extra);
    std::string raw;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      raw.append(d, n);
      return true;
    };
    auto res = client()->send(req);
    EXPECT_TRUE(res) << "transport error: " << (res ? "" : httplib::to_string(res.error()));
    if (res) {
      EXPECT_EQ(res->status, 200);
    }
    return raw;
  }
  UpstreamStatus status_of(const FakeUpstream& u) const {
    for (const auto& s : pool_->status()) {
      if (s.url == u.url()) return s;
    }
    ADD_FAILURE() << "no status for " << u.url();
    return {};
  }
  template <typename Pred>
  bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) const {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return pred();
  }

  std::shared_ptr<UpstreamPool> pool_;
  std::unique_ptr<GatewayServer> gw_;
  int port_ = 0;
};

TEST(UpstreamUrlTest, Parses) {
  auto u = parse_upstream_url("http://engine:8080/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "engine");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->str(), "http://engine:8080");
  auto v6 = parse_upstream_url("http://[::1]:9000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->str(), "http://[::1]:9000");
  EXPECT_EQ(parse_upstream_url("https://x")->port, 443);
  EXPECT_FALSE(parse_upstream_url("ftp://x:1").ok());
  EXPECT_FALSE(parse_upstream_url("http://x:0").ok());
  EXPECT_FALSE(parse_upstream_url("http://x:8080/v1").ok());
  EXPECT_FALSE(parse_upstream_url("http://:80").ok());
  EXPECT_FALSE(UpstreamPool::create({}).ok());
}

TEST_F(GatewayTest, ResolvesNamesToAddresses) {
  FakeUpstream a("a");
  UpstreamPoolOptions o;
  o.upstreams = {"http://localhost:" + a.url().substr(a.url().rfind(':') + 1)};
  auto p = UpstreamPool::create(o);
  ASSERT_TRUE(p.ok());
  pool_ = *p;
  pool_->start();
  auto st = pool_->status();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].url, a.url());
  EXPECT_EQ(st[0].source, o.upstreams[0]);
  EXPECT_TRUE(st[0].healthy);
}

TEST_F(GatewayTest, LeastOutstandingSelection) {
  FakeUpstream a("a"), b("b"), c("c");
  make_pool({&a, &b, &c});
  auto l1 = pool_->acquire();
  auto l2 = pool_->acquire();
  auto l3 = pool_->acquire();
  ASSERT_TRUE(l1.ok() && l2.ok() && l3.ok());
  std::set<std::string> first{l1->url(), l2->url(), l3->url()};
  EXPECT_EQ(first.size(), 3u) << "equal load must spread over every engine";
  // Loads now 1/1/1; add one more to l1's and l2's engines: the next goes to l3's.
  std::string idle = l3->url();
  {
    auto extra1 = pool_->acquire({idle});
    auto extra2 = pool_->acquire({idle});
    ASSERT_TRUE(extra1.ok() && extra2.ok());
    EXPECT_NE(extra1->url(), extra2->url());
    auto next = pool_->acquire();
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next->url(), idle);
    for (const auto& s : pool_->status()) EXPECT_EQ(s.outstanding, 2) << s.url;
  }
  for (const auto& s : pool_->status()) EXPECT_EQ(s.outstanding, 1) << "leases give their slot back";
}

TEST_F(GatewayTest, ConcurrentRequestsSpreadEvenly) {
  FakeUpstream a("a"), b("b");
  a.delay_ms = b.delay_ms = 400;
  make_pool({&a, &b});
  start_gateway();
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    ts.emplace_back([&] {
      auto r = chat();
      if (r && r->status == 200) ++ok;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(a.requests.load(), 3);
  EXPECT_EQ(b.requests.load(), 3);
  EXPECT_LE(a.max_inflight.load(), 3);
}

TEST_F(GatewayTest, RetriesOnAnotherEngineBeforeFirstByte) {
  FakeUpstream a("a"), b("b");
  UpstreamPoolOptions o;
  o.health_interval_s = 60;  // the pool believes `a` healthy after it dies
  make_pool({&a, &b}, o);
  start_gateway();
  ASSERT_TRUE(status_of(a).healthy);
  a.stop();
  for (int i = 0; i < 4; ++i) {
    auto r = chat();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["served_by"], "b");
  }
  auto st = status_of(a);
  EXPECT_FALSE(st.healthy) << "a refused connection: marked unhealthy without waiting for a probe";
  EXPECT_GE(st.failures_total, 1);
  EXPECT_EQ(b.requests.load(), 4);
  auto m = client()->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("llmchain_gateway_retries_total 1"), std::string::npos) << m->body;
}

TEST_F(GatewayTest, Retries503ButPassesThroughClientErrors) {
  FakeUpstream a("a"), b("b");
  make_pool({&a, &b});
  start_gateway();
  a.fail_status = 503;
  for (int i = 0; i < 4; ++i) {
    auto r = chat();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  EXPECT_EQ(b.requests.load(), 4);
  b.fail_status = 400;  // the engine judged the request: no retry, answer passed through
  a.fail_status = 0;
  int a_before = a.requests.load(), b_before = b.requests.load();
  auto r = chat();
  ASSERT_TRUE(r);
  if (r->status == 400) {
    EXPECT_EQ(json::parse(r->body)["error"]["message"], "b failing");
    EXPECT_EQ(a.requests.load() + b.requests.load(), a_before + b_before + 1);
  } else {
    EXPECT_EQ(r->status, 200);  // it went to `a`
  }
}

TEST_F(GatewayTest, BreakerOpensHalfOpensAndCloses) {
  FakeUpstream a("a");
  UpstreamPoolOptions o;
  o.breaker_failures = 3;
  o.breaker_open_s = 0.5;
  make_pool({&a}, o);
  start_gateway();
  a.fail_status = 500;
  for (int i = 0; i < 3; ++i) {
    auto r = chat();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500) << "a 500 is the engine's answer: passed through, not retried";
  }
  EXPECT_EQ(status_of(a).breaker, BreakerState::kOpen);
  EXPECT_EQ(status_of(a).consecutive_failures, 3);
  auto r = chat();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "upstream_unavailable");
  EXPECT_EQ(a.requests.load(), 3) << "an open breaker sends nothing";

  // Half-open: one trial; its failure opens the breaker again.
  ASSERT_TRUE(eventually([&] { return status_of(a).breaker == BreakerState::kHalfOpen; }));
  r = chat();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(a.requests.load(), 4);
  EXPECT_EQ(status_of(a).breaker, BreakerState::kOpen);

  // Half-open again; the trial succeeds and closes it.
  a.fail_status = 0;
  ASSERT_TRUE(eventually([&] { return status_of(a).breaker == BreakerState::kHalfOpen; }));
  r = chat();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto st = status_of(a);
  EXPECT_EQ(st.breaker, BreakerState::kClosed);
  EXPECT_EQ(st.consecutive_failures, 0);

  auto up = client()->Get("/gateway/upstreams");
  ASSERT_TRUE(up);
  auto j = json::parse(up->body);
  ASSERT_EQ(j["upstreams"].size(), 1u);
  EXPECT_EQ(j["upstreams"][0]["url"], a.url());
  EXPECT_EQ(j["upstreams"][0]["breaker"], "closed");
  EXPECT_EQ(j["upstreams"][0]["healthy"], true);
  EXPECT_EQ(j["upstreams"][0]["outstanding"], 0);
  EXPECT_EQ(j["upstreams"][0]["failures_total"], 4);
}

TEST_F(GatewayTest, HalfOpenAdmitsOneTrialAtATime) {
  FakeUpstream a("a");
  UpstreamPoolOptions o;
  o.breaker_failures = 1;
  o.breaker_open_s = 0.2;
  make_pool({&a}, o);
  {
    auto l = pool_->acquire();
    ASSERT_TRUE(l.ok());
    l->failure(UpstreamFailure::kError, "boom");
  }
  EXPECT_FALSE(pool_->acquire().ok());
  std::this_thread::sleep_for(300ms);
  auto trial = pool_->acquire();
  ASSERT_TRUE(trial.ok());
  EXPECT_FALSE(pool_->acquire().ok()) << "a second request must wait for the trial's verdict";
  trial->success();
  EXPECT_TRUE(pool_->acquire().ok());
}

TEST_F(GatewayTest, StreamsPassThrough) {
  FakeUpstream a("a");
  a.events = 5;
  make_pool({&a});
  start_gateway();
  auto ev = sse_events(stream());
  ASSERT_EQ(ev.size(), 6u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(json::parse(ev[i])["i"], i);
  EXPECT_EQ(ev.back(), "[DONE]");
  EXPECT_EQ(status_of(a).consecutive_failures, 0);
}

TEST_F(GatewayTest, CorsPreflightAndAllowOrigin) {
  FakeUpstream a("a");
  make_pool({&a});
  start_gateway();
  auto pre = client()->Options("/v1/chat/completions", {{"Access-Control-Request-Headers", "authorization"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Headers"), "authorization");
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(a.requests.load(), 0) << "a preflight never reaches an engine";
  auto m = client()->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_header_value("Access-Control-Allow-Origin"), "*");
}

TEST_F(GatewayTest, NoRetryMidStreamClientGetsErrorEvent) {
  FakeUpstream a("a"), b("b");
  a.events = b.events = 6;
  a.break_after = b.break_after = 2;
  make_pool({&a, &b});
  start_gateway();
  auto ev = sse_events(stream());
  ASSERT_EQ(ev.size(), 4u) << "two events, the error event, [DONE]";
  EXPECT_EQ(json::parse(ev[0])["i"], 0);
  EXPECT_EQ(json::parse(ev[1])["i"], 1);
  auto err = json::parse(ev[2]);
  ASSERT_TRUE(err.contains("error")) << ev[2];
  EXPECT_EQ(err["error"]["code"], "upstream_stream_broken");
  EXPECT_EQ(ev[3], "[DONE]");
  EXPECT_EQ(a.requests.load() + b.requests.load(), 1) << "a started stream is never retried";
  auto m = client()->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("llmchain_gateway_stream_errors_total 1"), std::string::npos);
}

TEST_F(GatewayTest, ClientDisconnectClosesTheEngineStream) {
  FakeUpstream a("a");
  a.events = 200;
  a.delay_ms = 20;
  make_pool({&a});
  start_gateway();
  std::string raw;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = json{{"stream", true}, {"messages", json::array()}}.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    raw.append(d, n);
    return sse_events(raw).size() < 3;
  };
  client()->send(req);
  EXPECT_TRUE(eventually([&] { return a.client_gone.load() == 1; }));
  EXPECT_TRUE(eventually([&] { return status_of(a).outstanding == 0; }));
  EXPECT_EQ(status_of(a).consecutive_failures, 0) << "a client leaving is not the engine's fault";
}

// A client that gives up while the engine is still working on a buffered (non-streamed) answer
// releases its engine at once: the gateway closes the engine call (which cancels the engine's
// sequence) instead of holding it until the answer comes.
TEST_F(GatewayTest, ClientLeavingABufferedAnswerReleasesTheEngine) {
  FakeUpstream a("a");
  a.delay_ms = 2500;
  make_pool({&a});
  start_gateway();
  auto cli = client();
  cli->set_read_timeout(0, 300000);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = cli->Post("/v1/chat/completions", json{{"messages", json::array()}}.dump(), "application/json");
  EXPECT_FALSE(r) << "the engine answered within the client's patience";
  ASSERT_TRUE(eventually([&] { return a.inflight.load() == 1; }));
  EXPECT_TRUE(eventually([&] { return status_of(a).outstanding == 0; }));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.5)
      << "the engine was held until it answered";
  EXPECT_EQ(status_of(a).consecutive_failures, 0) << "a client leaving is not the engine's fault";
}

TEST_F(GatewayTest, HealthFlipsAndGatewayReadiness) {
  FakeUpstream a("a"), b("b");
  UpstreamPoolOptions o;
  o.health_interval_s = 0.1;
  make_pool({&a, &b}, o);
  start_gateway();
  auto ready = [&] {
    auto r = client()->Get("/health/ready");
    return r ? r->status : -1;
  };
  EXPECT_EQ(ready(), 200);
  a.ready = false;
  ASSERT_TRUE(eventually([&] { return !status_of(a).healthy; }));
  EXPECT_EQ(ready(), 200) << "one healthy engine is enough";
  for (int i = 0; i < 3; ++i) {
    auto r = chat();
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body)["served_by"], "b") << "unhealthy engines get no requests";
  }
  b.ready = false;
  ASSERT_TRUE(eventually([&] { return ready() == 503; }));
  auto r = chat();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_FALSE(r->get_header_value("Retry-After").empty());
  a.ready = true;
  ASSERT_TRUE(eventually([&] { return status_of(a).healthy; }));
  EXPECT_EQ(ready(), 200);
  auto live = client()->Get("/health/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
}

TEST_F(GatewayTest, AuthAndForwardedHeaders) {
  FakeUpstream a("a");
  make_pool({&a});
  ServerOptions so;
  so.api_key = "secret";
  GatewayOptions go;
  go.upstream_api_key = "engine-key";
  start_gateway(so, go);
  auto r = chat();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(client()->Get("/gateway/upstreams")->status, 401);
  EXPECT_EQ(client()->Get("/health/ready")->status, 200) << "probes need no key";
  auto c = client();
  c->set_bearer_token_auth("secret");
  httplib::Headers h{{"X-Request-Id", "req-abc"}};
  auto ok = c->Post("/v1/chat/completions", h, json{{"messages", json::array()}}.dump(), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->get_header_value("X-Request-Id"), "req-abc");
  EXPECT_EQ(a.last_authorization, "Bearer engine-key");
  EXPECT_EQ(a.last_request_id, "req-abc");
  auto models = c->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "a");
  EXPECT_EQ(c->Get("/nope")->status, 404);
  EXPECT_EQ(c->Get("/v1/chat/completions")->status, 405);
}

TEST_F(GatewayTest, RegisterRoutesOnAnotherServer) {
  FakeUpstream a("a");
  make_pool({&a});
  httplib::Server svr;
  register_gateway_routes(svr, pool_);
  int port = svr.bind_to_any_port("127.0.0.1");
  std::thread t([&] { svr.listen_after_bind(); });
  while (!svr.is_running()) std::this_thread::sleep_for(1ms);
  httplib::Client c("127.0.0.1", port);
  auto r = c.Post("/v1/chat/completions", json{{"messages", json::array()}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["served_by"], "a");
  svr.stop();
  t.join();
}

TEST_F(GatewayTest, ExtraRoutesServeWhatTheGatewayDoesNot) {
  FakeUpstream a("a");
  make_pool({&a});
  GatewayOptions go;
  go.extra_routes = [](const HttpRequest& req, std::string& route) -> std::optional<HttpResponse> {
    if (req.path != "/chains") return std::nullopt;
    route = "/chains";
    HttpResponse res;
    res.body = R"({"object":"list","data":[]})";
    return res;
  };
  ServerOptions so;
  so.api_key = "k";
  start_gateway(so, go);
  auto c = client();
  EXPECT_EQ(c->Get("/chains")->status, 401);
  c->set_bearer_token_auth("k");
  auto r = c->Get("/chains");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["object"], "list");
  EXPECT_EQ(c->Get("/elsewhere")->status, 404);
}

TEST_F(GatewayTest, RegisterRoutesStopsCleanly) {
  FakeUpstream a("a");
  make_pool({&a});
  httplib::Server svr;
  register_gateway_routes(svr, pool_);
  int port = svr.bind_to_any_port("127.0.0.1");
  std::thread t([&] { svr.listen_after_bind(); });
  while (!svr.is_running()) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(httplib::Client("127.0.0.1", port).Get("/health/live")->status, 200);
  svr.stop();
  t.join();
}

}  // namespace
}  // namespace llmchain::gateway::test

namespace llmchain::gateway::test {
namespace {

// An engine that answers 200 with a cut-off JSON body is a bad gateway (502), not a success.
TEST_F(GatewayTest, TruncatedJsonFromEnginesIs502) {
  FakeUpstream a("a"), b("b");
  a.truncate = true;
  b.truncate = true;
  make_pool({&a, &b});
  start_gateway();
  auto r = chat();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502) << r->body;
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "upstream_bad_response");
  b.truncate = false;  // another engine's good answer is used
  auto ok = chat();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

// A hung engine is a timeout (504) once --request-timeout has passed, not "unavailable".
TEST_F(GatewayTest, HungEngineIs504) {
  FakeUpstream a("a");
  a.delay_ms = 7000;
  make_pool({&a});
  ServerOptions so;
  so.request_timeout_s = 0.5;
  start_gateway(so);
  auto r = chat();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->body;
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "timeout_error");
}

}  // namespace
}  // namespace llmchain::gateway::test
