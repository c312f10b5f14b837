#include "chain/redis_client.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <charconv>

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

namespace {

RedisValue convert(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::Type::kInteger;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      v.type = RedisValue::Type::kString;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(convert(r->element[i]));
      break;
    default: break;
  }
  return v;
}

}  // namespace

RedisClient::RedisClient(RedisAddress address, std::chrono::milliseconds timeout)
    : address_(std::move(address)), timeout_(timeout) {}

RedisClient::~RedisClient() { drop(); }

void RedisClient::drop() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisClient::unavailable(const char* what, const std::string& why) {
  drop();  // the next command connects afresh
  fail(ErrorCode::kUnavailable, "{} {}: {}", what, address_.display(), why);
}

redisReply* RedisClient::exec(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
}

void RedisClient::connect(const char* what) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  ctx_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
  if (!ctx_) unavailable(what, "cannot allocate a connection");
  if (ctx_->err) unavailable(what, ctx_->errstr);
  redisSetTimeout(ctx_, tv);
  auto check = [&](const std::vector<std::string>& args) {
    std::unique_ptr<redisReply, void (*)(void*)> r(exec(args), freeReplyObject);
    if (!r) unavailable(what, ctx_->errstr[0] ? ctx_->errstr : "the connection failed");
    if (r->type == REDIS_REPLY_ERROR) unavailable(what, std::string(r->str, r->len));
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

RedisValue RedisClient::command(const std::vector<std::string>& args, const char* what) {
  std::lock_guard lock(mu_);
  // A connection kept from earlier may have been closed by a Redis restart: that first failure
  // reconnects and tries once more (the command never reached the new server).
  const bool reused = ctx_ != nullptr;
  if (!ctx_) connect(what);
  std::unique_ptr<redisReply, void (*)(void*)> r(exec(args), freeReplyObject);
  if (!r && reused) {
    drop();
    connect(what);
    r.reset(exec(args));
  }
  if (!r) unavailable(what, ctx_ && ctx_->errstr[0] ? ctx_->errstr : "the connection failed");
  if (r->type == REDIS_REPLY_ERROR) unavailable(what, std::string(r->str, r->len));  // LOADING included
  return convert(r.get());
}

}  // namespace llmchain::chain
