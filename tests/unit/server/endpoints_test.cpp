// Response shapes of every endpoint (non-streaming) against the FakeEngine.
#include <chrono>
#include <map>
#include <thread>

#include "server_fixture.h"

namespace llmchain::server::test {
namespace {

class EndpointsTest : public ServerFixture {
 protected:
  void SetUp() override { start(); }
};

TEST_F(EndpointsTest, CorsPreflightAndAllowOrigin) {
  httplib::Headers h = {{"Origin", "http://localhost:3000"},
                        {"Access-Control-Request-Method", "POST"},
                        {"Access-Control-Request-Headers", "authorization, content-type, x-stainless-os"}};
  auto pre = client()->Options("/v1/chat/completions", h);
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Headers"), "authorization, content-type, x-stainless-os");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  auto models = get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  EXPECT_EQ(models->get_header_value("Access-Control-Allow-Origin"), "*");
  auto missing = get("/v1/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->get_header_value("Access-Control-Allow-Origin"), "*");
}

TEST_F(EndpointsTest, ChatCompletionShape) {
  auto r = post("/v1/chat/completions",
                json{{"model", "fake-model"}, {"messages", {{{"role", "user"}, {"content", "echo: hi there"}}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("application/json"), std::string::npos);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_TRUE(j["created"].is_number_integer());
  EXPECT_EQ(j["model"], "fake-model");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "hi there");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(j["usage"]["completion_tokens"], 8);
  EXPECT_EQ(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"].get<int>() + 8);
  EXPECT_FALSE(r->get_header_value("X-Request-Id").empty());
}

TEST_F(EndpointsTest, ChatContentPartsAndDeveloperRole) {
  json msgs = {
      {{"role", "developer"}, {"content", "be brief"}},
      {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "echo: "}}, {{"type", "text"}, {"text", "ab"}}}}}};
  auto r = post("/v1/chat/completions", json{{"messages", msgs}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["choices"][0]["message"]["content"], "ab");
}

TEST_F(EndpointsTest, MaxTokensGivesLength) {
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    auto r =
        post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "echo: abcdefgh"}}}}, {key, 3}});
    ASSERT_TRUE(r);
    auto j = json::parse(r->body);
    EXPECT_EQ(j["choices"][0]["message"]["content"], "abc") << key;
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  }
}

TEST_F(EndpointsTest, StopStringsAreNotEmitted) {
  auto r = post("/v1/completions", json{{"prompt", "echo: one. two. three"}, {"stop", {"two", "zzz"}}});
  ASSERT_TRUE(r);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["text"], "one. ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  auto r2 = post("/v1/completions", json{{"prompt", "echo: a-b"}, {"stop", "-"}});
  EXPECT_EQ(json::parse(r2->body)["choices"][0]["text"], "a");
}

