// Auth, limits and the malformed-request corpus: every bad request gets a clear
// 4xx in OpenAI's error shape, and the server keeps serving afterwards.
#include <atomic>
#include <chrono>
#include <thread>

#include "server_fixture.h"

namespace llmchain::server::test {
namespace {

using namespace std::chrono_literals;

class LimitsTest : public ServerFixture {};

void expect_openai_error(const httplib::Result& r, int status, const std::string& needle = "") {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status) << r->body;
  auto j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r->body;
  ASSERT_TRUE(j.contains("error")) << r->body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_TRUE(j["error"]["type"].is_string());
  EXPECT_TRUE(j["error"].contains("param"));
  EXPECT_TRUE(j["error"].contains("code"));
  if (!needle.empty()) {
    EXPECT_NE(r->body.find(needle), std::string::npos) << r->body;
  }
}

TEST_F(LimitsTest, ApiKeyRequiredOnApiNotOnHealth) {
  start({.api_key = "sekret"});
  auto r = post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  expect_openai_error(r, 401, "API key");
  expect_openai_error(get("/v1/models"), 401);
  auto cli = client();
  cli->set_bearer_token_auth("wrong");
  expect_openai_error(cli->Get("/v1/models"), 401, "Incorrect API key");
  EXPECT_EQ(get("/health/live")->status, 200);
  EXPECT_EQ(get("/health/ready")->status, 200);
  EXPECT_EQ(get("/metrics")->status, 200);
  api_key_ = "sekret";
  EXPECT_EQ(get("/v1/models")->status, 200);
  expect_still_serving();
}

TEST_F(LimitsTest, BodyTooLarge) {
  start({.max_body = 1024});
  std::string big = json{{"prompt", std::string(4096, 'a')}}.dump();
  expect_openai_error(post("/v1/completions", big), 413, "--max-body");
  expect_still_serving();
}

TEST_F(LimitsTest, QueueFullGives429WithRetryAfter) {
  start({.parallel = 1, .max_queue = 1}, {.parallel = 1, .token_delay_ms = 20});
  std::vector<std::thread> busy;
  for (int i = 0; i < 2; ++i) {
    busy.emplace_back([&] { post("/v1/completions", json{{"prompt", "echo: " + std::string(30, 'q')}}); });
  }
  for (int i = 0; i < 200 && server_->metrics().inflight() < 2; ++i) std::this_thread::sleep_for(5ms);
  auto r = post("/v1/completions", json{{"prompt", "echo: x"}});
  expect_openai_error(r, 429, "Too many requests");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_EQ(get("/health/ready")->status, 503);  // queue full: not ready
  EXPECT_EQ(get("/health/live")->status, 200);   // but alive
  for (auto& t : busy) t.join();
  EXPECT_EQ(server_->metrics().rejections(), 1);
  EXPECT_NE(get("/metrics")->body.find("llmchain_queue_rejections_total 1"), std::string::npos);
  expect_still_serving();
}

TEST_F(LimitsTest, RequestTimeout) {
  start({.request_timeout_s = 0.3}, {.token_delay_ms = 50});
  auto t0 = std::chrono::steady_clock::now();
  expect_openai_error(post("/v1/completions", json{{"prompt", "echo: " + std::string(100, 't')}}), 504, "timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  auto s = post_stream("/v1/completions", json{{"prompt", "echo: " + std::string(100, 't')}, {"stream", true}});
  EXPECT_NE(s.raw.find("timeout"), std::string::npos);
  EXPECT_NE(s.events.back(), "[DONE]");
  for (int i = 0; i < 100 && engine_->running() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(engine_->running(), 0);
}

TEST_F(LimitsTest, MaxTokensCappedByContext) {
  start({}, {.n_ctx = 64});
  auto r = post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 100000}, {"seed", 1}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_LE(j["usage"]["total_tokens"].get<int>(), 64);
}

struct BadCase {
  const char* name;
  const char* path;
  std::string body;
  int status;
  const char* needle;  // must appear in the error (names the problem)
};

TEST_F(LimitsTest, MalformedRequestCorpus) {
  start({}, {.n_ctx = 64});
  const std::string chat = "/v1/chat/completions", cmpl = "/v1/completions";
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  std::vector<BadCase> cases = {
      {"not json", chat.c_str(), "{\"messages\": [", 400, "not valid JSON"},
      {"empty body", chat.c_str(), "", 400, "empty"},
      {"array body", chat.c_str(), "[1,2]", 400, "JSON object"},
      {"no messages", chat.c_str(), "{}", 400, "messages"},
      {"messages not array", chat.c_str(), R"({"messages":"hi"})", 400, "messages"},
      {"empty messages", chat.c_str(), R"({"messages":[]})", 400, "at least one message"},
      {"message not object", chat.c_str(), R"({"messages":[1]})", 400, "messages[0]"},
      {"unknown role", chat.c_str(), R"({"messages":[{"role":"wizard","content":"x"}]})", 400, "wizard"},
      {"missing role", chat.c_str(), R"({"messages":[{"content":"x"}]})", 400, "role"},
      {"content number", chat.c_str(), R"({"messages":[{"role":"user","content":5}]})", 400, "content"},
      {"missing content", chat.c_str(), R"({"messages":[{"role":"user"}]})", 400, "content"},
      {"image part", chat.c_str(),
       R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})", 400, "image_url"},
      {"temperature string", chat.c_str(), "{" + msgs + R"(,"temperature":"hot"})", 400, "temperature"},
      {"temperature range", chat.c_str(), "{" + msgs + R"(,"temperature":5})", 400, "temperature"},
      {"top_p range", chat.c_str(), "{" + msgs + R"(,"top_p":1.5})", 400, "top_p"},
      {"max_tokens string", chat.c_str(), "{" + msgs + R"(,"max_tokens":"10"})", 400, "max_tokens"},
      {"max_tokens zero", chat.c_str(), "{" + msgs + R"(,"max_tokens":0})", 400, "max_tokens"},
      {"max_tokens float", chat.c_str(), "{" + msgs + R"(,"max_tokens":1.5})", 400, "max_tokens"},
      {"n=0", chat.c_str(), "{" + msgs + R"(,"n":0})", 400, "'n'"},
      {"n too large", chat.c_str(), "{" + msgs + R"(,"n":129})", 400, "'n'"},
      {"n string", cmpl.c_str(), R"({"prompt":"hi","n":"2"})", 400, "'n'"},
      {"tools not array", chat.c_str(), "{" + msgs + R"(,"tools":{}})", 400, "tools"},
      {"tool_choice without tools", chat.c_str(), "{" + msgs + R"(,"tool_choice":"auto"})", 400, "tool_choice"},
      {"stream string", chat.c_str(), "{" + msgs + R"(,"stream":"yes"})", 400, "stream"},
      {"too many stops", chat.c_str(), "{" + msgs + R"(,"stop":["a","b","c","d","e"]})", 400, "at most 4"},
      {"stop number", chat.c_str(), "{" + msgs + R"(,"stop":7})", 400, "stop"},
      {"stop array number", chat.c_str(), "{" + msgs + R"(,"stop":["a",1]})", 400, "stop[1]"},
      {"empty stop", chat.c_str(), "{" + msgs + R"(,"stop":""})", 400, "stop"},
      {"seed string", chat.c_str(), "{" + msgs + R"(,"seed":"abc"})", 400, "seed"},
      {"logit_bias key", chat.c_str(), "{" + msgs + R"(,"logit_bias":{"abc":1}})", 400, "logit_bias"},
      {"logit_bias range", chat.c_str(), "{" + msgs + R"(,"logit_bias":{"5":500}})", 400, "logit_bias"},
      {"logit_bias vocab", chat.c_str(), "{" + msgs + R"(,"logit_bias":{"99999":1}})", 400, "vocabulary"},
      {"top_logprobs w/o logprobs", chat.c_str(), "{" + msgs + R"(,"top_logprobs":2})", 400, "top_logprobs"},
      {"top_logprobs range", chat.c_str(), "{" + msgs + R"(,"logprobs":true,"top_logprobs":50})", 400, "top_logprobs"},
      {"response_format type", chat.c_str(), "{" + msgs + R"(,"response_format":{"type":"yaml"}})", 400, "yaml"},
      {"response_format string", chat.c_str(), "{" + msgs + R"(,"response_format":"json"})", 400, "response_format"},
      {"json_schema missing", chat.c_str(), "{" + msgs + R"(,"response_format":{"type":"json_schema"}})", 400,
       "json_schema"},
      {"json_schema no name", chat.c_str(),
       "{" + msgs + R"(,"response_format":{"type":"json_schema","json_schema":{"schema":{}}}})", 400, "name"},
      {"stream_options w/o stream", chat.c_str(), "{" + msgs + R"(,"stream_options":{"include_usage":true}})", 400,
       "stream_options"},
      {"prompt too long", chat.c_str(),
       R"({"messages":[{"role":"user","content":")" + std::string(100, 'x') + R"("}]})", 400,
       "context_length_exceeded"},
      {"no prompt", cmpl.c_str(), "{}", 400, "prompt"},
      {"prompt object", cmpl.c_str(), R"({"prompt":{"a":1}})", 400, "prompt"},
      {"prompt empty array", cmpl.c_str(), R"({"prompt":[]})", 400, "prompt"},
      {"prompt bad token", cmpl.c_str(), R"({"prompt":[1,2,100000]})", 400, "vocabulary"},
      {"prompt mixed", cmpl.c_str(), R"({"prompt":["a",{}]})", 400, "prompt[1]"},
      {"completion logprobs type", cmpl.c_str(), R"({"prompt":"a","logprobs":true})", 400, "logprobs"},
      {"completion too long", cmpl.c_str(), R"({"prompt":")" + std::string(100, 'y') + R"("})", 400,
       "maximum context length"},
      {"best_of", cmpl.c_str(), R"({"prompt":"a","best_of":3})", 400, "best_of"},
      {"embeddings no input", "/v1/embeddings", "{}", 400, "input"},
      {"embeddings encoding", "/v1/embeddings", R"({"input":"a","encoding_format":"hex"})", 400, "encoding_format"},
      {"tokenize no content", "/tokenize", "{}", 400, "content"},
      {"detokenize bad", "/detokenize", R"({"tokens":["a"]})", 400, "tokens[0]"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = post(c.path, c.body);
    expect_openai_error(r, c.status, c.needle);
    if (r) {
      EXPECT_EQ(json::parse(r->body)["error"]["type"], "invalid_request_error");
    }
  }
  expect_still_serving();
}

TEST_F(LimitsTest, UnknownFieldsAreIgnored) {
  start();
  auto r = post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "echo: ok"}}}},
                                             {"frobnicate", {1, 2}},
                                             {"user", "u1"},
                                             {"temperature", nullptr}});
  ASSERT_EQ(r->status, 200) << r->body;
}

}  // namespace
}  // namespace llmchain::server::test
