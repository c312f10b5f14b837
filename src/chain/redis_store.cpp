#include "chain/redis_store.h"

#include "base/json_util.h"
#include "base/log.h"

namespace llmchain::chain {

namespace {
constexpr const char* kWhat = "memory store";
}  // namespace

Expected<std::shared_ptr<RedisHistoryStore>> RedisHistoryStore::open(RedisStoreOptions options) {
  return capture([&] {
    RedisAddress address = RedisAddress::parse(options.url);
    if (options.key_prefix.empty()) fail(ErrorCode::kInvalidArgument, "redis key_prefix must not be empty");
    auto timeout = options.timeout;
    return std::shared_ptr<RedisHistoryStore>(new RedisHistoryStore(std::move(options), std::move(address), timeout));
  });
}

RedisHistoryStore::RedisHistoryStore(RedisStoreOptions options, RedisAddress address, std::chrono::milliseconds timeout)
    : options_(std::move(options)), client_(std::move(address), timeout) {}

std::vector<Message> RedisHistoryStore::load(const std::string& session_id) {
  RedisValue r = client_.command({"LRANGE", options_.key_prefix + session_id, "0", "-1"}, kWhat);
  std::vector<Message> out;
  for (const auto& e : r.elements) {
    auto j = nlohmann::json::parse(e.str, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("role") || !j.contains("content") || !j["role"].is_string() ||
        !j["content"].is_string()) {
      LLMC_LOG_WARN("{} {}: skipping a malformed message in session '{}'", kWhat, client_.address().display(),
                    session_id);
      continue;
    }
    out.push_back(Message{j["role"].get<std::string>(), j["content"].get<std::string>()});
  }
  return out;
}

void RedisHistoryStore::append(const std::string& session_id, const std::vector<Message>& messages) {
  if (messages.empty()) return;
  const std::string key = options_.key_prefix + session_id;
  std::vector<std::string> args{"RPUSH", key};
  for (const auto& m : messages) args.push_back(json_text({{"role", m.role}, {"content", m.content}}));
  client_.command(args, kWhat);
  if (options_.ttl.count() > 0) client_.command({"EXPIRE", key, std::to_string(options_.ttl.count())}, kWhat);
}

void RedisHistoryStore::clear(const std::string& session_id) {
  client_.command({"DEL", options_.key_prefix + session_id}, kWhat);
}

std::vector<std::string> RedisHistoryStore::sessions() {
  std::vector<std::string> out;
  for (const auto& k : redis_keys(client_, options_.key_prefix, kWhat))
    out.push_back(k.substr(options_.key_prefix.size()));
  return out;
}

std::vector<std::string> redis_keys(RedisClient& client, const std::string& prefix, const char* what) {
  // The prefix matched literally: glob characters in it are escaped.
  std::string pattern;
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += '*';
  std::vector<std::string> out;
  std::string cursor = "0";
  do {
    RedisValue r = client.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "500"}, what);
    if (r.elements.size() != 2)
      fail(ErrorCode::kUnavailable, "{} {}: unexpected reply to SCAN", what, client.address().display());
    cursor = r.elements[0].str;
    for (const auto& k : r.elements[1].elements) out.push_back(k.str);
  } while (cursor != "0");
  return out;
}

}  // namespace llmchain::chain
