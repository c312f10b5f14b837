#include "chain/memory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace llmchain::chain {
namespace {

std::string temp_db(const std::string& name) {
  auto p =
      std::filesystem::temp_directory_path() / ("llmchain_chain_" + name + "_" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(p);
  std::filesystem::remove(p.string() + "-wal");
  std::filesystem::remove(p.string() + "-shm");
  return p.string();
}

TEST(Memory, BufferKeepsEverything) {
  ConversationMemory m;
  m.save_turn("s", "q1", "a1");
  m.save_turn("s", "q2", "a2");
  EXPECT_EQ(m.history("s").size(), 4u);
  EXPECT_EQ(m.history_text("s"), "Human: q1\nAI: a1\nHuman: q2\nAI: a2");
  EXPECT_TRUE(m.history("other").empty());
  m.clear("s");
  EXPECT_TRUE(m.history("s").empty());
}

TEST(Memory, EmptySessionIsDefault) {
  ConversationMemory m;
  m.save_turn("", "q", "a");
  EXPECT_EQ(m.history("default").size(), 2u);
}

TEST(Memory, WindowKeepsLastKTurns) {
  MemoryOptions o;
  o.kind = MemoryOptions::Kind::kWindow;
  o.k = 2;
  ConversationMemory m(o);
  for (int i = 0; i < 5; ++i)
    m.save_turn("s", std::string("q") + std::to_string(i), std::string("a") + std::to_string(i));
  auto h = m.history("s");
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0], (Message{"user", "q3"}));
  EXPECT_EQ(h[3], (Message{"assistant", "a4"}));
  EXPECT_EQ(m.store()->load("s").size(), 10u);  // the store keeps everything
}

TEST(Memory, TokenBudgetTrimsOldest) {
  MemoryOptions o;
  o.kind = MemoryOptions::Kind::kTokenBudget;
  o.max_tokens = 5;
  o.counter = [](const std::string& s) { return s.size(); };  // 1 token per byte
  ConversationMemory m(o);
  m.save_turn("s", "aaa", "bb");
  m.save_turn("s", "cc", "d");
  auto h = m.history("s");
  ASSERT_EQ(h.size(), 3u);  // "bb" + "cc" + "d" = 5
  EXPECT_EQ(h[0].content, "bb");
  EXPECT_EQ(approx_token_count("abcdefgh"), 2u);
  EXPECT_EQ(approx_token_count("abcdefghi"), 3u);
  // default counter
  MemoryOptions d;
  d.kind = MemoryOptions::Kind::kTokenBudget;
  d.max_tokens = 2;
  ConversationMemory dm(d);
  dm.save_turn("s", "12345678", "1234");
  EXPECT_EQ(dm.history("s").size(), 1u);
}

TEST(Memory, SqliteSurvivesReopen) {
  std::string path = temp_db("reopen");
  {
    auto store = SqliteHistoryStore::open(path);
    ASSERT_TRUE(store.ok()) << store.error().message();
    ConversationMemory m({}, *store);
    m.save_turn("alice", "hello", "hi alice");
    m.save_turn("bob", "yo", "hey bob");
    m.save_turn("alice", "how are you?", "fine, \"thanks\" 'quoted'");
  }
  auto store = SqliteHistoryStore::open(path);
  ASSERT_TRUE(store.ok());
  ConversationMemory m({}, *store);
  auto h = m.history("alice");
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0], (Message{"user", "hello"}));
  EXPECT_EQ(h[3], (Message{"assistant", "fine, \"thanks\" 'quoted'"}));
  EXPECT_EQ((*store)->sessions(), (std::vector<std::string>{"alice", "bob"}));
  (*store)->clear("alice");
  EXPECT_TRUE(m.history("alice").empty());
  EXPECT_EQ(m.history("bob").size(), 2u);
}

TEST(Memory, SqliteConcurrentAppends) {
  auto store = SqliteHistoryStore::open(temp_db("concurrent"));
  ASSERT_TRUE(store.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) (*store)->append(std::string("s") + std::to_string(t), {{"user", "m"}});
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ((*store)->load(std::string("s") + std::to_string(t)).size(), 10u);
}

TEST(Memory, SqliteOpenErrorIsValue) {
  auto store = SqliteHistoryStore::open("/nonexistent-dir/x/y.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kIo);
  EXPECT_NE(store.error().message().find("/nonexistent-dir/x/y.db"), std::string::npos);
}

TEST(Memory, InvalidWindow) {
  MemoryOptions o;
  o.kind = MemoryOptions::Kind::kWindow;
  o.k = 0;
  EXPECT_THROW(ConversationMemory{o}, Error);
}

}  // namespace
}  // namespace llmchain::chain
