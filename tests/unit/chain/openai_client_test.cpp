// OpenAIClient against a tiny httplib server on loopback.
#include "chain/openai_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

namespace llmchain::chain {
namespace {

class FakeServer {
 public:
  FakeServer() {
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    srv_.stop();
    thread_.join();
  }
  httplib::Server& srv() { return srv_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

OpenAIOptions options_for(const FakeServer& s) {
  OpenAIOptions o;
  o.base_url = s.base_url();
  o.model = "test-model";
  o.api_key = "sk-test";
  o.timeout_s = 5;
  o.backoff_initial_s = 0.01;
  o.max_retries = 3;
  return o;
}

Json chat_response(const std::string& text) {
  return {
      {"id", "x"},
      {"object", "chat.completion"},
      {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}}}},
      {"usage", {{"prompt_tokens", 7}, {"completion_tokens", 2}}}};
}

TEST(OpenAIClient, ChatNonStreaming) {
  FakeServer s;
  Json seen;
  std::string auth;
  s.srv().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    seen = Json::parse(req.body);
    auth = req.get_header_value("Authorization");
    res.set_content(chat_response("Hello there").dump(), "application/json");
  });
  OpenAIClient client(options_for(s));
  LlmParams p;
  p.temperature = 0.2f;
  p.max_tokens = 16;
  p.stop = std::vector<std::string>{"\n"};
  p.json_schema = Json{{"type", "object"}};
  auto r = client.generate(LlmInput::from_messages({{"system", "sys"}, {"user", "hi"}}), p);
  EXPECT_EQ(r.text, "Hello there");
  EXPECT_EQ(r.finish_reason, FinishReason::kStop);
  EXPECT_EQ(r.prompt_tokens, 7);
  EXPECT_EQ(r.completion_tokens, 2);
  EXPECT_EQ(auth, "Bearer sk-test");
  EXPECT_EQ(seen["model"], "test-model");
  EXPECT_EQ(seen["messages"].size(), 2u);
  EXPECT_EQ(seen["max_tokens"], 16);
  EXPECT_EQ(seen["stop"], Json::array({"\n"}));
  EXPECT_EQ(seen["stream"], false);
  EXPECT_EQ(seen["response_format"]["type"], "json_schema");
  EXPECT_EQ(seen["response_format"]["json_schema"]["schema"], (Json{{"type", "object"}}));
  // a plain prompt becomes one user message on /chat/completions
  client.generate(LlmInput::text("plain"));
  EXPECT_EQ(seen["messages"], (Json::array({{{"role", "user"}, {"content", "plain"}}})));
}

std::string sse(const std::vector<Json>& events) {
  std::string out;
  for (const auto& e : events) out += "data: " + e.dump() + "\n\n";
  return out + "data: [DONE]\n\n";
}

TEST(OpenAIClient, ChatStreaming) {
  FakeServer s;
  s.srv().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    ASSERT_TRUE(Json::parse(req.body)["stream"].get<bool>());
    auto body = std::make_shared<std::string>(
        ": keep-alive\n\n" + sse({{{"choices", {{{"delta", {{"role", "assistant"}}}}}}},
                                  {{"choices", {{{"delta", {{"content", "Hel"}}}}}}},
                                  {{"choices", {{{"delta", {{"content", "lo"}}}}}}},
                                  {{"choices", {{{"delta", {{"content", " world"}}}, {"finish_reason", "length"}}}}}}));
    // deliver in awkward 7-byte pieces so events straddle chunk boundaries
    res.set_chunked_content_provider("text/event-stream", [body](size_t offset, httplib::DataSink& sink) {
      if (offset >= body->size()) {
        sink.done();
        return true;
      }
      size_t n = std::min<size_t>(7, body->size() - offset);
      sink.write(body->data() + offset, n);
      return true;
    });
  });
  OpenAIClient client(options_for(s));
  std::vector<std::string> pieces;
  auto r = client.stream(LlmInput::from_messages({{"user", "hi"}}), {}, [&](const std::string& p) {
    pieces.push_back(p);
    return true;
  });
  EXPECT_EQ(pieces, (std::vector<std::string>{"Hel", "lo", " world"}));
  EXPECT_EQ(r.text, "Hello world");
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);

  // stopping early from the callback
  pieces.clear();
  auto stopped = client.stream(LlmInput::from_messages({{"user", "hi"}}), {}, [&](const std::string& p) {
    pieces.push_back(p);
    return false;
  });
  EXPECT_EQ(stopped.finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(pieces.size(), 1u);
}