TEST_F(EndpointsTest, SameSeedSameOutput) {
  json body = {{"prompt", "Tell me a story"}, {"seed", 42}, {"temperature", 1.0}};
  auto a = json::parse(post("/v1/completions", body)->body)["choices"][0]["text"];
  auto b = json::parse(post("/v1/completions", body)->body)["choices"][0]["text"];
  body["seed"] = 7;
  auto c = json::parse(post("/v1/completions", body)->body)["choices"][0]["text"];
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST_F(EndpointsTest, SeveralChoicesWithN) {
  json body = {{"messages", {{{"role", "user"}, {"content", "Tell me a story"}}}},
               {"seed", 42},
               {"temperature", 1.0},
               {"n", 3},
               {"max_tokens", 8}};
  auto r = post("/v1/chat/completions", body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(j["choices"][i]["index"], i);
  // Choice 0 is what n=1 gives with the same seed; the others sample with other seeds.
  body.erase("n");
  json one = json::parse(post("/v1/chat/completions", body)->body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], one["choices"][0]["message"]["content"]);
  EXPECT_NE(j["choices"][0]["message"]["content"], j["choices"][1]["message"]["content"]);
  // Usage counts every choice.
  EXPECT_EQ(j["usage"]["prompt_tokens"].get<int>(), 3 * one["usage"]["prompt_tokens"].get<int>());
  EXPECT_GE(j["usage"]["completion_tokens"].get<int>(), one["usage"]["completion_tokens"].get<int>() + 2);

  // Completions: two prompts x n=2 -> four choices, prompt-major.
  auto c = post("/v1/completions", json{{"prompt", {"echo: a", "echo: b"}}, {"n", 2}});
  ASSERT_TRUE(c);
  ASSERT_EQ(c->status, 200) << c->body;
  json cj = json::parse(c->body);
  ASSERT_EQ(cj["choices"].size(), 4u);
  const char* want[] = {"a", "a", "b", "b"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(cj["choices"][i]["index"], i);
    EXPECT_EQ(cj["choices"][i]["text"], want[i]);
  }
}

TEST_F(EndpointsTest, SeveralChoicesStreamed) {
  auto r = post("/v1/chat/completions",
                json{{"messages", {{{"role", "user"}, {"content", "echo: hello"}}}}, {"n", 2}, {"stream", true}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  std::map<int, std::string> text;
  std::map<int, int> finished, roles;
  int done = 0;
  size_t pos = 0;
  while ((pos = r->body.find("data: ", pos)) != std::string::npos) {
    size_t end = r->body.find("\n\n", pos);
    std::string data = r->body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (data == "[DONE]") {
      ++done;
      continue;
    }
    json chunk = json::parse(data);
    for (const auto& ch : chunk["choices"]) {
      int i = ch["index"];
      if (ch["delta"].contains("role")) ++roles[i];
      if (ch["delta"].contains("content") && ch["delta"]["content"].is_string())
        text[i] += ch["delta"]["content"].get<std::string>();
      if (!ch["finish_reason"].is_null()) ++finished[i];
    }
  }
  EXPECT_EQ(done, 1);
  for (int i : {0, 1}) {
    EXPECT_EQ(text[i], "hello") << i;
    EXPECT_EQ(roles[i], 1) << i;
    EXPECT_EQ(finished[i], 1) << i;
  }
}

TEST_F(EndpointsTest, CompletionShapeAndPromptForms) {
  auto r = post("/v1/completions", json{{"prompt", "echo: xyz"}});
  ASSERT_TRUE(r);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "xyz");
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  // Token ids: "echo: q" as byte tokens (id = byte + 3).
  json toks = json::array();
  for (char ch : std::string("echo: q")) toks.push_back(static_cast<int>(ch) + 3);
  auto rt = post("/v1/completions", json{{"prompt", toks}});
  EXPECT_EQ(json::parse(rt->body)["choices"][0]["text"], "q");
  // Several prompts: one choice each, in order.
  auto rm = post("/v1/completions", json{{"prompt", {"echo: a", "echo: b"}}});
  auto jm = json::parse(rm->body);
  ASSERT_EQ(jm["choices"].size(), 2u);
  EXPECT_EQ(jm["choices"][1]["index"], 1);
  EXPECT_EQ(jm["choices"][1]["text"], "b");
  // echo prepends the prompt.
  auto re = post("/v1/completions", json{{"prompt", "echo: e"}, {"echo", true}});
  EXPECT_EQ(json::parse(re->body)["choices"][0]["text"], "echo: ee");
}

TEST_F(EndpointsTest, ChatLogprobsShape) {
  auto r =
      post("/v1/chat/completions",
           json{{"messages", {{{"role", "user"}, {"content", "echo: ab"}}}}, {"logprobs", true}, {"top_logprobs", 2}});
  auto j = json::parse(r->body);
  auto content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0]["token"], "a");
  EXPECT_FLOAT_EQ(content[0]["logprob"].get<float>(), -0.25f);
  EXPECT_EQ(content[0]["bytes"], json::array({97}));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_TRUE(content[0]["top_logprobs"][0].contains("bytes"));
}

