#include "chain/memory.h"

#include <sqlite3.h>

#include <chrono>

namespace llmchain::chain {

namespace {

std::string session_key(const std::string& s) { return s.empty() ? "default" : s; }

}  // namespace

size_t approx_token_count(const std::string& text) { return (text.size() + 3) / 4; }

// ---- in memory ----

std::vector<Message> InMemoryHistoryStore::load(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = data_.find(session_key(session_id));
  return it == data_.end() ? std::vector<Message>{} : it->second;
}

void InMemoryHistoryStore::append(const std::string& session_id, const std::vector<Message>& messages) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& v = data_[session_key(session_id)];
  v.insert(v.end(), messages.begin(), messages.end());
}

void InMemoryHistoryStore::clear(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  data_.erase(session_key(session_id));
}

std::vector<std::string> InMemoryHistoryStore::sessions() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : data_) out.push_back(k);
  return out;
}

// ---- SQLite ----

namespace {

// Finalizes a statement on scope exit.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

[[noreturn]] void sql_fail(sqlite3* db, const std::string& what) {
  fail(ErrorCode::kIo, "sqlite memory: {}: {}", what, sqlite3_errmsg(db));
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

Expected<std::shared_ptr<SqliteHistoryStore>> SqliteHistoryStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Error(ErrorCode::kIo, fmt::format("sqlite memory: cannot open '{}': {}", path, msg));
  }
  sqlite3_busy_timeout(db, 5000);
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS chain_messages ("
      " id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL, role TEXT NOT NULL,"
      " content TEXT NOT NULL, created REAL NOT NULL);"
      "CREATE INDEX IF NOT EXISTS chain_messages_session ON chain_messages(session, id);";
  char* err = nullptr;
  if (sqlite3_exec(db, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db);
    return Error(ErrorCode::kIo, fmt::format("sqlite memory: cannot initialise '{}': {}", path, msg));
  }
  return std::shared_ptr<SqliteHistoryStore>(new SqliteHistoryStore(db, path));
}

SqliteHistoryStore::~SqliteHistoryStore() { sqlite3_close(db_); }

std::vector<Message> SqliteHistoryStore::load(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  prepare(db_, "SELECT role, content FROM chain_messages WHERE session = ?1 ORDER BY id", st);
  bind_text(db_, st, 1, session_key(session_id));
  std::vector<Message> out;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back({column_text(st.s, 0), column_text(st.s, 1)});
  if (rc != SQLITE_DONE) sql_fail(db_, "load");
  return out;
}

void SqliteHistoryStore::append(const std::string& session_id, const std::vector<Message>& messages) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) sql_fail(db_, "begin");
  try {
    Stmt st;
    prepare(db_, "INSERT INTO chain_messages(session, role, content, created) VALUES (?1, ?2, ?3, ?4)", st);
    double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& m : messages) {
      sqlite3_reset(st.s);
      bind_text(db_, st, 1, session_key(session_id));
      bind_text(db_, st, 2, m.role);
      bind_text(db_, st, 3, m.content);
      sqlite3_bind_double(st.s, 4, now);
      if (sqlite3_step(st.s) != SQLITE_DONE) sql_fail(db_, "insert");
    }
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) sql_fail(db_, "commit");
}

void SqliteHistoryStore::clear(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  prepare(db_, "DELETE FROM chain_messages WHERE session = ?1", st);
  bind_text(db_, st, 1, session_key(session_id));
  if (sqlite3_step(st.s) != SQLITE_DONE) sql_fail(db_, "delete");
}

std::vector<std::string> SqliteHistoryStore::sessions() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt st;
  prepare(db_, "SELECT DISTINCT session FROM chain_messages ORDER BY session", st);
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back(column_text(st.s, 0));
  if (rc != SQLITE_DONE) sql_fail(db_, "sessions");
  return out;
}

// ---- policy ----

ConversationMemory::ConversationMemory(MemoryOptions options, HistoryStorePtr store)
    : options_(std::move(options)), store_(store ? std::move(store) : std::make_shared<InMemoryHistoryStore>()) {
  if (!options_.counter) options_.counter = approx_token_count;
  if (options_.kind == MemoryOptions::Kind::kWindow && options_.k == 0) {
    fail(ErrorCode::kInvalidArgument, "window memory: k must be >= 1");
  }
  if (options_.memory_key.empty()) fail(ErrorCode::kInvalidArgument, "memory: memory_key must not be empty");
}

std::vector<Message> ConversationMemory::trim(std::vector<Message> messages) const {
  switch (options_.kind) {
    case MemoryOptions::Kind::kBuffer: return messages;
    case MemoryOptions::Kind::kWindow: {
      size_t keep = 2 * options_.k;
      if (messages.size() > keep) messages.erase(messages.begin(), messages.end() - static_cast<ptrdiff_t>(keep));
      return messages;
    }
    case MemoryOptions::Kind::kTokenBudget: {
      // newest first until the budget is spent; an over-budget message ends the history
      size_t used = 0, first = messages.size();
      while (first > 0) {
        size_t cost = options_.counter(messages[first - 1].content);
        if (used + cost > options_.max_tokens) break;
        used += cost;
        --first;
      }
      messages.erase(messages.begin(), messages.begin() + static_cast<ptrdiff_t>(first));
      return messages;
    }
  }
  return messages;
}

std::vector<Message> ConversationMemory::history(const std::string& session_id) const {
  return trim(store_->load(session_id));
}

std::string ConversationMemory::history_text(const std::string& session_id) const {
  std::string out;
  for (const auto& m : history(session_id)) {
    if (!out.empty()) out += '\n';
    const std::string& who = m.role == "user"        ? options_.human_prefix
                             : m.role == "assistant" ? options_.ai_prefix
                                                     : m.role;
    out += who + ": " + m.content;
  }
  return out;
}

void ConversationMemory::save_turn(const std::string& session_id, const std::string& user,
                                   const std::string& assistant) {
  store_->append(session_id, {{"user", user}, {"assistant", assistant}});
}

void ConversationMemory::clear(const std::string& session_id) { store_->clear(session_id); }

}  // namespace llmchain::chain
