#include "server/responses_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

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

}  // namespace

ResponsesStoreOptions ResponsesStoreOptions::from_env() {
  ResponsesStoreOptions o;
  const char* dir = std::getenv("LLMCHAIN_MEMORY_DIR");
  if (dir && *dir) o.path = (std::filesystem::path(dir) / "responses.sqlite3").lexically_normal().string();
  return o;
}

Expected<std::shared_ptr<ResponsesStore>> ResponsesStore::open(const ResponsesStoreOptions& opts) {
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
  ResponsesStoreOptions o = opts;
  if (o.max_entries == 0) o.max_entries = 1;
  return std::shared_ptr<ResponsesStore>(new ResponsesStore(db, std::move(o)));
}

ResponsesStore::~ResponsesStore() { sqlite3_close(db_); }

void ResponsesStore::put(const std::string& id, const json& response, const json& items) {
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

std::optional<StoredResponse> ResponsesStore::get(const std::string& id) {
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

bool ResponsesStore::remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  prepare(db_, "DELETE FROM responses WHERE id = ?1", st);
  bind_text(db_, st, 1, id);
  if (sqlite3_step(st.s) != SQLITE_DONE) sql_fail(db_, "delete");
  return sqlite3_changes(db_) > 0;
}

size_t ResponsesStore::size() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  prepare(db_, "SELECT COUNT(*) FROM responses", st);
  if (sqlite3_step(st.s) != SQLITE_ROW) sql_fail(db_, "count");
  return static_cast<size_t>(sqlite3_column_int64(st.s, 0));
}

}  // namespace llmchain::server
