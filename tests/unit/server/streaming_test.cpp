// SSE streaming, concurrency, client abort and graceful shutdown.
#include <atomic>
#include <chrono>
#include <thread>

#include "server/api.h"
#include "server_fixture.h"

namespace llmchain::server::test {
namespace {

using namespace std::chrono_literals;

class StreamingTest : public ServerFixture {};

TEST_F(StreamingTest, ChatChunkSequence) {
  start();
  auto s = post_stream("/v1/chat/completions",
                       json{{"messages", {{{"role", "user"}, {"content", "echo: abc"}}}}, {"stream", true}});
  ASSERT_EQ(s.status, 200) << s.raw;
  EXPECT_NE(s.content_type.find("text/event-stream"), std::string::npos);
  ASSERT_GE(s.events.size(), 3u);
  EXPECT_EQ(s.events.back(), "[DONE]");
  auto chunks = s.chunks();
  std::string id = chunks[0]["id"];
  EXPECT_EQ(id.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(chunks[0]["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto& c = chunks[i];
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["id"], id);
    EXPECT_FALSE(c.contains("usage"));
    EXPECT_EQ(c["choices"][0]["index"], 0);
    if (i > 0) {
      EXPECT_FALSE(c["choices"][0]["delta"].contains("role"));
    }
    if (i + 1 < chunks.size()) {
      EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
      text += c["choices"][0]["delta"].value("content", "");
    }
  }
  EXPECT_EQ(text, "abc");
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(chunks.back()["choices"][0]["delta"].empty());
}

TEST_F(StreamingTest, IncludeUsage) {
  start();
  auto s = post_stream("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "echo: abcd"}}}},
                                                    {"stream", true},
                                                    {"max_tokens", 2},
                                                    {"stream_options", {{"include_usage", true}}}});
  auto chunks = s.chunks();
  ASSERT_GE(chunks.size(), 3u);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    ASSERT_TRUE(chunks[i].contains("usage"));
    EXPECT_TRUE(chunks[i]["usage"].is_null());
  }
  const auto& last = chunks.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["completion_tokens"], 2);
  EXPECT_GT(last["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(s.events.back(), "[DONE]");
}

TEST_F(StreamingTest, CompletionChunksAndStops) {
  start();
  auto s = post_stream("/v1/completions",
                       json{{"prompt", "echo: hello world"}, {"stream", true}, {"stop", "wor"}, {"logprobs", 0}});
  auto chunks = s.chunks();
  std::string text;
  for (const auto& c : chunks) {
    EXPECT_EQ(c["object"], "text_completion");
    text += c["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, "hello ");
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(chunks[0]["choices"][0]["logprobs"].contains("token_logprobs"));
}

TEST_F(StreamingTest, StreamingErrorsBeforeFirstChunkAreHttpErrors) {
  start({}, {.n_ctx = 32});
  auto s = post_stream("/v1/completions", json{{"prompt", std::string(40, 'x')}, {"stream", true}});
  EXPECT_EQ(s.status, 400);
  EXPECT_NE(s.raw.find("context_length_exceeded"), std::string::npos);
}

TEST_F(StreamingTest, ConcurrentStreams) {
  start({.parallel = 4}, {.parallel = 4, .token_delay_ms = 2});
  constexpr int kClients = 32;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      std::string want = "client" + std::to_string(i);
      auto s = post_stream("/v1/chat/completions",
                           json{{"messages", {{{"role", "user"}, {"content", "echo: " + want}}}}, {"stream", true}});
      std::string text;
      for (const auto& c : s.chunks()) {
        if (!c["choices"].empty()) text += c["choices"][0]["delta"].value("content", "");
      }
      if (s.status == 200 && text == want && !s.events.empty() && s.events.back() == "[DONE]") {
        ok++;
      } else {
        ADD_FAILURE() << "client " << i << " status " << s.status << " " << s.error << " text '" << text
                      << "' raw: " << s.raw;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients);
  EXPECT_EQ(engine_->running(), 0);
}

TEST_F(StreamingTest, ConcurrentNonStreaming) {
  start({.parallel = 2}, {.parallel = 2, .token_delay_ms = 1});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      auto r = post("/v1/completions", json{{"prompt", "echo: n" + std::to_string(i)}});
      if (r && r->status == 200 && json::parse(r->body)["choices"][0]["text"] == "n" + std::to_string(i)) ok++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16);
}

TEST_F(StreamingTest, ClientAbortCancelsOnlyThatSequence) {
  start({.parallel = 2}, {.parallel = 2, .token_delay_ms = 20});
  std::string long_text(200, 'z');
  // A second, unaffected stream runs alongside.
  std::thread other([&] {
    auto s = post_stream("/v1/completions", json{{"prompt", "echo: " + std::string(30, 'k')}, {"stream", true}});
    EXPECT_EQ(s.events.back(), "[DONE]");
  });
  auto s = post_stream("/v1/completions", json{{"prompt", "echo: " + long_text}, {"stream", true}}, 3);
  EXPECT_LE(s.events.size(), 5u);
  for (int i = 0; i < 100 && engine_->cancelled_total() == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(engine_->cancelled_total(), 1);
  other.join();
  EXPECT_EQ(engine_->cancelled_total(), 1);
  for (int i = 0; i < 100 && engine_->running() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(engine_->running(), 0);
  expect_still_serving();
}

// A non-streaming request writes nothing until it is done, so the server must notice the closed
// connection by itself: the sequence is cancelled and the only slot goes to the next request.
TEST_F(StreamingTest, NonStreamingClientDisconnectFreesTheSlot) {
  start({.parallel = 1}, {.parallel = 1, .token_delay_ms = 20});
  const std::string long_text(300, 'z');  // 6 s of tokens
  for (const char* path : {"/v1/completions", "/v1/chat/completions"}) {
    SCOPED_TRACE(path);
    const int64_t cancelled_before = engine_->cancelled_total();
    json body = std::string(path) == "/v1/completions"
                    ? json{{"prompt", "echo: " + long_text}}
                    : json{{"messages", {{{"role", "user"}, {"content", "echo: " + long_text}}}}};
    {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(0, 300 * 1000);  // gives up (and closes the connection) after 300 ms
      auto r = c.Post(path, body.dump(), "application/json");
      EXPECT_FALSE(r) << "the generation should have outlived the client's patience";
    }
    const auto gone_at = std::chrono::steady_clock::now();
    for (int i = 0; i < 200 && engine_->running() > 0; ++i) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(engine_->running(), 0);
    EXPECT_EQ(engine_->cancelled_total(), cancelled_before + 1);
    EXPECT_LT(std::chrono::steady_clock::now() - gone_at, 500ms) << "freed within a few decode steps";
    auto m = get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find("\nllmchain_requests_running 0\n"), std::string::npos) << m->body;
    // The single slot serves the next request at once.
    auto next = post("/v1/completions", json{{"prompt", "echo: next"}, {"max_tokens", 8}});
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 200);
    EXPECT_EQ(json::parse(next->body)["choices"][0]["text"], "next");
  }
}

// A client that stays connected through a long non-streaming generation is not mistaken for gone.
TEST_F(StreamingTest, NonStreamingPatientClientGetsItsAnswer) {
  start({.parallel = 1}, {.parallel = 1, .token_delay_ms = 5});
  auto r = post("/v1/completions", json{{"prompt", "echo: " + std::string(60, 'p')}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["choices"][0]["text"], std::string(60, 'p'));
  EXPECT_EQ(engine_->cancelled_total(), 0);
}

TEST_F(StreamingTest, SlowClientDoesNotBlockEngine) {
  // The engine finishes generating even though the client reads nothing for a while.
  start({}, {.token_delay_ms = 0});
  auto cli = client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = json{{"prompt", "echo: " + std::string(300, 's')}, {"stream", true}}.dump();
  req.set_header("Content-Type", "application/json");
  bool first = true;
  std::string raw;
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    if (first) {
      first = false;
      // While we sleep, the engine must run to completion.
      for (int i = 0; i < 100 && engine_->running() > 0; ++i) std::this_thread::sleep_for(10ms);
      EXPECT_EQ(engine_->running(), 0);
    }
    raw.append(d, n);
    return true;
  };
  auto res = cli->send(req);
  ASSERT_TRUE(res);
  EXPECT_EQ(parse_sse(raw).back(), "[DONE]");
}

TEST_F(StreamingTest, GracefulShutdownFinishesInFlight) {
  start({.shutdown_grace_s = 5}, {.token_delay_ms = 10});
  SseResult s;
  std::thread t([&] {
    s = post_stream("/v1/completions", json{{"prompt", "echo: " + std::string(40, 'g')}, {"stream", true}});
  });
  for (int i = 0; i < 200 && engine_->running() == 0; ++i) std::this_thread::sleep_for(5ms);
  std::thread stopper([&] { EXPECT_TRUE(server_->shutdown()); });
  std::this_thread::sleep_for(50ms);
  // Not ready while draining; new work is refused.
  auto ready = get("/health/ready");
  if (ready) {
    EXPECT_EQ(ready->status, 503);
  }
  t.join();
  stopper.join();
  ASSERT_FALSE(s.events.empty());
  EXPECT_EQ(s.events.back(), "[DONE]");
  // The listener is closed afterwards.
  auto after = client()->Get("/health/live");
  EXPECT_FALSE(after);
}

TEST_F(StreamingTest, GracefulShutdownCancelsAfterGrace) {
  start({.shutdown_grace_s = 0.2}, {.token_delay_ms = 20});
  std::thread t([&] {
    post_stream("/v1/completions", json{{"prompt", "echo: " + std::string(300, 'c')}, {"stream", true}});
  });
  for (int i = 0; i < 200 && engine_->running() == 0; ++i) std::this_thread::sleep_for(5ms);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(server_->shutdown());  // stragglers are cancelled and finish
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(engine_->cancelled_total(), 1);
  t.join();
}

}  // namespace
}  // namespace llmchain::server::test
