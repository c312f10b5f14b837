// Client mistakes, by class: each is a 4xx naming what is wrong (never a 500, never library
// exception text), and the server still answers afterwards.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "chain/yaml_loader.h"
#include "server_fixture.h"

namespace llmchain::server::test {
namespace {

class RobustnessTest : public ServerFixture {
 protected:
  void SetUp() override {
    auto cfg = chain::load_chain_config_string(
        "models:\n  fake: {type: fake, responses: [ok]}\nchains:\n  echo: {model: fake, prompt: 'Say {x}.'}\n"
        "  strict:\n    model: fake\n    prompt: 'Say {x}.'\n    guards: {output: [{type: deny_list, terms: [ok], "
        "action: "
        "block}]}\n"
        "  picky:\n    model: fake\n    prompt: 'Say {x}.'\n    guards: {input: [{type: deny_list, terms: [forbidden], "
        "action: block}]}\n",
        "robustness.yaml");
    ASSERT_TRUE(cfg.ok()) << cfg.error().message();
    config_ = std::move(*cfg);
    ServerOptions o;
    o.chains = config_.registry;
    start(o);
  }

  // status, and the error's code; fails the test on library text in the message.
  std::pair<int, std::string> send(const std::string& path, const std::string& body,
                                   const std::string& content_type = "application/json") const {
    auto r = client()->Post(path, body, content_type);
    if (!r) return {0, "no response"};
    auto j = json::parse(r->body, nullptr, false);
    std::string code = j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
    std::string message = j.is_object() && j.contains("error") ? j["error"].value("message", "") : "";
    EXPECT_EQ(message.find("json.exception"), std::string::npos) << message;
    EXPECT_EQ(message.find("internal error:"), std::string::npos) << message;
    return {r->status, code};
  }