TEST(OpenAIClient, CompletionsEndpointStreaming) {
  FakeServer s;
  s.srv().Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    Json body = Json::parse(req.body);
    EXPECT_EQ(body["prompt"], "Once upon");
    if (!body["stream"].get<bool>()) {
      res.set_content(Json{{"choices", {{{"text", " a time"}, {"finish_reason", "stop"}}}}}.dump(), "application/json");
      return;
    }
    res.set_content(sse({{{"choices", {{{"text", " a"}}}}}, {{"choices", {{{"text", " time"}}}}}}),
                    "text/event-stream");
  });
  auto o = options_for(s);
  o.use_completions_endpoint = true;
  OpenAIClient client(o);
  EXPECT_EQ(client.generate(LlmInput::text("Once upon")).text, " a time");
  std::string streamed;
  auto r = client.stream(LlmInput::text("Once upon"), {}, [&](const std::string& p) {
    streamed += p;
    return true;
  });
  EXPECT_EQ(streamed, " a time");
  EXPECT_EQ(r.text, " a time");
}

TEST(OpenAIClient, RetriesOn503ThenSucceeds) {
  FakeServer s;
  std::atomic<int> calls{0};
  s.srv().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    if (++calls <= 2) {
      res.status = 503;
      res.set_content(R"({"error": {"message": "overloaded"}})", "application/json");
      return;
    }
    res.set_content(chat_response("finally").dump(), "application/json");
  });
  OpenAIClient client(options_for(s));
  EXPECT_EQ(client.generate(LlmInput::text("x")).text, "finally");
  EXPECT_EQ(calls.load(), 3);
  // streaming retries before the first token too
  calls = 0;
  std::string streamed;
  client.stream(LlmInput::text("x"), {}, [&](const std::string& p) {
    streamed += p;
    return true;
  });
  EXPECT_EQ(calls.load(), 3);
}

TEST(OpenAIClient, GivesUpAfterMaxRetriesAndDoesNotRetry4xx) {
  FakeServer s;
  std::atomic<int> calls{0};
  s.srv().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    ++calls;
    bool bad = Json::parse(req.body)["messages"][0]["content"] == "bad";
    res.status = bad ? 400 : 429;
    res.set_content(R"({"error": {"message": "nope"}})", "application/json");
  });
  auto o = options_for(s);
  o.max_retries = 2;
  OpenAIClient client(o);
  try {
    client.generate(LlmInput::text("x"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(std::string(e.what()).find("HTTP 429: nope"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls.load(), 3);
  calls = 0;
  try {
    client.generate(LlmInput::text("bad"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(calls.load(), 1);
}

TEST(OpenAIClient, ConnectionRefusedIsRetriedThenUnavailable) {
  OpenAIOptions o;
  o.base_url = "http://127.0.0.1:1/v1";  // privileged port: nothing listens there
  o.timeout_s = 2;
  o.max_retries = 2;
  o.backoff_initial_s = 0.01;
  OpenAIClient client(o);
  try {
    client.generate(LlmInput::text("x"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
  }
}

TEST(OpenAIClient, Timeout) {
  FakeServer s;
  s.srv().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    res.set_content(chat_response("late").dump(), "application/json");
  });
  auto o = options_for(s);
  o.timeout_s = 0.2;
  OpenAIClient client(o);
  auto start = std::chrono::steady_clock::now();
  try {
    client.generate(LlmInput::text("x"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(700));  // not retried
}

TEST(OpenAIClient, BadBaseUrl) {
  OpenAIOptions o;
  o.base_url = "127.0.0.1:8080";
  EXPECT_THROW(OpenAIClient{o}, Error);
  o.base_url = "ftp://x";
  EXPECT_THROW(OpenAIClient{o}, Error);
}

TEST(SseParser, FieldsAndSplits) {
  std::vector<std::string> events;
  SseParser p([&](const std::string& d) { events.push_back(d); });
  std::string text = "event: x\r\ndata: a\r\ndata: b\r\n\r\n: comment\n\ndata:c\n\ndata: tail";
  for (char c : text) p.feed(&c, 1);
  p.finish();
  EXPECT_EQ(events, (std::vector<std::string>{"a\nb", "c", "tail"}));
}

}  // namespace
}  // namespace llmchain::chain
