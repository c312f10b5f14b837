#pragma once
// Where /v1/responses keeps the responses it stored (`store`, the default): each response
// object with the items of its conversation so far (input items of every turn, and every
// turn's output), so that a request naming it in `previous_response_id` continues the
// conversation on any engine, and GET / DELETE /v1/responses/{id} find it.
//
// The same choices as chain memory (chain/memory.h): SQLite, a file responses.sqlite3 under
// $LLMCHAIN_MEMORY_DIR when that is set (survives restarts, shared by the processes that
// mount the same volume), else an in-memory database that lives as long as the server; or
// Redis, shared by every gateway replica (LLMCHAIN_RESPONSES_STORE=redis, or
// LLMCHAIN_MEMORY_STORE=redis; the server at LLMCHAIN_REDIS_URL). Bounded: past max_entries the
// oldest responses are dropped. Thread-safe.
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/error.h"

namespace llmchain::server {

struct ResponsesStoreOptions {
  std::string path = ":memory:";                   // a SQLite file, or ":memory:"
  std::string redis_url;                           // set: Redis instead of SQLite (redis://host:port/db)
  std::string key_prefix = "llmchain:responses:";  // Redis keys
  size_t max_entries = 10000;                      // responses kept; the oldest beyond this are dropped
  // Redis as described above, else $LLMCHAIN_MEMORY_DIR/responses.sqlite3 when the variable is
  // set, else in memory.
  static ResponsesStoreOptions from_env();
};

struct StoredResponse {
  nlohmann::json response;  // the response object, as returned when it finished
  nlohmann::json items;     // the conversation through this response: input and output items
};

// SQLite: table responses(seq INTEGER PRIMARY KEY, id TEXT UNIQUE, created REAL, response TEXT,
// items TEXT); errors throw Error(kIo). Redis: `<prefix>r:<id>` holds {"response","items"},
// the sorted set `<prefix>index` orders ids by a sequence (`<prefix>seq`); while Redis is
// unreachable methods throw Error(kUnavailable). open() returns Expected.
class ResponsesStore {
 public:
  static Expected<std::shared_ptr<ResponsesStore>> open(const ResponsesStoreOptions& opts);
  virtual ~ResponsesStore() = default;

  // Inserts (or replaces) a response, then drops the oldest beyond max_entries.
  virtual void put(const std::string& id, const nlohmann::json& response, const nlohmann::json& items) = 0;
  virtual std::optional<StoredResponse> get(const std::string& id) = 0;
  // False when there was no such response.
  virtual bool remove(const std::string& id) = 0;
  virtual size_t size() = 0;
};

}  // namespace llmchain::server
