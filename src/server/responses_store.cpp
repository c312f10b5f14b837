#include "server/responses_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "chain/redis_client.h"
#include "server/api_error.h"

namespace llmchain::server {

using nlohmann::json;

namespace {

// Finalizes a statement on scope exit.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

[[noreturn]] void sql_fail(sqlite3* db, const std::string& what) {
  fail(ErrorCode::kIo, "responses store: {}: {}", what, sqlite3_errmsg(db));
}

void prepare(sqlite3* db, const char* sql, Stmt& st) {
  if (sqlite3_prepare_v2(db, sql, -1, &st.s, nullptr) != SQLITE_OK) sql_fail(db, "prepare");
}

void bind_text(sqlite3* db, Stmt& st, int i, const std::string& v) {
  if (sqlite3_bind_text(st.s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    sql_fail(db, "bind");
}

std::string column_text(sqlite3_stmt* s, int i) {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class SqliteResponsesStore : public ResponsesStore {
 public:
  SqliteResponsesStore(sqlite3* db, ResponsesStoreOptions opts) : db_(db), opts_(std::move(opts)) {}
  ~SqliteResponsesStore() override { sqlite3_close(db_); }
  void put(const std::string& id, const json& response, const json& items) override;
  std::optional<StoredResponse> get(const std::string& id) override;
  bool remove(const std::string& id) override;
  size_t size() override;

 private:
  std::mutex mu_;
  sqlite3* db_;
  ResponsesStoreOptions opts_;
};

class RedisResponsesStore : public ResponsesStore {
 public:
  RedisResponsesStore(chain::RedisAddress address, ResponsesStoreOptions opts)
      : client_(std::move(address), std::chrono::milliseconds(2000)), opts_(std::move(opts)) {}
  void put(const std::string& id, const json& response, const json& items) override;
  std::optional<StoredResponse> get(const std::string& id) override;
  bool remove(const std::string& id) override;
  size_t size() override;

 private:
  std::string key(const std::string& id) const { return opts_.key_prefix + "r:" + id; }
  std::string index() const { return opts_.key_prefix + "index"; }
  chain::RedisClient client_;
  ResponsesStoreOptions opts_;
};

constexpr const char* kWhat = "responses store";

Expected<std::shared_ptr<ResponsesStore>> open_sqlite(const ResponsesStoreOptions& opts);

}  // namespace

ResponsesStoreOptions ResponsesStoreOptions::from_env() {
  ResponsesStoreOptions o;
  const std::string store = env("LLMCHAIN_RESPONSES_STORE");
  if (store == "redis" || (store.empty() && env("LLMCHAIN_MEMORY_STORE") == "redis")) {
    o.redis_url = env("LLMCHAIN_REDIS_URL");
    if (o.redis_url.empty()) o.redis_url = "redis://127.0.0.1:6379";
    return o;
  }
  const std::string dir = env("LLMCHAIN_MEMORY_DIR");
  if (!dir.empty()) o.path = (std::filesystem::path(dir) / "responses.sqlite3").lexically_normal().string();
  return o;
}

Expected<std::shared_ptr<ResponsesStore>> ResponsesStore::open(const ResponsesStoreOptions& opts) {
  ResponsesStoreOptions o = opts;
  if (o.max_entries == 0) o.max_entries = 1;
  if (o.redis_url.empty()) return open_sqlite(o);
  return capture([&] {
    auto address = chain::RedisAddress::parse(o.redis_url);
    if (o.key_prefix.empty()) fail(ErrorCode::kInvalidArgument, "responses store: the redis key prefix is empty");
    return std::shared_ptr<ResponsesStore>(std::make_shared<RedisResponsesStore>(std::move(address), std::move(o)));
  });
}

namespace {

Expected<std::shared_ptr<ResponsesStore>> open_sqlite(const ResponsesStoreOptions& opts) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(opts.path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Error(ErrorCode::kIo, fmt::format("responses store: cannot open '{}': {}", opts.path, msg));
  }
  sqlite3_busy_timeout(db, 5000);
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS responses ("
      " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, created REAL NOT NULL,"
      " response TEXT NOT NULL, items TEXT NOT NULL);";
  char* err = nullptr;
  if (sqlite3_exec(db, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db);
    return Error(ErrorCode::kIo, fmt::format("responses store: cannot initialise '{}': {}", opts.path, msg));
  }
  return std::shared_ptr<ResponsesStore>(std::make_shared<SqliteResponsesStore>(db, opts));
}

void SqliteResponsesStore::put(const std::string& id, const json& response, const json& items) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) sql_fail(db_, "begin");
  try {
    Stmt ins;
    prepare(db_, "INSERT OR REPLACE INTO responses(id, created, response, items) VALUES (?1, ?2, ?3, ?4)", ins);
    bind_text(db_, ins, 1, id);
    sqlite3_bind_double(ins.s, 2,
                        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    bind_text(db_, ins, 3, json_text(response));
    bind_text(db_, ins, 4, json_text(items));
    if (sqlite3_step(ins.s) != SQLITE_DONE) sql_fail(db_, "insert");
    // Everything at or below the seq of the (max_entries + 1)-th newest row goes.
    Stmt prune;
    prepare(db_, "DELETE FROM responses WHERE seq <= (SELECT seq FROM responses ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
            prune);
    sqlite3_bind_int64(prune.s, 1, static_cast<sqlite3_int64>(opts_.max_entries));
    if (sqlite3_step(prune.s) != SQLITE_DONE) sql_fail(db_, "prune");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) sql_fail(db_, "commit");
}

std::optional<StoredResponse> SqliteResponsesStore::get(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  prepare(db_, "SELECT response, items FROM responses WHERE id = ?1", st);
  bind_text(db_, st, 1, id);
  int rc = sqlite3_step(st.s);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) sql_fail(db_, "select");
  StoredResponse out;
  // Written by put() from valid JSON; a row that no longer parses is treated as gone.
  out.response = json::parse(column_text(st.s, 0), nullptr, false);
  out.items = json::parse(column_text(st.s, 1), nullptr, false);
  if (out.response.is_discarded() || out.items.is_discarded()) return std::nullopt;
  return out;
}

bool SqliteResponsesStore::remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  prepare(db_, "DELETE FROM responses WHERE id = ?1", st);
  bind_text(db_, st, 1, id);
  if (sqlite3_step(st.s) != SQLITE_DONE) sql_fail(db_, "delete");
  return sqlite3_changes(db_) > 0;
}

size_t SqliteResponsesStore::size() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  prepare(db_, "SELECT COUNT(*) FROM responses", st);
  if (sqlite3_step(st.s) != SQLITE_ROW) sql_fail(db_, "count");
  return static_cast<size_t>(sqlite3_column_int64(st.s, 0));
}

void RedisResponsesStore::put(const std::string& id, const json& response, const json& items) {
  const int64_t seq = client_.command({"INCR", opts_.key_prefix + "seq"}, kWhat).integer;
  client_.command({"SET", key(id), json_text({{"response", response}, {"items", items}})}, kWhat);
  client_.command({"ZADD", index(), std::to_string(seq), id}, kWhat);
  // The oldest beyond max_entries go (the index's lowest sequence numbers).
  const int64_t n = client_.command({"ZCARD", index()}, kWhat).integer;
  const auto keep = static_cast<int64_t>(opts_.max_entries);
  if (n <= keep) return;
  auto old = client_.command({"ZRANGE", index(), "0", std::to_string(n - keep - 1)}, kWhat);
  std::vector<std::string> del{"DEL"}, rem{"ZREM", index()};
  for (const auto& e : old.elements) {
    del.push_back(key(e.str));
    rem.push_back(e.str);
  }
  if (del.size() > 1) {
    client_.command(del, kWhat);
    client_.command(rem, kWhat);
  }
}

std::optional<StoredResponse> RedisResponsesStore::get(const std::string& id) {
  auto v = client_.command({"GET", key(id)}, kWhat);
  if (v.type != chain::RedisValue::Type::kString) return std::nullopt;
  json j = json::parse(v.str, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("response") || !j.contains("items")) return std::nullopt;
  return StoredResponse{j["response"], j["items"]};
}

bool RedisResponsesStore::remove(const std::string& id) {
  const bool removed = client_.command({"DEL", key(id)}, kWhat).integer > 0;
  client_.command({"ZREM", index(), id}, kWhat);
  return removed;
}

size_t RedisResponsesStore::size() {
  return static_cast<size_t>(std::max<int64_t>(0, client_.command({"ZCARD", index()}, kWhat).integer));
}

}  // namespace

}  // namespace llmchain::server
