// The Responses API store on Redis (server/responses_store.h) against a real redis-server:
// what one gateway stores, another finds; bounded; a clear kUnavailable while Redis is down.
#include <gtest/gtest.h>

#include <cstdlib>

#include "server/responses_store.h"
#include "support/redis_process.h"

namespace llmchain::server {
namespace {

using llmchain::testing::RedisProcess;
using nlohmann::json;

class ResponsesRedisTest : public llmchain::testing::RedisServerTest {
 protected:
  std::shared_ptr<ResponsesStore> open(size_t max_entries = 10000) {
    ResponsesStoreOptions o;
    o.redis_url = url();
    o.max_entries = max_entries;
    auto st = ResponsesStore::open(o);
    EXPECT_TRUE(st.ok()) << st.error().message();
    return *st;
  }
};

TEST_F(ResponsesRedisTest, TwoProcessesShareResponsesAndTheBoundHolds) {
  auto a = open(3), b = open(3);
  for (int i = 0; i < 5; ++i) (i % 2 ? a : b)->put("resp_" + std::to_string(i), {{"id", i}}, json::array({i}));
  EXPECT_EQ(a->size(), 3u);
  EXPECT_FALSE(b->get("resp_0"));
  EXPECT_FALSE(a->get("resp_1"));
  auto got = b->get("resp_3");  // stored by a
  ASSERT_TRUE(got);
  EXPECT_EQ(got->response, json({{"id", 3}}));
  EXPECT_EQ(got->items, json::array({3}));
  EXPECT_TRUE(a->remove("resp_3"));
  EXPECT_FALSE(b->remove("resp_3"));
  EXPECT_FALSE(b->get("resp_3"));
  EXPECT_EQ(b->size(), 2u);
}

TEST_F(ResponsesRedisTest, DownIsUnavailable) {
  auto s = open();
  s->put("resp_x", {{"id", "resp_x"}}, json::array());
  redis_->stop();
  try {
    s->get("resp_x");
    FAIL() << "get succeeded with redis down";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("responses store"), std::string::npos) << e.what();
  }
}

TEST(ResponsesStoreOptionsTest, RedisFromTheEnvironment) {
  ::setenv("LLMCHAIN_RESPONSES_STORE", "redis", 1);
  ::setenv("LLMCHAIN_REDIS_URL", "redis://cache:6390/3", 1);
  auto o = ResponsesStoreOptions::from_env();
  EXPECT_EQ(o.redis_url, "redis://cache:6390/3");
  ::unsetenv("LLMCHAIN_RESPONSES_STORE");
  ::unsetenv("LLMCHAIN_REDIS_URL");
  EXPECT_TRUE(ResponsesStoreOptions::from_env().redis_url.empty() || std::getenv("LLMCHAIN_MEMORY_STORE"));
  ResponsesStoreOptions bad;
  bad.redis_url = "http://nope";
  EXPECT_FALSE(ResponsesStore::open(bad).ok());
}

}  // namespace
}  // namespace llmchain::server
