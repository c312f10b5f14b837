#pragma once
// Chain memory in Redis, so several server processes (gateway replicas) share one session's
// history and it survives their restarts. One list per session, `<key_prefix><session id>`,
// each element a message as JSON ({"role","content"}); RPUSH appends, LRANGE loads, and with a
// ttl every append renews the session's expiry. The connection opens on first use and again
// after a failure; while Redis is unreachable every call throws Error(kUnavailable) naming the
// server (the chain routes answer 503), and the next call tries again.
#include <chrono>
#include <string>
#include <vector>

#include "base/error.h"
#include "chain/memory.h"
#include "chain/redis_client.h"

namespace llmchain::chain {

struct RedisStoreOptions {
  // redis://[[user]:password@]host[:port][/db]  (port 6379, db 0 when absent)
  std::string url = "redis://127.0.0.1:6379";
  std::string key_prefix = "llmchain:memory:";
  std::chrono::seconds ttl{0};              // 0: sessions never expire
  std::chrono::milliseconds timeout{2000};  // connect and per-command
};

class RedisHistoryStore : public HistoryStore {
 public:
  // Checks the options (the URL parses); connects on first use.
  static Expected<std::shared_ptr<RedisHistoryStore>> open(RedisStoreOptions options);
  ~RedisHistoryStore() override = default;
  RedisHistoryStore(const RedisHistoryStore&) = delete;
  RedisHistoryStore& operator=(const RedisHistoryStore&) = delete;

  std::vector<Message> load(const std::string& session_id) override;
  void append(const std::string& session_id, const std::vector<Message>& messages) override;
  void clear(const std::string& session_id) override;
  std::vector<std::string> sessions() override;
  const RedisStoreOptions& options() const { return options_; }

 private:
  RedisHistoryStore(RedisStoreOptions options, RedisAddress address, std::chrono::milliseconds timeout);

  RedisStoreOptions options_;
  RedisClient client_;
};

// Every key that starts with `prefix` (SCAN, the prefix matched literally).
std::vector<std::string> redis_keys(RedisClient& client, const std::string& prefix, const char* what);

}  // namespace llmchain::chain
