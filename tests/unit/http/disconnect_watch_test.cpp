// One thread watches every registered client; on_gone runs once, and never after the
// registration is gone.
#include "http/disconnect_watch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace llmchain::http {
namespace {

using namespace std::chrono_literals;

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds limit = 2000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return f();
}

TEST(DisconnectWatch, RunsOnGoneOnceWhenTheClientLeaves) {
  DisconnectWatch w;
  std::atomic<bool> left{false};
  std::atomic<int> calls{0}, other_calls{0};
  auto a = w.watch([&] { return left.load(); }, [&] { calls++; });
  auto b = w.watch([] { return false; }, [&] { other_calls++; });
  EXPECT_EQ(w.watched(), 2u);
  std::this_thread::sleep_for(3 * DisconnectWatch::kInterval);
  EXPECT_EQ(calls.load(), 0);
  left = true;
  ASSERT_TRUE(eventually([&] { return calls.load() == 1; }));
  std::this_thread::sleep_for(3 * DisconnectWatch::kInterval);
  EXPECT_EQ(calls.load(), 1);  // once, then the entry is dropped
  EXPECT_EQ(other_calls.load(), 0);
  EXPECT_EQ(w.watched(), 1u);
}

TEST(DisconnectWatch, NothingRunsAfterTheRegistrationIsGone) {
  DisconnectWatch w;
  std::atomic<bool> left{false};
  std::atomic<int> calls{0};
  {
    auto r = w.watch([&] { return left.load(); }, [&] { calls++; });
    EXPECT_EQ(w.watched(), 1u);
  }
  EXPECT_EQ(w.watched(), 0u);
  left = true;
  std::this_thread::sleep_for(4 * DisconnectWatch::kInterval);
  EXPECT_EQ(calls.load(), 0);
}

TEST(DisconnectWatch, ManyClientsShareOneThread) {
  DisconnectWatch w;
  std::atomic<int> calls{0};
  std::vector<DisconnectWatch::Registration> regs;
  for (int i = 0; i < 500; ++i) regs.push_back(w.watch([i] { return i % 2 == 0; }, [&] { calls++; }));
  ASSERT_TRUE(eventually([&] { return calls.load() == 250; }));
  EXPECT_EQ(w.watched(), 250u);
  regs.clear();
  EXPECT_EQ(w.watched(), 0u);
}

TEST(DisconnectWatch, NoCheckMeansNoWatch) {
  DisconnectWatch w;
  auto r = w.watch(nullptr, [] {});
  EXPECT_EQ(w.watched(), 0u);
}

}  // namespace
}  // namespace llmchain::http
