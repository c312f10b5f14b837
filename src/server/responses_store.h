#pragma once
// Where /v1/responses keeps the responses it stored (`store`, the default): each response
// object with the items of its conversation so far (input items of every turn, and every
// turn's output), so that a request naming it in `previous_response_id` continues the
// conversation on any engine, and GET / DELETE /v1/responses/{id} find it.
//
// SQLite, like chain memory (chain/memory.h): a file responses.sqlite3 under
// $LLMCHAIN_MEMORY_DIR when that is set (survives restarts, shared by the processes that
// mount the same volume), else an in-memory database that lives as long as the server.
// Bounded: past max_entries the oldest responses are dropped. Thread-safe.
#include <cstddef>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/error.h"

struct sqlite3;

namespace llmchain::server {

struct ResponsesStoreOptions {
  std::string path = ":memory:";  // a SQLite file, or ":memory:"
  size_t max_entries = 10000;     // responses kept; the oldest beyond this are dropped
  // $LLMCHAIN_MEMORY_DIR/responses.sqlite3 when the variable is set, else in memory.
  static ResponsesStoreOptions from_env();
};

struct StoredResponse {
  nlohmann::json response;  // the response object, as returned when it finished
  nlohmann::json items;     // the conversation through this response: input and output items
};

// Table responses(seq INTEGER PRIMARY KEY, id TEXT UNIQUE, created REAL, response TEXT,
// items TEXT). Methods throw Error(kIo) on database errors; open() returns Expected.
class ResponsesStore {
 public:
  static Expected<std::shared_ptr<ResponsesStore>> open(const ResponsesStoreOptions& opts);
  ~ResponsesStore();
  ResponsesStore(const ResponsesStore&) = delete;
  ResponsesStore& operator=(const ResponsesStore&) = delete;

  // Inserts (or replaces) a response, then drops the oldest beyond max_entries.
  void put(const std::string& id, const nlohmann::json& response, const nlohmann::json& items);
  std::optional<StoredResponse> get(const std::string& id);
  // False when there was no such response.
  bool remove(const std::string& id);
  size_t size();
  const std::string& path() const { return opts_.path; }

 private:
  ResponsesStore(sqlite3* db, ResponsesStoreOptions opts) : db_(db), opts_(std::move(opts)) {}
  std::mutex mu_;
  sqlite3* db_;
  ResponsesStoreOptions opts_;
};

}  // namespace llmchain::server
