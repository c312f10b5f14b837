#pragma once
// Chain memory in Redis, so several server processes (gateway replicas) share one session's
// history and it survives their restarts. One list per session, `<key_prefix><session id>`,
// each element a message as JSON ({"role","content"}); RPUSH appends, LRANGE loads, and with a
// ttl every append renews the session's expiry. The connection opens on first use and again
// after a failure; while Redis is unreachable every call throws Error(kUnavailable) naming the
// server (the chain routes answer 503), and the next call tries again.
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "chain/memory.h"

struct redisContext;

namespace llmchain::chain {

struct RedisStoreOptions {
  // redis://[[user]:password@]host[:port][/db]  (port 6379, db 0 when absent)
  std::string url = "redis://127.0.0.1:6379";
  std::string key_prefix = "llmchain:memory:";
  std::chrono::seconds ttl{0};              // 0: sessions never expire
  std::chrono::milliseconds timeout{2000};  // connect and per-command
};

// A parsed redis:// URL.
struct RedisAddress {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user, password;
  // Throws Error(kInvalidArgument) for anything but redis://host[:port][/db] with optional userinfo.
  static RedisAddress parse(const std::string& url);
  // The URL without its password, for messages and logs.
  std::string display() const;
};

class RedisHistoryStore : public HistoryStore {
 public:
  // Checks the options (the URL parses); connects on first use.
  static Expected<std::shared_ptr<RedisHistoryStore>> open(RedisStoreOptions options);
  ~RedisHistoryStore() override;
  RedisHistoryStore(const RedisHistoryStore&) = delete;
  RedisHistoryStore& operator=(const RedisHistoryStore&) = delete;

  std::vector<Message> load(const std::string& session_id) override;
  void append(const std::string& session_id, const std::vector<Message>& messages) override;
  void clear(const std::string& session_id) override;
  std::vector<std::string> sessions() override;
  const RedisStoreOptions& options() const { return options_; }

 private:
  RedisHistoryStore(RedisStoreOptions options, RedisAddress address)
      : options_(std::move(options)), address_(std::move(address)) {}
  struct Reply;
  // Runs one command (binary-safe arguments), opening the connection first if needed.
  Reply command(const std::vector<std::string>& args);
  Reply exec(const std::vector<std::string>& args);  // on the open connection; null reply on I/O errors
  void connect();
  void drop();
  [[noreturn]] void unavailable(const std::string& why);

  RedisStoreOptions options_;
  RedisAddress address_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;
};

}  // namespace llmchain::chain
