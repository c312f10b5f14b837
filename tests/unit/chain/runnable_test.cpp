#include "chain/runnable.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "chain/language_model.h"

namespace llmchain::chain {
namespace {

TEST(Runnable, LambdaAndPipe) {
  auto add1 = lambda([](const Json& x) { return x.get<int>() + 1; });
  auto twice = lambda([](const Json& x) { return x.get<int>() * 2; });
  auto seq = add1 | twice | add1;
  EXPECT_EQ(seq->invoke(3), 9);
  auto* s = dynamic_cast<Sequence*>(seq.get());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->steps().size(), 3u);  // flattened
}

TEST(Runnable, LambdaSeesConfig) {
  auto r = lambda([](const Json&, const RunConfig& c) { return Json(c.session_id); });
  RunConfig cfg;
  cfg.session_id = "s1";
  EXPECT_EQ(r->invoke(nullptr, cfg), "s1");
}

TEST(Runnable, ParallelMergesBranches) {
  auto p = std::make_shared<Parallel>(Parallel{{"up", lambda([](const Json& x) { return x.get<int>() + 1; })},
                                               {"down", lambda([](const Json& x) { return x.get<int>() - 1; })}});
  EXPECT_EQ(p->invoke(10), (Json{{"up", 11}, {"down", 9}}));
  auto chain = p | lambda([](const Json& o) { return o["up"].get<int>() * o["down"].get<int>(); });
  EXPECT_EQ(chain->invoke(10), 99);
}

TEST(Runnable, ParallelRunsConcurrently) {
  std::atomic<int> in_flight{0}, peak{0};
  auto slow = lambda([&](const Json& x) {
    int now = ++in_flight;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    --in_flight;
    return x;
  });
  auto p = parallel({{"a", slow}, {"b", slow}, {"c", slow}});
  p->invoke(1);
  EXPECT_GE(peak.load(), 2);
}

TEST(Runnable, ParallelErrorNamesBranch) {
  auto p = parallel(
      {{"ok", passthrough()}, {"bad", lambda([](const Json&) -> Json { fail(ErrorCode::kInvalidArgument, "boom"); })}});
  try {
    p->invoke(1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("branch 'bad': boom"), std::string::npos);
  }
}

TEST(Runnable, BatchKeepsOrderAndBoundsConcurrency) {
  std::atomic<int> in_flight{0}, peak{0};
  auto r = lambda([&](const Json& x) {
    int now = ++in_flight;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --in_flight;
    return x.get<int>() * 10;
  });
  std::vector<Json> inputs;
  for (int i = 0; i < 20; ++i) inputs.push_back(i);
  RunConfig cfg;
  cfg.max_concurrency = 3;
  auto out = r->batch(inputs, cfg);
  ASSERT_EQ(out.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(out[i], i * 10);
  EXPECT_LE(peak.load(), 3);
  EXPECT_GE(peak.load(), 2);
}

TEST(Runnable, BatchEachReportsPerItem) {
  auto r = lambda([](const Json& x) -> Json {
    if (x == 2) fail(ErrorCode::kInvalidArgument, "two");
    return x;
  });
  auto out = r->batch_each({1, 2, 3});
  EXPECT_TRUE(out[0].ok());
  EXPECT_FALSE(out[1].ok());
  EXPECT_EQ(out[1].error().message(), "two");
  EXPECT_THROW(r->batch({1, 2, 3}), Error);
}

TEST(Runnable, RetrySucceedsAfterFailures) {
  int calls = 0;
  auto flaky = lambda([&](const Json& x) -> Json {
    if (++calls < 3) fail(ErrorCode::kUnavailable, "flaky");
    return x;
  });
  EXPECT_EQ(flaky->with_retry(3)->invoke(5), 5);
  EXPECT_EQ(calls, 3);
  calls = -10;
  EXPECT_THROW(flaky->with_retry(2)->invoke(5), Error);
}

TEST(Runnable, RetryDoesNotRetryCancellation) {
  int calls = 0;
  auto r = lambda([&](const Json&) -> Json {
    ++calls;
    fail(ErrorCode::kCancelled, "cancelled");
  });
  EXPECT_THROW(r->with_retry(5)->invoke(1), Error);
  EXPECT_EQ(calls, 1);
}

TEST(Runnable, Fallbacks) {
  auto bad = lambda([](const Json&) -> Json { fail(ErrorCode::kUnavailable, "down"); });
  auto good = lambda([](const Json&) { return Json("fallback"); });
  EXPECT_EQ(bad->with_fallbacks({good})->invoke(1), "fallback");
  EXPECT_THROW(bad->with_fallbacks({bad})->invoke(1), Error);
}

TEST(Runnable, TryInvokeReturnsError) {
  auto bad = lambda([](const Json&) -> Json { fail(ErrorCode::kNotFound, "nope"); });
  auto r = bad->try_invoke(1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

TEST(Runnable, CancellationStopsBeforeRunning) {
  RunConfig cfg;
  cfg.cancel.cancel();
  auto r = passthrough();
  try {
    r->invoke(1, cfg);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled);
  }
}

TEST(Runnable, CancellationDuringModelCall) {
  auto llm = std::make_shared<FakeLLM>(std::vector<std::string>{"slow answer"});
  llm->set_latency(std::chrono::milliseconds(2000));
  RunConfig cfg;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cfg.cancel.cancel();
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(llm->bind()->invoke("hi", cfg), Error);
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1000));
}

TEST(Runnable, StreamThroughSequence) {
  auto llm = std::make_shared<FakeLLM>(std::vector<std::string>{"one two three"});
  int upstream_calls = 0;
  auto pre = lambda([&](const Json& x) {
    ++upstream_calls;
    return x;
  });
  auto post = lambda([](const Json& x) { return Json(x.get<std::string>() + "!"); });
  auto chain = pre | llm->bind() | post;
  EXPECT_TRUE(chain->can_stream());
  std::vector<std::string> chunks;
  Json out = chain->stream("q", [&](const Json& c) { chunks.push_back(c.get<std::string>()); });
  EXPECT_EQ(chunks, (std::vector<std::string>{"one", " two", " three"}));
  EXPECT_EQ(out, "one two three!");
  EXPECT_EQ(upstream_calls, 1);
}

TEST(Runnable, StreamWithoutStreamingStepEmitsOnce) {
  auto r = lambda([](const Json& x) { return x; }) | lambda([](const Json& x) { return Json(x.dump()); });
  std::vector<Json> chunks;
  r->stream(7, [&](const Json& c) { chunks.push_back(c); });
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0], "7");
}

}  // namespace
}  // namespace llmchain::chain

namespace llmchain::chain {
namespace {

// Copies share one cancellation; what waits on it wakes when it is cancelled instead of polling.
TEST(CancellationToken, CopiesShareItAndSleepsEndAtTheCancel) {
  CancellationToken a;
  CancellationToken b = a;
  std::stop_token st = a.token();
  EXPECT_FALSE(b.cancelled());
  EXPECT_TRUE(a.sleep_for(std::chrono::milliseconds(1)));  // not cancelled: slept it all
  std::thread canceller([b] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    b.cancel();
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(a.sleep_for(std::chrono::seconds(30)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  canceller.join();
  EXPECT_TRUE(a.cancelled());
  EXPECT_TRUE(st.stop_requested()) << "the engine's stop_token sees it too";
  EXPECT_THROW(a.throw_if_cancelled(), Error);
  EXPECT_FALSE(CancellationToken().cancelled()) << "a new token is its own";
}

}  // namespace
}  // namespace llmchain::chain