TEST_F(EndpointsTest, CompletionLogprobsShape) {
  auto r = post("/v1/completions", json{{"prompt", "echo: ab"}, {"logprobs", 1}});
  auto lp = json::parse(r->body)["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json::array({"a", "b"}));
  EXPECT_EQ(lp["token_logprobs"].size(), 2u);
  EXPECT_EQ(lp["text_offset"], json::array({0, 1}));
  EXPECT_TRUE(lp["top_logprobs"][0].contains("a"));
}

TEST_F(EndpointsTest, JsonResponseFormats) {
  json schema = {{"type", "object"},
                 {"properties", {{"name", {{"type", "string"}}}, {"age", {{"type", "integer"}}}}},
                 {"required", {"name", "age"}}};
  auto r = post(
      "/v1/chat/completions",
      json{{"messages", {{{"role", "user"}, {"content", "who?"}}}},
           {"response_format",
            {{"type", "json_schema"}, {"json_schema", {{"name", "person"}, {"schema", schema}, {"strict", true}}}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto out = json::parse(json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_TRUE(out["name"].is_string());
  EXPECT_TRUE(out["age"].is_number_integer());
  auto r2 = post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "x"}}}},
                                              {"response_format", {{"type", "json_object"}}}});
  EXPECT_TRUE(json::parse(json::parse(r2->body)["choices"][0]["message"]["content"].get<std::string>()).is_object());
}

TEST_F(EndpointsTest, Models) {
  auto r = get("/v1/models");
  ASSERT_EQ(r->status, 200);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "fake-model");
  EXPECT_EQ(j["data"][0]["object"], "model");
  auto one = get("/v1/models/fake-model");
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(json::parse(one->body)["id"], "fake-model");
  auto missing = get("/v1/models/gpt-9");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "model_not_found");
}

// As OpenAI: a model this server does not serve is 404 model_not_found, on every route that
// takes a model, rather than answered by the loaded one.
TEST_F(EndpointsTest, UnknownModelIs404) {
  json msgs = {{{"role", "user"}, {"content", "echo: hi"}}};
  for (const auto& [path, body] : std::vector<std::pair<std::string, json>>{
           {"/v1/chat/completions", json{{"model", "gpt-4o"}, {"messages", msgs}}},
           {"/v1/completions", json{{"model", "gpt-4o"}, {"prompt", "hi"}}},
           {"/v1/embeddings", json{{"model", "gpt-4o"}, {"input", "hi"}}}}) {
    auto r = post(path, body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << path << " " << r->body;
    auto e = json::parse(r->body)["error"];
    EXPECT_EQ(e["code"], "model_not_found") << path;
    EXPECT_EQ(e["param"], "model") << path;
    EXPECT_NE(e["message"].get<std::string>().find("gpt-4o"), std::string::npos);
  }
  // no model at all means the one served
  EXPECT_EQ(post("/v1/completions", json{{"prompt", "echo: hi"}})->status, 200);
}

class AliasTest : public ServerFixture {};

TEST_F(AliasTest, AliasesAreServedNames) {
  ServerOptions o;
  o.model_aliases = {"gpt-4o-mini", "llama"};
  start(o);
  json msgs = {{{"role", "user"}, {"content", "echo: hi"}}};
  for (const char* name : {"gpt-4o-mini", "llama", "fake-model"}) {
    auto r = post("/v1/chat/completions", json{{"model", name}, {"messages", msgs}});
    ASSERT_EQ(r->status, 200) << name << " " << r->body;
    EXPECT_EQ(json::parse(r->body)["model"], "gpt-4o-mini");  // the first alias is the id
  }
  EXPECT_EQ(post("/v1/chat/completions", json{{"model", "other"}, {"messages", msgs}})->status, 404);
  auto models = json::parse(get("/v1/models")->body);
  EXPECT_EQ(models["data"][0]["id"], "gpt-4o-mini");
  EXPECT_EQ(models["data"][0]["aliases"], json({"gpt-4o-mini", "llama"}));
  EXPECT_EQ(get("/v1/models/llama")->status, 200);
  EXPECT_EQ(get("/v1/models/other")->status, 404);
}

TEST_F(EndpointsTest, Embeddings) {
  auto r = post("/v1/embeddings", json{{"input", {"hello", "world"}}, {"model", "fake-model"}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][1]["index"], 1);
  EXPECT_EQ(j["data"][0]["object"], "embedding");
  EXPECT_EQ(j["data"][0]["embedding"].size(), 16u);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  auto b = post("/v1/embeddings", json{{"input", "hello"}, {"encoding_format", "base64"}});
  auto s = json::parse(b->body)["data"][0]["embedding"].get<std::string>();
  EXPECT_EQ(s.size(), (16u * 4 + 2) / 3 * 4);  // 64 bytes of float32, base64
}

TEST_F(EndpointsTest, TokenizeDetokenize) {
  auto r = post("/tokenize", json{{"content", "ab"}});
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["tokens"], json::array({100, 101}));
  auto d = post("/detokenize", json{{"tokens", {100, 101}}});
  EXPECT_EQ(json::parse(d->body)["content"], "ab");
  auto p = post("/tokenize", json{{"content", "a"}, {"with_pieces", true}, {"add_special", true}});
  auto toks = json::parse(p->body)["tokens"];
  EXPECT_EQ(toks[1]["piece"], "a");
}

