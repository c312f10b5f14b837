#include "chain/redis_store.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <charconv>
#include <memory>

#include "base/json_util.h"
#include "base/log.h"

namespace llmchain::chain {

namespace {

int parse_int(std::string_view s, int lo, int hi, const std::string& url, const char* what) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) {
    fail(ErrorCode::kInvalidArgument, "redis url '{}': the {} is not a number from {} to {}", url, what, lo, hi);
  }
  return v;
}

}  // namespace

RedisAddress RedisAddress::parse(const std::string& url) {
  constexpr std::string_view kScheme = "redis://";
  std::string_view rest(url);
  if (rest.substr(0, kScheme.size()) != kScheme) {
    fail(ErrorCode::kInvalidArgument, "redis url '{}' must start with redis://", url);
  }
  rest.remove_prefix(kScheme.size());
  RedisAddress a;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    size_t colon = userinfo.find(':');
    a.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) a.password = std::string(userinfo.substr(colon + 1));
  }
  std::string_view hostport = rest;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) a.db = parse_int(db, 0, 1 << 20, url, "database");
  }
  if (!hostport.empty() && hostport.front() == '[') {  // [ipv6]:port
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) fail(ErrorCode::kInvalidArgument, "redis url '{}': unclosed [", url);
    a.host = std::string(hostport.substr(1, close - 1));
    hostport.remove_prefix(close + 1);
    if (!hostport.empty()) {
      if (hostport.front() != ':') fail(ErrorCode::kInvalidArgument, "redis url '{}': expected :port after ]", url);
      a.port = parse_int(hostport.substr(1), 1, 65535, url, "port");
    }
  } else {
    size_t colon = hostport.rfind(':');
    a.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) a.port = parse_int(hostport.substr(colon + 1), 1, 65535, url, "port");
  }
  if (a.host.empty()) fail(ErrorCode::kInvalidArgument, "redis url '{}' has no host", url);
  return a;
}

std::string RedisAddress::display() const {
  std::string host_part = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string userinfo = user.empty() && password.empty() ? "" : (user + (password.empty() ? "" : ":***") + "@");
  return fmt::format("redis://{}{}:{}/{}", userinfo, host_part, port, db);
}

struct RedisHistoryStore::Reply {
  std::unique_ptr<redisReply, void (*)(void*)> r{nullptr, freeReplyObject};
  const redisReply* operator->() const { return r.get(); }
};

Expected<std::shared_ptr<RedisHistoryStore>> RedisHistoryStore::open(RedisStoreOptions options) {
  return capture([&] {
    RedisAddress address = RedisAddress::parse(options.url);
    if (options.key_prefix.empty()) fail(ErrorCode::kInvalidArgument, "redis key_prefix must not be empty");
    return std::shared_ptr<RedisHistoryStore>(new RedisHistoryStore(std::move(options), std::move(address)));
  });
}

RedisHistoryStore::~RedisHistoryStore() { drop(); }

void RedisHistoryStore::drop() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisHistoryStore::unavailable(const std::string& why) {
  drop();  // the next call connects afresh
  fail(ErrorCode::kUnavailable, "memory store {}: {}", address_.display(), why);
}

void RedisHistoryStore::connect() {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(options_.timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((options_.timeout.count() % 1000) * 1000);
  ctx_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
  if (!ctx_) unavailable("cannot allocate a connection");
  if (ctx_->err) unavailable(ctx_->errstr);
  redisSetTimeout(ctx_, tv);
  auto check = [&](const std::vector<std::string>& args) {
    Reply r = exec(args);
    if (!r.r) unavailable(ctx_->errstr[0] ? ctx_->errstr : "the connection failed");
    if (r->type == REDIS_REPLY_ERROR) unavailable(std::string(r->str, r->len));
  };
  if (!address_.password.empty()) {
    if (address_.user.empty()) {
      check({"AUTH", address_.password});
    } else {
      check({"AUTH", address_.user, address_.password});
    }
  }
  if (address_.db != 0) check({"SELECT", std::to_string(address_.db)});
}

RedisHistoryStore::Reply RedisHistoryStore::exec(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  Reply r;
  r.r.reset(static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data())));
  return r;
}

RedisHistoryStore::Reply RedisHistoryStore::command(const std::vector<std::string>& args) {
  // A connection kept from earlier may have been closed by a Redis restart: that first failure
  // reconnects and tries once more (the command never reached the new server).
  const bool reused = ctx_ != nullptr;
  if (!ctx_) connect();
  Reply r = exec(args);
  if (!r.r && reused) {
    drop();
    connect();
    r = exec(args);
  }
  if (!r.r) unavailable(ctx_ && ctx_->errstr[0] ? ctx_->errstr : "the connection failed");
  return r;
}

std::vector<Message> RedisHistoryStore::load(const std::string& session_id) {
  std::lock_guard lock(mu_);
  Reply r = command({"LRANGE", options_.key_prefix + session_id, "0", "-1"});
  if (r->type == REDIS_REPLY_ERROR) unavailable(std::string(r->str, r->len));
  std::vector<Message> out;
  if (r->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    if (e->type != REDIS_REPLY_STRING) continue;
    auto j = nlohmann::json::parse(std::string_view(e->str, e->len), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("role") || !j.contains("content") || !j["role"].is_string() ||
        !j["content"].is_string()) {
      LLMC_LOG_WARN("memory store {}: skipping a malformed message in session '{}'", address_.display(), session_id);
      continue;
    }
    out.push_back(Message{j["role"].get<std::string>(), j["content"].get<std::string>()});
  }
  return out;
}

void RedisHistoryStore::append(const std::string& session_id, const std::vector<Message>& messages) {
  if (messages.empty()) return;
  std::lock_guard lock(mu_);
  const std::string key = options_.key_prefix + session_id;
  std::vector<std::string> args{"RPUSH", key};
  for (const auto& m : messages) args.push_back(json_text({{"role", m.role}, {"content", m.content}}));
  Reply r = command(args);
  if (r->type == REDIS_REPLY_ERROR) unavailable(std::string(r->str, r->len));
  if (options_.ttl.count() > 0) {
    Reply e = command({"EXPIRE", key, std::to_string(options_.ttl.count())});
    if (e->type == REDIS_REPLY_ERROR) unavailable(std::string(e->str, e->len));
  }
}

void RedisHistoryStore::clear(const std::string& session_id) {
  std::lock_guard lock(mu_);
  Reply r = command({"DEL", options_.key_prefix + session_id});
  if (r->type == REDIS_REPLY_ERROR) unavailable(std::string(r->str, r->len));
}

std::vector<std::string> RedisHistoryStore::sessions() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  // The prefix matched literally: glob characters in it are escaped.
  std::string pattern;
  for (char c : options_.key_prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += '*';
  std::string cursor = "0";
  do {
    Reply r = command({"SCAN", cursor, "MATCH", pattern, "COUNT", "500"});
    if (r->type == REDIS_REPLY_ERROR) unavailable(std::string(r->str, r->len));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) unavailable("unexpected reply to SCAN");
    cursor.assign(r->element[0]->str, r->element[0]->len);
    const redisReply* keys = r->element[1];
    for (size_t i = 0; i < keys->elements; ++i) {
      std::string k(keys->element[i]->str, keys->element[i]->len);
      out.push_back(k.substr(options_.key_prefix.size()));
    }
  } while (cursor != "0");
  return out;
}

}  // namespace llmchain::chain
