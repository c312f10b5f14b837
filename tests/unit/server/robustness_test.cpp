// Client mistakes, by class: each is a 4xx naming what is wrong (never a 500, never library
// exception text), and the server still answers afterwards.
#include <fmt/format.h>

#include <string>

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
        "block}]}\n",
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

}  // namespace
}  // namespace llmchain::server::test