  chain::ChainConfig config_;
};

TEST_F(RobustnessTest, DeepNestingIs400Everywhere) {
  for (size_t depth : {129u, 5000u, 200000u}) {
    std::string deep = std::string(depth, '[') + std::string(depth, ']');
    EXPECT_EQ(send("/chains/echo/invoke", "{\"input\": {\"x\": " + deep + "}}"),
              (std::pair<int, std::string>{400, "nesting_too_deep"}))
        << depth;
    std::string schema;
    for (size_t i = 0; i < depth; ++i) schema += "{\"type\":\"array\",\"items\":";
    schema += "{\"type\":\"string\"}" + std::string(depth, '}');
    EXPECT_EQ(
        send("/v1/chat/completions",
             "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_schema\","
             "\"json_schema\":{\"name\":\"s\",\"schema\":" +
                 schema + "}}}")
            .first,
        400)
        << depth;
  }
  // brackets inside strings do not count
  EXPECT_EQ(send("/chains/echo/invoke", "{\"input\": {\"x\": \"" + std::string(1000, '[') + "\"}}").first, 200);
  expect_still_serving();
}

TEST_F(RobustnessTest, BadBytesAndNumbersAre400) {
  EXPECT_EQ(send("/v1/completions", "{\"prompt\": \"a\xff\xfe\", \"max_tokens\": 2}"),
            (std::pair<int, std::string>{400, "invalid_utf8"}));
  EXPECT_EQ(send("/chains/echo/invoke", "{\"input\": {\"x\": \"\xc3\"}}").first, 400);
  EXPECT_EQ(send("/v1/completions", "{\"prompt\": \"a\", \"max_tokens\": 1e999}"),
            (std::pair<int, std::string>{400, "invalid_json"}));
  EXPECT_EQ(send("/v1/completions", "{\"prompt\": \"a\", ").first, 400);
  EXPECT_EQ(send("/v1/completions", "").first, 400);
  expect_still_serving();
}

TEST_F(RobustnessTest, NonJsonBodiesAre415) {
  const std::string body = "{\"prompt\": \"echo: hi\", \"max_tokens\": 2}";
  EXPECT_EQ(send("/v1/completions", body, "text/plain"), (std::pair<int, std::string>{415, "unsupported_media_type"}));
  EXPECT_EQ(send("/v1/completions", "a=" + std::string(20000, 'b'), "application/x-www-form-urlencoded").first, 415);
  EXPECT_EQ(send("/chains/echo/invoke", "x=1", "application/x-www-form-urlencoded").first, 415);
  EXPECT_EQ(send("/v1/completions", body, "application/json; charset=utf-8").first, 200);
  EXPECT_EQ(send("/v1/completions", body, "application/vnd.api+json").first, 200);
  expect_still_serving();
}

// A guard decision is never a 500: an output block is 422 guard_blocked.
TEST_F(RobustnessTest, OutputGuardBlockIs422) {
  EXPECT_EQ(send("/chains/strict/invoke", "{\"input\": {\"x\": \"hi\"}}"),
            (std::pair<int, std::string>{422, "guard_blocked"}));
  expect_still_serving();
}

// A batch answers per input: a blocked input is an error object in its place, the others keep
// their results (never a 500, never a dropped result).
TEST_F(RobustnessTest, BatchErrorsArePerInput) {
  auto r = post("/chains/picky/batch",
                json{{"inputs", {{{"x", "hello"}}, {{"x", "something forbidden"}}, {{"x", "again"}}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  ASSERT_EQ(j["output"].size(), 3u);
  EXPECT_EQ(j["output"][0], "ok");
  EXPECT_EQ(j["output"][2], "ok");
  EXPECT_EQ(j["output"][1]["error"]["code"], "guard_blocked");
  ASSERT_EQ(j["metadata"]["errors"].size(), 1u);
  EXPECT_EQ(j["metadata"]["errors"][0]["index"], 1);
  EXPECT_EQ(j["metadata"]["errors"][0]["status"], 400);
  // Every input failing: the request is that error.
  EXPECT_EQ(send("/chains/picky/batch", R"({"inputs": [{"x": "forbidden"}]})"),
            (std::pair<int, std::string>{400, "guard_blocked"}));
  // Output guards likewise.
  auto out = post("/chains/strict/batch", json{{"inputs", {{{"x", "a"}}, {{"x", "b"}}}}});
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 422) << out->body;
  expect_still_serving();
}

// n beyond what the server can ever hold is the request's mistake (400 naming n), not a 429.
class RobustnessLimitsTest : public ServerFixture {};

// --max-body counts the bytes the server would hold: a gzip body that inflates far beyond the
// limit, and a chunked body without a Content-Length, are 413 once they pass it.
TEST_F(RobustnessLimitsTest, MaxBodyCountsDecodedAndChunkedBytes) {
  ServerOptions o;
  o.max_body = 100 * 1024;
  start(o);
  // {"prompt": "aaaa...(4 MB)"} gzipped: ~4 KB on the wire
  std::string big = "{\"prompt\": \"" + std::string(4u << 20, 'a') + "\"}";
  std::string gz;
  ASSERT_TRUE(httplib::detail::gzip_compressor().compress(big.data(), big.size(), true, [&](const char* d, size_t n) {
    gz.append(d, n);
    return true;
  }));
  ASSERT_LT(gz.size(), o.max_body);
  auto r = client()->Post("/v1/completions", httplib::Headers{{"Content-Encoding", "gzip"}}, gz, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body.substr(0, 200);

  // chunked, no Content-Length
  size_t sent = 0;
  auto c = client()->Post(
      "/v1/completions",
      [&](size_t, httplib::DataSink& sink) {
        std::string chunk(64 * 1024, 'a');
        if (sent == 0) chunk = "{\"prompt\": \"" + chunk;
        sent += chunk.size();
        if (sent > (2u << 20)) {
          sink.done();
          return true;
        }
        return sink.write(chunk.data(), chunk.size());
      },
      "application/json");
  if (c) {
    EXPECT_EQ(c->status, 413);  // or the server closed the connection mid-body
  }

  // a small gzip body still works
  std::string ok = "{\"prompt\": \"echo: hi\", \"max_tokens\": 2}", okgz;
  ASSERT_TRUE(httplib::detail::gzip_compressor().compress(ok.data(), ok.size(), true, [&](const char* d, size_t n) {
    okgz.append(d, n);
    return true;
  }));
  auto small =
      client()->Post("/v1/completions", httplib::Headers{{"Content-Encoding", "gzip"}}, okgz, "application/json");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200) << small->body;
  expect_still_serving();
}

TEST_F(RobustnessLimitsTest, ChoicesBeyondCapacityAre400) {
  ServerOptions o;
  o.parallel = 2;
  o.max_queue = 3;
  start(o);
  auto r = post("/v1/completions", json{{"prompt", "echo: hi"}, {"max_tokens", 2}, {"n", 6}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "n");
  EXPECT_EQ(post("/v1/completions", json{{"prompt", "echo: hi"}, {"max_tokens", 2}, {"n", 5}})->status, 200);
  expect_still_serving();
}

TEST_F(RobustnessTest, ManyRangesAre416) {
  for (int n : {2, 100, 1000}) {
    std::string ranges = "bytes=0-0";
    for (int i = 1; i < n; ++i) ranges += fmt::format(",{}-{}", i, i);
    auto r = client()->Get("/", httplib::Headers{{"Range", ranges}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 416) << n;
    EXPECT_LT(r->body.size(), 1000u);
  }
  auto one = client()->Get("/", httplib::Headers{{"Range", "bytes=0-9"}});
  ASSERT_TRUE(one);
  EXPECT_LE(one->body.size(), get("/")->body.size());
  expect_still_serving();
}

TEST_F(RobustnessTest, HeadIsGetWithoutBody) {
  for (const char* path : {"/v1/models", "/health/live", "/chains", "/chains/echo/input_schema"}) {
    auto r = client()->Head(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_TRUE(r->body.empty()) << path;
  }
  auto post_only = client()->Head("/v1/completions");
  ASSERT_TRUE(post_only);
  EXPECT_EQ(post_only->status, 405);
}

// A raw TCP connection to the server (for clients no HTTP library would be: slow, oversized).
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool connected() const { return connected_; }
  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Everything the server sends until it closes the connection or `seconds` pass.
  std::string read_all(double seconds) {
    std::string out;
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    char buf[4096];
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

// Slow and idle clients each hold a connection thread of their own, never one a fresh client
// needs: with 1,000 connections trickling their headers, a new client is still answered.
TEST_F(RobustnessLimitsTest, SlowClientsDoNotStarveFreshOnes) {
  start();
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 1000; ++i) {
    auto c = std::make_unique<RawConnection>(port_);
    ASSERT_TRUE(c->connected()) << i;
    // Half send part of a request line and stop; half send nothing at all.
    if (i % 2 == 0) {
      ASSERT_TRUE(c->send("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    }
    slow.push_back(std::move(c));
  }
  auto t0 = std::chrono::steady_clock::now();
  auto cli = client();
  cli->set_read_timeout(3, 0);
  auto r = cli->Get("/health/live");
  ASSERT_TRUE(r) << "a fresh client got no answer with 1,000 slow connections open";
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 3.0);
  auto c = post("/v1/completions", json{{"prompt", "echo: hi"}, {"max_tokens", 2}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, 200);
}

// A request's line and headers must arrive within --header-timeout, however slowly they
// trickle in (per-read timeouts alone let a byte every few seconds hold a connection forever).
TEST_F(RobustnessLimitsTest, HeadersThatTrickleGet408) {
  ServerOptions o;
  o.header_timeout_s = 1;
  start(o);
  RawConnection c(port_);
  ASSERT_TRUE(c.connected());
  const std::string head = "GET /health/live HTTP/1.1\r\nHost: x\r\n";
  std::string got;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < head.size() && got.empty(); ++i) {
    if (!c.send(head.substr(i, 1))) break;  // the server may already have closed
    got = c.read_all(0.3);
  }
  if (got.empty()) got = c.read_all(5);
  EXPECT_NE(got.find("408"), std::string::npos) << got;
  EXPECT_NE(got.find("request_timeout"), std::string::npos) << got;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
  expect_still_serving();
}

// The request line plus headers are capped in bytes, however many header lines they take.
TEST_F(RobustnessLimitsTest, OversizedHeadersGet431) {
  start();
  RawConnection c(port_);
  ASSERT_TRUE(c.connected());
  std::string req = "GET /health/live HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 4000; ++i) req += fmt::format("X-Filler-{}: {}\r\n", i, std::string(40, 'a'));
  req += "\r\n";
  c.send(req);
  std::string got = c.read_all(5);
  EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got.substr(0, 200);
  EXPECT_NE(got.find("headers_too_large"), std::string::npos);
  // A request with ordinary headers on a new connection is fine.
  expect_still_serving();
}

// Beyond --max-connections a connection is refused with 503 at once, and the server recovers
// when they close.
TEST_F(RobustnessLimitsTest, ConnectionsBeyondTheLimitGet503) {
  ServerOptions o;
  o.max_connections = 8;
  start(o);
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(std::make_unique<RawConnection>(port_));
    ASSERT_TRUE(idle.back()->send("GET"));  // opened, never finished
  }
  // The server has taken the 8 connections before the next one arrives.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  RawConnection extra(port_);
  ASSERT_TRUE(extra.connected());
  extra.send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = extra.read_all(5);
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got.substr(0, 200);
  EXPECT_NE(got.find("too_many_connections"), std::string::npos);
  idle.clear();
  bool recovered = false;
  for (int i = 0; i < 50 && !recovered; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto r = get("/health/live");
    recovered = r && r->status == 200;
  }
  EXPECT_TRUE(recovered);
}

}  // namespace
}  // namespace llmchain::server::test
