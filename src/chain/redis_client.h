#pragma once
// A connection to Redis for the stores that keep shared state there (chain memory, the
// Responses API store): opened on first use and again after a failure, one command at a time
// under a mutex, binary-safe arguments. While Redis is unreachable (or still loading its data
// after a restart) every command throws Error(kUnavailable) naming the server, never its
// password; a connection that a Redis restart closed is reopened and the command sent once
// more.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"

struct redisContext;
struct redisReply;

namespace llmchain::chain {

// A parsed redis:// URL.
struct RedisAddress {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user, password;
  // redis://[[user]:password@]host[:port][/db]; throws Error(kInvalidArgument) otherwise.
  static RedisAddress parse(const std::string& url);
  // The URL without its password, for messages and logs.
  std::string display() const;
};

// A reply: nil, an integer, a string (bulk or status) or an array of replies.
struct RedisValue {
  enum class Type { kNil, kInteger, kString, kArray } type = Type::kNil;
  int64_t integer = 0;
  std::string str;
  std::vector<RedisValue> elements;
};

class RedisClient {
 public:
  // Checks the URL; connects on the first command.
  RedisClient(RedisAddress address, std::chrono::milliseconds timeout);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command. An error reply or a failed connection throws Error(kUnavailable) with
  // `what` and the server in the message.
  RedisValue command(const std::vector<std::string>& args, const char* what = "redis");
  const RedisAddress& address() const { return address_; }

 private:
  redisReply* exec(const std::vector<std::string>& args);
  void connect(const char* what);
  void drop();
  [[noreturn]] void unavailable(const char* what, const std::string& why);

  RedisAddress address_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;
};

}  // namespace llmchain::chain
