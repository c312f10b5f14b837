// Chain memory in Redis (chain/redis_store.h) against a real redis-server started on a free
// loopback port for each test (Debian's redis-server; the tests skip where it is missing).
#include "chain/redis_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "chain/language_model.h"
#include "chain/lazy_llm.h"
#include "chain/llm_chain.h"
#include "chain/yaml_loader.h"
#include "support/redis_process.h"

namespace llmchain::chain {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::RedisProcess;

class RedisStoreTest : public testing::RedisServerTest {
 protected:
  std::shared_ptr<RedisHistoryStore> store(const std::string& prefix = "t:", int ttl = 0) {
    RedisStoreOptions o;
    o.url = url();
    o.key_prefix = prefix;
    o.ttl = std::chrono::seconds(ttl);
    return *RedisHistoryStore::open(o);
  }
};

TEST(RedisAddress, ParsesUrlsAndHidesThePassword) {
  auto a = RedisAddress::parse("redis://127.0.0.1");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.db, 0);
  auto b = RedisAddress::parse("redis://app:s3cret@redis.default.svc:6380/2");
  EXPECT_EQ(b.host, "redis.default.svc");
  EXPECT_EQ(b.port, 6380);
  EXPECT_EQ(b.db, 2);
  EXPECT_EQ(b.user, "app");
  EXPECT_EQ(b.password, "s3cret");
  EXPECT_EQ(b.display().find("s3cret"), std::string::npos);
  auto c = RedisAddress::parse("redis://:pw@[::1]:7000");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 7000);
  EXPECT_EQ(c.password, "pw");
  for (const char* bad :
       {"http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h:port", "redis://h/x", "redis://[::1"}) {
    EXPECT_THROW(RedisAddress::parse(bad), Error) << bad;
  }
}

TEST_F(RedisStoreTest, KeepsSessionsApartAndInOrder) {
  auto s = store();
  EXPECT_TRUE(s->load("a").empty());
  s->append("a", {{"user", "hi"}, {"assistant", "hello"}});
  s->append("b", {{"user", "other"}});
  s->append("a", {{"user", "unicode: \xc3\xa9\xe2\x82\xac \"quoted\"\nnew line"}});
  EXPECT_EQ(s->load("a"), (std::vector<Message>{{"user", "hi"},
                                                {"assistant", "hello"},
                                                {"user", "unicode: \xc3\xa9\xe2\x82\xac \"quoted\"\nnew line"}}));
  EXPECT_EQ(s->load("b").size(), 1u);
  auto ids = s->sessions();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b"}));
  s->clear("a");
  EXPECT_TRUE(s->load("a").empty());
  EXPECT_EQ(s->sessions(), (std::vector<std::string>{"b"}));
  // Another prefix is another namespace.
  EXPECT_TRUE(store("other:")->sessions().empty());
}

// Two processes' stores (two gateway replicas) serve one session's turns alternately.
TEST_F(RedisStoreTest, TwoStoresShareOneSession) {
  auto first = store(), second = store();
  for (int turn = 0; turn < 4; ++turn) {
    auto& s = turn % 2 == 0 ? first : second;
    EXPECT_EQ(s->load("shared").size(), static_cast<size_t>(2 * turn));
    s->append("shared", {{"user", "q" + std::to_string(turn)}, {"assistant", "a" + std::to_string(turn)}});
  }
  auto all = first->load("shared");
  ASSERT_EQ(all.size(), 8u);
  EXPECT_EQ(all[6].content, "q3");
}

TEST_F(RedisStoreTest, TtlExpiresIdleSessions) {
  auto s = store("ttl:", 1);
  s->append("short", {{"user", "x"}});
  EXPECT_EQ(s->load("short").size(), 1u);
  std::this_thread::sleep_for(2200ms);
  EXPECT_TRUE(s->load("short").empty());
}

// Redis down: every call is a clear kUnavailable naming the server; back up: it reconnects.
TEST_F(RedisStoreTest, DownIsUnavailableAndItReconnects) {
  auto s = store();
  s->append("x", {{"user", "before"}});
  redis_->stop();
  try {
    s->load("x");
    FAIL() << "load succeeded with redis down";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port_)), std::string::npos) << e.what();
  }
  EXPECT_THROW(s->append("x", {{"user", "lost"}}), Error);
  redis_ = std::make_unique<RedisProcess>(port_, false, redis_->dir());
  ASSERT_TRUE(redis_->running());
  s->append("x", {{"user", "after"}});  // no persistence configured: only the new turn
  EXPECT_EQ(s->load("x"), (std::vector<Message>{{"user", "after"}}));
}

