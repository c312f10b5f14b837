// engine::Generation: the handle Engine::submit returns (events, callbacks, cancel, result), and
// Engine::generate, the blocking form over it.
#include "engine/generation.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace llmchain::engine {
namespace {

using namespace std::chrono_literals;

TokenEvent token(int32_t id, std::string text) {
  TokenEvent ev;
  ev.token = id;
  ev.text = std::move(text);
  return ev;
}

GenerateResult finished(std::string text, int32_t n) {
  GenerateResult r;
  r.text = std::move(text);
  r.completion_tokens = n;
  r.finish_reason = FinishReason::kStop;
  return r;
}

std::string texts(const std::vector<TokenEvent>& evs) {
  std::string s;
  for (const auto& e : evs) s += e.text;
  return s;
}

TEST(Generation, NextHandsOverEventsInOrderThenDone) {
  auto gen = std::make_shared<Generation>();
  std::thread producer([gen] {
    for (int i = 0; i < 50; ++i) {
      gen->push(token(i, std::to_string(i % 10)));
      if (i % 7 == 0) std::this_thread::sleep_for(1ms);
    }
    gen->finish(finished("x", 50));
  });
  std::vector<TokenEvent> got;
  while (gen->next(got, Generation::Clock::now() + 5s) == Generation::Next::kEvents) {
  }
  producer.join();
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[i].token, i);
  EXPECT_TRUE(gen->done());
  ASSERT_TRUE(gen->result().ok());
  EXPECT_EQ(gen->result()->completion_tokens, 50);
  EXPECT_EQ(gen->next(got, Generation::Clock::now()), Generation::Next::kDone);  // stays done
}

TEST(Generation, NextAndWaitTimeOutWhileNothingHappens) {
  Generation gen;
  std::vector<TokenEvent> got;
  auto t0 = Generation::Clock::now();
  EXPECT_EQ(gen.next(got, t0 + 20ms), Generation::Next::kTimeout);
  EXPECT_GE(Generation::Clock::now() - t0, 20ms);
  EXPECT_FALSE(gen.wait(Generation::Clock::now() + 5ms));
  EXPECT_FALSE(gen.done());
  gen.finish(finished("", 0));
  EXPECT_TRUE(gen.wait(Generation::Clock::now()));
}

TEST(Generation, ConsumingSubscriberGetsTheBacklogThenLiveEventsAndTheEnd) {
  Generation gen;
  gen.push(token(1, "a"));
  gen.push(token(2, "b"));
  std::vector<TokenEvent> seen;
  std::optional<Expected<GenerateResult>> end;
  gen.subscribe(
      {[&](const TokenEvent& ev) { seen.push_back(ev); }, [&](const Expected<GenerateResult>& r) { end = r; }});
  gen.push(token(3, "c"));
  gen.finish(finished("abc", 3));
  EXPECT_EQ(texts(seen), "abc");
  ASSERT_TRUE(end.has_value());
  ASSERT_TRUE(end->ok());
  EXPECT_EQ((*end)->text, "abc");
  std::vector<TokenEvent> pulled;
  EXPECT_EQ(gen.next(pulled, Generation::Clock::now()), Generation::Next::kDone);  // consumed
  EXPECT_TRUE(pulled.empty());
}

TEST(Generation, TapSeesEventsThatStillQueueForNext) {
  Generation gen;
  int tapped = 0;
  bool ended = false;
  gen.subscribe({[&](const TokenEvent&) { ++tapped; }, [&](const Expected<GenerateResult>&) { ended = true; }}, nullptr,
                /*consume=*/false);
  gen.push(token(1, "a"));
  gen.push(token(2, "b"));
  gen.finish(finished("ab", 2));
  EXPECT_EQ(tapped, 2);
  EXPECT_TRUE(ended);
  std::vector<TokenEvent> pulled;
  EXPECT_EQ(gen.next(pulled, Generation::Clock::now()), Generation::Next::kEvents);
  EXPECT_EQ(texts(pulled), "ab");
}

// A strand: tasks run in order on one worker thread.
class Strand {
 public:
  Strand() : worker_([this] { run(); }) {}
  ~Strand() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  Executor executor() {
    return [this](std::function<void()> task) {
      {
        std::lock_guard lock(mu_);
        tasks_.push_back(std::move(task));
      }
      cv_.notify_all();
    };
  }
  std::thread::id id() const { return worker_.get_id(); }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto t = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      t();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread worker_;
};

