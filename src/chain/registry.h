#pragma once
// ChainRegistry: the named chains a server exposes. This is the module's boundary for the
// HTTP layer: every method returns a value or Expected<T> and never throws.
//
// Route mapping (LangServe-shaped, implemented in server/):
//   GET  /chains                       -> list()            [{name, description, type, input_variables}]
//   POST /chains/{name}/invoke         -> invoke()          body {"input": ..., "config": {...}}
//   POST /chains/{name}/batch          -> batch()           body {"inputs": [...], "config": {...}}
//   POST /chains/{name}/stream         -> stream()          SSE: one "data" event per chunk, then the output
//   GET  /chains/{name}/input_schema   -> input_schema()
//   GET  /chains/{name}/output_schema  -> output_schema()
// config_from_json() reads the request's "config" object ({"session_id", "metadata",
// "max_concurrency"}).
//
// Output shape: for a Chain (object in, object out) the registry returns only the chain's
// output keys, and the bare value when there is exactly one output key (an LLM chain with
// output_key "text" returns the text itself). Other Runnables return their output as is.
// output_schema() describes exactly that shape.
//
// Error codes: kNotFound (unknown chain), kInvalidArgument (bad input, missing variable, input
// guard blocked: HTTP 400), kCancelled, kDeadlineExceeded, kUnavailable /
// kResourceExhausted (model backend), kInternal (unparseable model output, output guard).
// Thread-safe: lookups share a lock; add/remove take it exclusively.
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "chain/runnable.h"

namespace llmchain::chain {

struct ChainInfo {
  std::string name;
  std::string description;
  std::string type;  // llm | sequential | simple_sequential | router | runnable
  std::vector<std::string> input_variables;
};

class ChainRegistry {
 public:
  // Replaces a chain of the same name. type "" derives it from the runnable.
  void add(const std::string& name, RunnablePtr chain, std::string description = "", std::string type = "");
  bool remove(const std::string& name);
  bool contains(const std::string& name) const;
  std::vector<ChainInfo> list() const;  // sorted by name
  Expected<ChainInfo> info(const std::string& name) const;
  // The runnable itself (for composition in code).
  Expected<RunnablePtr> get(const std::string& name) const;

  Expected<Json> invoke(const std::string& name, const Json& input, const RunConfig& config = {}) const;
  // All-or-nothing: the first failing input's error (its index in the message).
  Expected<std::vector<Json>> batch(const std::string& name, const std::vector<Json>& inputs,
                                    const RunConfig& config = {}) const;
  // Each input's own result or error (one failing input leaves the others' results).
  Expected<std::vector<Expected<Json>>> batch_each(const std::string& name, const std::vector<Json>& inputs,
                                                   const RunConfig& config = {}) const;
  // on_chunk gets incremental output (text pieces for chains ending in a model); the
  // returned value is the complete output, shaped as invoke() returns it.
  Expected<Json> stream(const std::string& name, const Json& input, const ChunkCallback& on_chunk,
                        const RunConfig& config = {}) const;
  Expected<Json> input_schema(const std::string& name) const;
  Expected<Json> output_schema(const std::string& name) const;

  // Parses a request's "config" object; unknown keys are ignored.
  static Expected<RunConfig> config_from_json(const Json& config);

 private:
  struct Entry {
    RunnablePtr runnable;
    ChainInfo info;
  };
  Expected<Entry> find(const std::string& name) const;
  static Json shape_output(const Runnable& r, Json out);

  mutable std::shared_mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace llmchain::chain
