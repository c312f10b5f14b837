#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/mmap_file.h"
#include "base/thread_pool.h"
#include "base/utf8.h"

namespace llmchain {
namespace {

TEST(Expected, ValueAndError) {
  Expected<int> ok = 3;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  Expected<int> bad = Error(ErrorCode::kInvalidArgument, "nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THROW(bad.value(), Error);
}

TEST(Expected, CaptureConvertsThrownErrors) {
  auto r = capture([]() -> int { fail(ErrorCode::kInvalidFile, "bad {}", 7); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "bad 7");
}

TEST(MappedFile, MissingFileNamesPath) {
  auto f = MappedFile::open("/nonexistent/x.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message().find("/nonexistent/x.gguf"), std::string::npos);
  EXPECT_EQ(f.error().code(), ErrorCode::kNotFound);
}

TEST(ThreadPool, ParallelForCoversRangeOnce) {
  ThreadPool pool(4);
  for (int round = 0; round < 100; ++round) {
    std::vector<std::atomic<int>> hits(1000);
    pool.parallel_for(1000, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

TEST(ThreadPool, BarrierOrdersPhases) {
  ThreadPool pool(3);
  std::vector<int> a(3, 0), b(3, 0);
  pool.run([&](int ith, int nth) {
    a[ith] = ith + 1;
    pool.barrier();
    int s = 0;
    for (int i = 0; i < nth; ++i) s += a[i];
    b[ith] = s;
  });
  for (int v : b) EXPECT_EQ(v, 6);
}

// Pauses between jobs let the workers pass from spinning to yielding to the futex wait; every job
// must still run on every thread (a lost wake-up would hang here).
TEST(ThreadPool, WakesSleepingWorkers) {
  ThreadPool pool(3);
  std::atomic<int> calls{0};
  for (int round = 0; round < 40; ++round) {
    if (round % 4 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(round % 8 == 0 ? 20 : 1));
    pool.run([&](int, int) { calls.fetch_add(1); });
    ASSERT_EQ(calls.load(), 3 * (round + 1));
  }
}

TEST(Utf8, DecodeAndTail) {
  std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  auto cps = utf8::to_codepoints(s);
  ASSERT_EQ(cps.size(), 4u);
  EXPECT_EQ(cps[1], 0xE9u);
  EXPECT_EQ(cps[3], 0x1F600u);
  EXPECT_EQ(utf8::from_codepoints(cps), s);
  EXPECT_EQ(utf8::incomplete_tail("ab\xF0\x9F"), 2u);
  EXPECT_EQ(utf8::incomplete_tail("ab\xC3\xA9"), 0u);
  EXPECT_FALSE(utf8::is_valid("\xFF"));
  EXPECT_EQ(utf8::sanitize("a\xFF"), "a\xEF\xBF\xBD");
}

}  // namespace
}  // namespace llmchain