// With the append-only file on, a restarted Redis has every turn.
TEST_F(RedisStoreTest, HistorySurvivesARestartWithAof) {
  redis_->stop();
  const fs::path dir = redis_->dir();
  redis_ = std::make_unique<RedisProcess>(port_, true, dir);
  ASSERT_TRUE(redis_->running());
  auto s = store();
  s->append("kept", {{"user", "one"}, {"assistant", "two"}});
  redis_->stop();
  redis_ = std::make_unique<RedisProcess>(port_, true, dir);
  ASSERT_TRUE(redis_->running());
  EXPECT_EQ(s->load("kept"), (std::vector<Message>{{"user", "one"}, {"assistant", "two"}}));
}

// The YAML path: `store: redis` with url / key_prefix / ttl, and LLMCHAIN_MEMORY_STORE=redis
// moving a file's sqlite memory into Redis, shared by two loaded configs (two processes).
TEST_F(RedisStoreTest, YamlChainsShareMemoryThroughRedis) {
  const fs::path dir = redis_->dir() / "conf";
  fs::create_directories(dir);
  const std::string yaml = R"(
models:
  m: {type: fake, responses: [R]}
chains:
  chat:
    model: m
    prompt: "{history}|{input}"
    memory: {type: window, k: 4, store: sqlite, path: chat.db}
)";
  std::ofstream(dir / "chains.yaml") << yaml;
  LoadOptions o;
  o.getenv = [&](const std::string& k) {
    if (k == "LLMCHAIN_MEMORY_STORE") return std::string("redis");
    if (k == "LLMCHAIN_REDIS_URL") return url();
    return std::string();
  };
  auto a = load_chain_config((dir / "chains.yaml").string(), o);
  auto b = load_chain_config((dir / "chains.yaml").string(), o);
  ASSERT_TRUE(a.ok()) << a.error().message();
  ASSERT_TRUE(b.ok()) << b.error().message();
  RunConfig rc;
  rc.session_id = "s1";
  ASSERT_TRUE(a->registry->invoke("chat", "hello", rc).ok());
  ASSERT_TRUE(b->registry->invoke("chat", "again", rc).ok());
  auto fake = std::dynamic_pointer_cast<FakeLLM>(b->models.at("m"));
  ASSERT_TRUE(fake);
  EXPECT_EQ(fake->last_call().input.prompt, "Human: hello\nAI: R|again");
  EXPECT_FALSE(fs::exists(dir / "chat.db"));  // nothing went to SQLite
  EXPECT_EQ(store("llmchain:chat:")->load("s1").size(), 4u);

  // Explicit store: redis; a bad ttl or url names the field.
  auto explicit_cfg = load_chain_config_string(
      "models: {m: {type: fake}}\nchains:\n  c:\n    model: m\n    prompt: \"{history}{input}\"\n"
      "    memory: {store: redis, url: \"" +
          url() + "\", key_prefix: \"x:\", ttl: 60}\n",
      (dir / "x.yaml").string());
  ASSERT_TRUE(explicit_cfg.ok()) << explicit_cfg.error().message();
  ASSERT_TRUE(explicit_cfg->registry->invoke("c", "hi", rc).ok());
  EXPECT_EQ(store("x:")->load("s1").size(), 2u);
  auto bad_ttl = load_chain_config_string(
      "models: {m: {type: fake}}\nchains:\n  c:\n    model: m\n    prompt: \"{input}\"\n"
      "    memory: {store: redis, ttl: -5}\n",
      (dir / "y.yaml").string());
  ASSERT_FALSE(bad_ttl.ok());
  EXPECT_NE(bad_ttl.error().message().find("ttl"), std::string::npos) << bad_ttl.error().message();
  auto bad_url = load_chain_config_string(
      "models: {m: {type: fake}}\nchains:\n  c:\n    model: m\n    prompt: \"{input}\"\n"
      "    memory: {store: redis, url: \"http://nope\"}\n",
      (dir / "z.yaml").string());
  ASSERT_FALSE(bad_url.ok());
  EXPECT_NE(bad_url.error().message().find("url"), std::string::npos) << bad_url.error().message();
}

// A chain whose memory is in Redis fails with kUnavailable while Redis is down (the chain
// routes answer 503), and works again once it is back.
TEST_F(RedisStoreTest, ChainWithMemoryIsUnavailableWhileRedisIsDown) {
  auto cfg = load_chain_config_string(
      "models: {m: {type: fake, responses: [R]}}\nchains:\n  c:\n    model: m\n    prompt: \"{history}{input}\"\n"
      "    memory: {store: redis, url: \"" +
          url() + "\"}\n  plain:\n    model: m\n    prompt: \"{input}\"\n",
      "mem.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  RunConfig rc;
  rc.session_id = "s";
  redis_->stop();
  auto down = cfg->registry->invoke("c", "hi", rc);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(cfg->registry->invoke("plain", "hi", rc).ok());  // chains without memory are unaffected
  redis_ = std::make_unique<RedisProcess>(port_, false, redis_->dir());
  ASSERT_TRUE(redis_->running());
  EXPECT_TRUE(cfg->registry->invoke("c", "hi", rc).ok());
}

}  // namespace
}  // namespace llmchain::chain
