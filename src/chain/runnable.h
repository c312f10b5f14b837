#pragma once
// Runnable: the one interface of the chain layer. Prompts, models, parsers and whole chains
// take a JSON value and return a JSON value through invoke / batch / stream, and compose with
// `a | b` (a Sequence) and Parallel (branches merged into an object).
//
// Error rule for the whole chain module:
//   * Everything on the invoke path (Runnable::invoke/batch/stream, LanguageModel::generate,
//     parsers, guards, memory, prompt formatting, construction of chain objects from code)
//     throws llmchain::Error with a code and a message naming what is wrong.
//   * The boundaries that take outside input return Expected<T> and never throw:
//     Runnable::try_invoke, the YAML loader (yaml_loader.h), SqliteHistoryStore::open and
//     ChainRegistry (registry.h), which is what the server calls.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/error.h"

namespace llmchain::chain {

using Json = nlohmann::json;

// A shared cancellation flag: copies observe the same state, so a RunConfig copied into
// every step of a chain is cancelled by one cancel() call (e.g. the HTTP client went away).
// Copies share one state (a std::stop_source): cancelling any copy cancels them all. What waits
// on it registers a callback (std::stop_callback on token()) or hands token() on, e.g. to the
// engine's GenerateRequest::cancel, instead of polling.
class CancellationToken {
 public:
  void cancel() const { source_.request_stop(); }
  bool cancelled() const { return source_.stop_requested(); }
  // Throws Error(kCancelled) when cancelled.
  void throw_if_cancelled() const;
  std::stop_token token() const { return source_.get_token(); }
  // Sleeps for `d` or until cancelled, whichever is first; false when cancelled.
  bool sleep_for(std::chrono::nanoseconds d) const;

 private:
  mutable std::stop_source source_;
};

// What a guard did to a run's text (flag, redact or block), reported to the caller: the server
// lists them in a chain response's metadata and counts them in /metrics. Thread-safe; shared by
// every copy of a RunConfig, as the cancellation token is.
struct GuardEvent {
  std::string guard;   // the guard's name (pii, max_length, deny_list, json)
  std::string action;  // flag | redact | block
  std::string stage;   // input | output
  std::string reason;  // the first finding, e.g. "e-mail address"
};

class GuardEventLog {
 public:
  void add(GuardEvent e);
  std::vector<GuardEvent> events() const;

 private:
  mutable std::mutex mu_;
  std::vector<GuardEvent> events_;
};

// Run events, what LangChain's callbacks report (and LangServe's stream_log / stream_events
// carry): the start, streamed chunks and end (or error) of every run of a runnable and of the
// steps inside a chain (prompt, model, parser), each with its run id and its parents' ids.
enum class RunPhase { kStart, kStream, kEnd, kError };

struct RunEvent {
  RunPhase phase = RunPhase::kStart;
  std::string run_id;
  std::vector<std::string> parent_ids;  // the enclosing runs, outermost first
  std::string name;                     // the runnable's name (a chain's registered name at the root)
  std::string run_type;                 // chain | chat_model | llm | prompt | parser
  Json data;  // start: {"input"}; stream: {"chunk"}; end: {"input", "output"}; error: {"input", "error"}
};
using RunEventSink = std::function<void(const RunEvent&)>;

struct RunConfig {
  std::string session_id;          // memory key for conversations; "" means "default"
  Json metadata = Json::object();  // free-form, passed through every step (tracing, user ids)
  CancellationToken cancel;        // polled between steps and on every streamed token
  int max_concurrency = 4;         // bound for batch() and Parallel branches (>= 1)
  std::shared_ptr<GuardEventLog> guard_events = std::make_shared<GuardEventLog>();
  // Run events (null: none are made). Called on the thread running the step; calls for one run
  // come in order, and a parallel branch's may interleave with another's.
  RunEventSink on_run_event;
  std::vector<std::string> run_parents;  // set by RunScope for the steps of a run
  std::string root_run_id;               // the id the outermost run takes (empty: a new one)
};

// One run's events: start on construction, then stream() / end(), or error (on destruction
// without end(), e.g. while an exception passes). config() is what the run's own steps get
// (this run as their parent). Without RunConfig::on_run_event it does nothing.
class RunScope {
 public:
  RunScope(const RunConfig& parent, std::string name, std::string run_type, const Json& input);
  ~RunScope();
  RunScope(const RunScope&) = delete;
  RunScope& operator=(const RunScope&) = delete;

  const RunConfig& config() const { return child_ ? *child_ : parent_; }
  bool active() const { return child_ != nullptr; }
  void stream(const Json& chunk);
  void end(const Json& output);
  void fail(const std::string& message);

 private:
  void emit(RunPhase phase, Json data);
  const RunConfig& parent_;
  std::unique_ptr<RunConfig> child_;  // only with a sink
  std::string id_, name_, type_;
  Json input_;
  bool ended_ = false;
};

// A new run id (a UUID v4, as LangChain's).
std::string new_run_uuid();

// Receives incremental output (for models: a text piece as a JSON string).
using ChunkCallback = std::function<void(const Json& chunk)>;

class Runnable;
using RunnablePtr = std::shared_ptr<Runnable>;

class Runnable : public std::enable_shared_from_this<Runnable> {
 public:
  virtual ~Runnable() = default;

