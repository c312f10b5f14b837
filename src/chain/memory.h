#pragma once
// Conversation memory. A HistoryStore keeps every message per session id (in memory, or in
// SQLite so conversations survive a restart); a ConversationMemory reads it back trimmed by a
// policy: the whole buffer, the last k turns (window), or the newest messages that fit a token
// budget. Stores are thread-safe.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/lazy.h"
#include "chain/message.h"

struct sqlite3;

namespace llmchain::chain {

class HistoryStore {
 public:
  virtual ~HistoryStore() = default;
  // Messages of the session, oldest first (empty for an unknown session).
  virtual std::vector<Message> load(const std::string& session_id) = 0;
  virtual void append(const std::string& session_id, const std::vector<Message>& messages) = 0;
  virtual void clear(const std::string& session_id) = 0;
  virtual std::vector<std::string> sessions() = 0;
};

using HistoryStorePtr = std::shared_ptr<HistoryStore>;

class InMemoryHistoryStore : public HistoryStore {
 public:
  std::vector<Message> load(const std::string& session_id) override;
  void append(const std::string& session_id, const std::vector<Message>& messages) override;
  void clear(const std::string& session_id) override;
  std::vector<std::string> sessions() override;

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<Message>> data_;
};

// Table chain_messages(id INTEGER PRIMARY KEY, session TEXT, role TEXT, content TEXT, created REAL).
// Methods throw Error(kIo) on database errors (the invoke-path rule); open() returns Expected.
class SqliteHistoryStore : public HistoryStore {
 public:
  static Expected<std::shared_ptr<SqliteHistoryStore>> open(const std::string& path);
  ~SqliteHistoryStore() override;
  SqliteHistoryStore(const SqliteHistoryStore&) = delete;
  SqliteHistoryStore& operator=(const SqliteHistoryStore&) = delete;

  std::vector<Message> load(const std::string& session_id) override;
  void append(const std::string& session_id, const std::vector<Message>& messages) override;
  void clear(const std::string& session_id) override;
  std::vector<std::string> sessions() override;
  const std::string& path() const { return path_; }

 private:
  SqliteHistoryStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  std::mutex mu_;
  sqlite3* db_;
  std::string path_;
};

// A store opened on first use: declaring memory (loading a YAML file, `chain list`) creates no
// database file; the first load/append/clear/sessions opens it. A failed open throws to that
// caller and is tried again by the next.
class LazyHistoryStore : public HistoryStore {
 public:
  using Opener = std::function<Expected<HistoryStorePtr>()>;
  explicit LazyHistoryStore(Opener open) : store_(std::move(open)) {}

  std::vector<Message> load(const std::string& session_id) override { return get()->load(session_id); }
  void append(const std::string& session_id, const std::vector<Message>& messages) override {
    get()->append(session_id, messages);
  }
  void clear(const std::string& session_id) override { get()->clear(session_id); }
  std::vector<std::string> sessions() override { return get()->sessions(); }
  bool opened() const { return store_.ready(); }
  const HistoryStorePtr& get() { return store_.get(); }

 private:
  Lazy<HistoryStorePtr> store_;
};

using TokenCounter = std::function<size_t(const std::string&)>;
// ~4 bytes per token, rounded up (the usual rule of thumb for English text).
size_t approx_token_count(const std::string& text);

struct MemoryOptions {
  enum class Kind { kBuffer, kWindow, kTokenBudget };
  Kind kind = Kind::kBuffer;
  size_t k = 5;                        // kWindow: turns (a turn is a user message and the reply)
  size_t max_tokens = 2000;            // kTokenBudget: budget for the history
  TokenCounter counter;                // kTokenBudget: defaults to approx_token_count
  std::string memory_key = "history";  // prompt variable that receives the history
  std::string input_key;               // input variable saved as the user message ("" = the chain's only input)
  std::string human_prefix = "Human";  // text form of the history (string prompts)
  std::string ai_prefix = "AI";
};

class ConversationMemory {
 public:
  explicit ConversationMemory(MemoryOptions options = {}, HistoryStorePtr store = nullptr);

  // History after trimming by the policy, oldest first. session "" is "default".
  std::vector<Message> history(const std::string& session_id) const;
  // "Human: ...\nAI: ..." lines, for string prompts.
  std::string history_text(const std::string& session_id) const;
  void save_turn(const std::string& session_id, const std::string& user, const std::string& assistant);
  void clear(const std::string& session_id);

  const MemoryOptions& options() const { return options_; }
  const HistoryStorePtr& store() const { return store_; }

  // The trimming policy on its own.
  std::vector<Message> trim(std::vector<Message> messages) const;

 private:
  MemoryOptions options_;
  HistoryStorePtr store_;
};

using ConversationMemoryPtr = std::shared_ptr<ConversationMemory>;

}  // namespace llmchain::chain