TEST(Generation, CallbacksRunOnTheChosenExecutorInOrder) {
  Strand strand;
  Generation gen;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int32_t> order;
  bool on_strand = true, ended = false;
  gen.subscribe({[&](const TokenEvent& ev) {
                   std::lock_guard lock(mu);
                   on_strand = on_strand && std::this_thread::get_id() == strand.id();
                   order.push_back(ev.token);
                 },
                 [&](const Expected<GenerateResult>&) {
                   std::lock_guard lock(mu);
                   ended = true;
                   cv.notify_all();
                 }},
                strand.executor());
  for (int i = 0; i < 100; ++i) gen.push(token(i, "t"));
  gen.finish(finished("", 100));
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return ended; }));
  EXPECT_TRUE(on_strand);
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(Generation, CancelByHandleOrByTheRequestToken) {
  Generation by_handle;
  EXPECT_FALSE(by_handle.cancelled());
  by_handle.cancel();
  by_handle.cancel();  // idempotent
  EXPECT_TRUE(by_handle.cancelled());
  EXPECT_TRUE(by_handle.stop_token().stop_requested());

  std::stop_source request;
  Generation linked(request.get_token());
  EXPECT_FALSE(linked.cancelled());
  request.request_stop();
  EXPECT_TRUE(linked.cancelled());

  std::stop_source already;
  already.request_stop();
  Generation born_cancelled(already.get_token());
  EXPECT_TRUE(born_cancelled.cancelled());
}

TEST(Generation, FailedIsFinishedAndLateSubscribersHearTheEnd) {
  auto gen = Generation::failed(Error(ErrorCode::kResourceExhausted, "queue full"));
  EXPECT_TRUE(gen->done());
  ASSERT_FALSE(gen->result().ok());
  EXPECT_EQ(gen->result().error().code(), ErrorCode::kResourceExhausted);
  bool ended = false;
  // The callback holds the handle (as the server's job does); finished generations keep no
  // subscriber, so this is no reference cycle (the sanitizer pass checks for leaks).
  gen->subscribe({nullptr, [&ended, gen](const Expected<GenerateResult>& r) { ended = !r.ok(); }});
  EXPECT_TRUE(ended);
  gen->finish(finished("late", 1));  // finished once: ignored
  EXPECT_FALSE(gen->result().ok());
}

// An engine whose generations run on a thread of the test's (as an engine's decode loop would):
// the script's pieces, then the end, or "cancelled" once the handle is cancelled.
class ScriptEngine : public Engine {
 public:
  explicit ScriptEngine(std::vector<std::string> script) : script_(std::move(script)) {}
  ~ScriptEngine() override {
    for (auto& t : threads_) t.join();
  }
  const ModelInfo& info() const override { return info_; }
  bool ready() const override { return true; }
  Expected<std::vector<int32_t>> tokenize(const std::string&, bool, bool) const override {
    return std::vector<int32_t>{};
  }
  std::string detokenize(const std::vector<int32_t>&) const override { return ""; }
  Expected<std::string> apply_chat_template(const std::vector<ChatMessage>&, bool, const std::string&,
                                            const nlohmann::json&) const override {
    return std::string();
  }
  std::shared_ptr<Generation> submit(GenerateRequest req) override {
    auto gen = std::make_shared<Generation>(req.cancel);
    threads_.emplace_back([gen, script = script_] {
      GenerateResult r;
      r.finish_reason = FinishReason::kStop;
      int32_t id = 0;
      for (const auto& piece : script) {
        if (gen->cancelled()) {
          r.finish_reason = FinishReason::kCancelled;
          break;
        }
        gen->push(token(id++, piece));
        r.text += piece;
        ++r.completion_tokens;
      }
      gen->finish(std::move(r));
    });
    return gen;
  }
  Expected<std::vector<float>> embed(const std::vector<int32_t>&) override { return std::vector<float>{}; }
  EngineStats stats() const override { return {}; }

 private:
  ModelInfo info_{"script"};
  std::vector<std::string> script_;
  std::vector<std::thread> threads_;
};

TEST(EngineGenerate, DrainsTheGenerationOnTheCallersThread) {
  ScriptEngine eng({"Once", " upon", " a", " time"});
  std::string streamed;
  const auto caller = std::this_thread::get_id();
  bool on_caller = true;
  auto r = eng.generate(GenerateRequest{}, [&](const TokenEvent& ev) {
    on_caller = on_caller && std::this_thread::get_id() == caller;
    streamed += ev.text;
    return true;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(on_caller);
  EXPECT_EQ(streamed, "Once upon a time");
  EXPECT_EQ(r->text, streamed);
  EXPECT_EQ(r->finish_reason, FinishReason::kStop);
}

// Stopped by its callback, the result covers exactly what the callback was given, although the
// engine may have gone further before it saw the cancel.
TEST(EngineGenerate, ACallbackThatStopsGetsTheResultItSaw) {
  std::vector<std::string> script(200, "x");
  ScriptEngine eng(script);
  int n = 0;
  auto r = eng.generate(GenerateRequest{}, [&](const TokenEvent&) { return ++n < 3; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(n, 3);
  EXPECT_EQ(r->finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(r->completion_tokens, 3);
  EXPECT_EQ(r->text, "xxx");
}

}  // namespace
}  // namespace llmchain::engine