  Json invoke(const Json& input, const RunConfig& config = {});
  // Runs every input with at most config.max_concurrency in flight; results keep input order.
  // Throws the error of the first failing input (by index) after all have finished.
  std::vector<Json> batch(const std::vector<Json>& inputs, const RunConfig& config = {});
  // Like batch, but one result or error per input.
  std::vector<Expected<Json>> batch_each(const std::vector<Json>& inputs, const RunConfig& config = {});
  // Calls on_chunk with incremental output and returns the complete output. A runnable that
  // cannot stream calls on_chunk once with its whole output.
  Json stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config = {});
  // Non-throwing invoke.
  Expected<Json> try_invoke(const Json& input, const RunConfig& config = {});

  // True when stream() produces more than one chunk (models, and chains that end in one).
  virtual bool can_stream() const { return false; }
  // The kind of run this is in run events (chain | chat_model | llm | prompt | parser).
  virtual const char* run_type() const { return "chain"; }
  // JSON Schemas of the input and output ({} accepts anything).
  virtual Json input_schema() const { return Json::object(); }
  virtual Json output_schema() const { return Json::object(); }

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // Up to max_attempts tries in total; waits backoff, 2*backoff, ... between them. Retries
  // every error except kCancelled (streams retry only while no chunk has been emitted).
  RunnablePtr with_retry(int max_attempts, std::chrono::milliseconds backoff = std::chrono::milliseconds(0));
  // On error (except kCancelled) tries each fallback in order; rethrows the last error.
  RunnablePtr with_fallbacks(std::vector<RunnablePtr> fallbacks);

 protected:
  explicit Runnable(std::string name) : name_(std::move(name)) {}
  virtual Json do_invoke(const Json& input, const RunConfig& config) = 0;
  virtual Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config);

 private:
  std::string name_;
};

// a | b: feeds a's output into b. Nested sequences are flattened.
RunnablePtr operator|(RunnablePtr a, RunnablePtr b);

// Steps run in order. stream(): the last step that can stream streams, the steps before it
// invoke, and the steps after it run on its complete output (their result is returned).
class Sequence : public Runnable {
 public:
  explicit Sequence(std::vector<RunnablePtr> steps);
  const std::vector<RunnablePtr>& steps() const { return steps_; }
  bool can_stream() const override;
  Json input_schema() const override { return steps_.front()->input_schema(); }
  Json output_schema() const override { return steps_.back()->output_schema(); }

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override;
  Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) override;

 private:
  std::vector<RunnablePtr> steps_;
};

// Runs every branch on the same input (concurrently, bounded by max_concurrency) and returns
// {"key": branch output, ...}. Usage: std::make_shared<Parallel>(Parallel{{"a", r1}, {"b", r2}}).
class Parallel : public Runnable {
 public:
  using Branch = std::pair<std::string, RunnablePtr>;
  Parallel(std::initializer_list<Branch> branches);
  explicit Parallel(std::vector<Branch> branches);
  const std::vector<Branch>& branches() const { return branches_; }
  Json output_schema() const override;

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override;

 private:
  std::vector<Branch> branches_;
};

RunnablePtr parallel(std::vector<Parallel::Branch> branches);

// Wraps a function Json(const Json&) or Json(const Json&, const RunConfig&).
class Lambda : public Runnable {
 public:
  using Fn = std::function<Json(const Json&, const RunConfig&)>;
  explicit Lambda(Fn fn, std::string name = "lambda") : Runnable(std::move(name)), fn_(std::move(fn)) {}

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override { return fn_(input, config); }

 private:
  Fn fn_;
};

template <typename F>
RunnablePtr lambda(F&& fn, std::string name = "lambda") {
  if constexpr (std::is_invocable_v<F, const Json&, const RunConfig&>) {
    return std::make_shared<Lambda>(Lambda::Fn(std::forward<F>(fn)), std::move(name));
  } else {
    static_assert(std::is_invocable_v<F, const Json&>, "lambda(): fn must take (const Json&[, const RunConfig&])");
    return std::make_shared<Lambda>(
        [f = std::forward<F>(fn)](const Json& in, const RunConfig&) -> Json { return f(in); }, std::move(name));
  }
}

// Passes its input through (useful as a Parallel branch).
RunnablePtr passthrough();

class Retry : public Runnable {
 public:
  Retry(RunnablePtr inner, int max_attempts, std::chrono::milliseconds backoff);
  bool can_stream() const override { return inner_->can_stream(); }
  Json input_schema() const override { return inner_->input_schema(); }
  Json output_schema() const override { return inner_->output_schema(); }

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override;
  Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) override;

 private:
  RunnablePtr inner_;
  int max_attempts_;
  std::chrono::milliseconds backoff_;
};

class Fallbacks : public Runnable {
 public:
  Fallbacks(RunnablePtr primary, std::vector<RunnablePtr> fallbacks);
  bool can_stream() const override { return chain_.front()->can_stream(); }
  Json input_schema() const override { return chain_.front()->input_schema(); }
  Json output_schema() const override { return chain_.front()->output_schema(); }

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override;
  Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) override;

 private:
  std::vector<RunnablePtr> chain_;  // primary first
};

// Runs fn(i) for i in [0, n) on up to max_concurrency threads (the caller included) and returns
// one Expected per index. Used by batch() and Parallel.
std::vector<Expected<Json>> run_bounded(size_t n, int max_concurrency, const std::function<Json(size_t)>& fn);

}  // namespace llmchain::chain