TEST_F(EndpointsTest, HealthAndReadiness) {
  EXPECT_EQ(get("/health/live")->status, 200);
  EXPECT_EQ(get("/health/ready")->status, 200);
  EXPECT_EQ(get("/health")->status, 200);
  engine_->set_ready(false);
  EXPECT_EQ(get("/health/ready")->status, 503);
  EXPECT_EQ(get("/health/live")->status, 200);
  auto r = post("/v1/completions", json{{"prompt", "x"}});
  EXPECT_EQ(r->status, 503);
  engine_->set_ready(true);
  EXPECT_EQ(get("/health/ready")->status, 200);
}

TEST_F(EndpointsTest, MetricsExposition) {
  ASSERT_EQ(post("/v1/completions", json{{"prompt", "echo: abc"}})->status, 200);
  post("/v1/completions", "{bad");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // access log/metrics run after the reply is sent
  auto r = get("/metrics");
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  const std::string& m = r->body;
  for (const char* name :
       {"llmchain_requests_running ", "llmchain_requests_waiting ",
        "llmchain_prompt_tokens_total{model=\"fake-model\"} ",
        "llmchain_generation_tokens_total{model=\"fake-model\"} 3",
        "llmchain_time_to_first_token_seconds_bucket{model=\"fake-model\",le=\"+Inf\"} 1",
        "llmchain_inter_token_latency_seconds_count{model=\"fake-model\"} 2",
        "llmchain_request_duration_seconds_count{model=\"fake-model\"} 1", "llmchain_kv_cache_usage_ratio ",
        "llmchain_queue_rejections_total 0", "llmchain_http_requests_total{route=\"/v1/completions\",status=\"200\"} 1",
        "llmchain_http_requests_total{route=\"/v1/completions\",status=\"400\"} 1"}) {
    EXPECT_NE(m.find(name), std::string::npos) << "missing: " << name << "\n" << m;
  }
}

TEST_F(EndpointsTest, UnknownRouteAndMethod) {
  auto r = get("/v1/nothing");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "invalid_request_error");
  auto m = get("/v1/chat/completions");
  EXPECT_EQ(m->status, 405);
}

TEST_F(EndpointsTest, UiPage) {
  auto r = get("/");
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("<html>"), std::string::npos);
}

}  // namespace
}  // namespace llmchain::server::test
