#pragma once
// A FakeEngine-backed HttpServer on a loopback port, plus client helpers.
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/http_server.h"
#include "server/metrics.h"
#include "support/fake_engine.h"

namespace llmchain::server::test {

using nlohmann::json;

struct SseResult {
  int status = 0;
  std::vector<std::string> events;  // payloads of "data:" lines, in order ("[DONE]" included)
  std::string raw;
  std::string content_type;
  std::string error;  // client-side transport error, if any
  std::vector<json> chunks() const {
    std::vector<json> out;
    for (const auto& e : events) {
      if (e != "[DONE]") out.push_back(json::parse(e));
    }
    return out;
  }
};

inline std::vector<std::string> parse_sse(const std::string& raw) {
  std::vector<std::string> events;
  size_t pos = 0;
  while (true) {
    size_t end = raw.find("\n\n", pos);
    if (end == std::string::npos) break;
    std::string block = raw.substr(pos, end - pos);
    pos = end + 2;
    if (block.rfind("data: ", 0) == 0) events.push_back(block.substr(6));
  }
  return events;
}

class ServerFixture : public ::testing::Test {
 protected:
  void start(ServerOptions opts = {}, fakes::FakeEngineOptions eopts = {}) {
    engine_ = std::make_unique<fakes::FakeEngine>(eopts);
    opts.host = "127.0.0.1";
    opts.port = 0;
    server_ = std::make_unique<HttpServer>(*engine_, opts);
    auto port = server_->start();
    ASSERT_TRUE(port.ok()) << port.error().message();
    port_ = *port;
  }
  void SetUp() override {}
  void TearDown() override {
    if (server_) server_->shutdown();
    server_.reset();
    engine_.reset();
  }

  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(30, 0);
    c->set_connection_timeout(5, 0);
    if (!api_key_.empty()) c->set_bearer_token_auth(api_key_);
    return c;
  }

  httplib::Result post(const std::string& path, const std::string& body) const {
    return client()->Post(path, body, "application/json");
  }
  httplib::Result post(const std::string& path, const char* body) const { return post(path, std::string(body)); }
  httplib::Result post(const std::string& path, const json& body) const { return post(path, body.dump()); }
  httplib::Result get(const std::string& path) const { return client()->Get(path); }

  // POST and read an SSE body. abort_after_events > 0 closes the connection after that many data events.
  SseResult post_stream(const std::string& path, const json& body, size_t abort_after_events = 0) const {
    SseResult out;
    auto cli = client();
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    if (!api_key_.empty()) req.set_header("Authorization", "Bearer " + api_key_);
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      out.raw.append(data, n);
      if (abort_after_events > 0 && parse_sse(out.raw).size() >= abort_after_events) return false;
      return true;
    };
    auto res = cli->send(req);
    if (res) {
      out.status = res->status;
      out.content_type = res->get_header_value("Content-Type");
      if (!res->body.empty()) out.raw += res->body;
    }
    if (!res) out.error = httplib::to_string(res.error());
    out.events = parse_sse(out.raw);
    return out;
  }

  // The server answers a plain request after whatever the test did.
  void expect_still_serving() const {
    auto r = get("/health/live");
    ASSERT_TRUE(r) << "server stopped answering";
    EXPECT_EQ(r->status, 200);
    auto c = post("/v1/completions", json{{"prompt", "echo: ok"}, {"max_tokens", 4}});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->status, 200) << c->body;
  }

  std::unique_ptr<fakes::FakeEngine> engine_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::string api_key_;
};

}  // namespace llmchain::server::test
