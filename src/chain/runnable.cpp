#include "chain/runnable.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "base/log.h"

namespace llmchain::chain {

void GuardEventLog::add(GuardEvent e) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(e));
}

std::vector<GuardEvent> GuardEventLog::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

void CancellationToken::throw_if_cancelled() const {
  if (cancelled()) fail(ErrorCode::kCancelled, "cancelled");
}

bool CancellationToken::sleep_for(std::chrono::nanoseconds d) const {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  return !cv.wait_for(lock, token(), d, [] { return false; }) && !cancelled();
}

std::string new_run_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  b = (b & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFFF, b >> 48,
                     b & 0xFFFFFFFFFFFFull);
}

RunScope::RunScope(const RunConfig& parent, std::string name, std::string run_type, const Json& input)
    : parent_(parent), name_(std::move(name)), type_(std::move(run_type)) {
  if (!parent.on_run_event) return;
  id_ = parent.run_parents.empty() && !parent.root_run_id.empty() ? parent.root_run_id : new_run_uuid();
  child_ = std::make_unique<RunConfig>(parent);
  child_->run_parents.push_back(id_);
  child_->root_run_id.clear();
  input_ = input;
  emit(RunPhase::kStart, {{"input", input}});
}

RunScope::~RunScope() {
  if (child_ && !ended_) fail("the run ended without a result");
}

void RunScope::emit(RunPhase phase, Json data) {
  RunEvent ev{phase, id_, parent_.run_parents, name_, type_, std::move(data)};
  try {
    parent_.on_run_event(ev);
  } catch (const std::exception& e) {  // an observer must never break the run it observes
    LLMC_LOG_WARN("run event observer failed: {}", e.what());
  }
}

void RunScope::stream(const Json& chunk) {
  if (child_ && !ended_) emit(RunPhase::kStream, {{"chunk", chunk}});
}

void RunScope::end(const Json& output) {
  if (!child_ || ended_) return;
  ended_ = true;
  emit(RunPhase::kEnd, {{"input", input_}, {"output", output}});
}

void RunScope::fail(const std::string& message) {
  if (!child_ || ended_) return;
  ended_ = true;
  emit(RunPhase::kError, {{"input", input_}, {"error", message}});
}

Json Runnable::invoke(const Json& input, const RunConfig& config) {
  config.cancel.throw_if_cancelled();
  if (!config.on_run_event) return do_invoke(input, config);
  RunScope run(config, name_, run_type(), input);
  try {
    Json out = do_invoke(input, run.config());
    run.end(out);
    return out;
  } catch (const Error& e) {
    run.fail(e.message());
    throw;
  }
}

Json Runnable::stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  config.cancel.throw_if_cancelled();
  if (!config.on_run_event) return do_stream(input, on_chunk, config);
  RunScope run(config, name_, run_type(), input);
  try {
    Json out = do_stream(
        input,
        [&](const Json& chunk) {
          run.stream(chunk);
          if (on_chunk) on_chunk(chunk);
        },
        run.config());
    run.end(out);
    return out;
  } catch (const Error& e) {
    run.fail(e.message());
    throw;
  }
}

Json Runnable::do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  Json out = do_invoke(input, config);
  if (on_chunk) on_chunk(out);
  return out;
}

Expected<Json> Runnable::try_invoke(const Json& input, const RunConfig& config) {
  try {
    return invoke(input, config);
  } catch (const Error& e) {
    return e;
  } catch (const nlohmann::json::exception& e) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("{}: {}", name_, e.what()));
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::kResourceExhausted, "out of memory");
  }
}

std::vector<Expected<Json>> run_bounded(size_t n, int max_concurrency, const std::function<Json(size_t)>& fn) {
  std::vector<Expected<Json>> results(n, Expected<Json>(Error(ErrorCode::kInternal, "not run")));
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) {
      try {
        results[i] = fn(i);
      } catch (const Error& e) {
        results[i] = e;
      } catch (const nlohmann::json::exception& e) {
        results[i] = Error(ErrorCode::kInvalidArgument, e.what());
      } catch (const std::exception& e) {
        results[i] = Error(ErrorCode::kInternal, e.what());
      }
    }
  };
  size_t threads = std::min<size_t>(n, static_cast<size_t>(std::max(1, max_concurrency)));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();  // the caller is one of the workers
  for (auto& t : pool) t.join();
  return results;
}

std::vector<Expected<Json>> Runnable::batch_each(const std::vector<Json>& inputs, const RunConfig& config) {
  return run_bounded(inputs.size(), config.max_concurrency, [&](size_t i) { return invoke(inputs[i], config); });
}

std::vector<Json> Runnable::batch(const std::vector<Json>& inputs, const RunConfig& config) {
  auto results = batch_each(inputs, config);
  std::vector<Json> out;
  out.reserve(results.size());
  for (auto& r : results) {
    if (!r.ok()) throw r.error();
    out.push_back(std::move(*r));
  }
  return out;
}

RunnablePtr Runnable::with_retry(int max_attempts, std::chrono::milliseconds backoff) {
  return std::make_shared<Retry>(shared_from_this(), max_attempts, backoff);
}

RunnablePtr Runnable::with_fallbacks(std::vector<RunnablePtr> fallbacks) {
  return std::make_shared<Fallbacks>(shared_from_this(), std::move(fallbacks));
}

// ---- Sequence ----

Sequence::Sequence(std::vector<RunnablePtr> steps) : Runnable("sequence") {
  for (auto& s : steps) {
    if (!s) fail(ErrorCode::kInvalidArgument, "sequence: null step");
    if (auto* seq = dynamic_cast<Sequence*>(s.get())) {
      steps_.insert(steps_.end(), seq->steps_.begin(), seq->steps_.end());
    } else {
      steps_.push_back(std::move(s));
    }
  }
  if (steps_.empty()) fail(ErrorCode::kInvalidArgument, "sequence: no steps");
}

bool Sequence::can_stream() const {
  return std::any_of(steps_.begin(), steps_.end(), [](const RunnablePtr& s) { return s->can_stream(); });
}

Json Sequence::do_invoke(const Json& input, const RunConfig& config) {
  Json value = input;
  for (auto& step : steps_) value = step->invoke(value, config);
  return value;
}

Json Sequence::do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  size_t streamer = steps_.size() - 1;  // when nothing streams, the last step emits its output once
  for (size_t i = steps_.size(); i-- > 0;) {
    if (steps_[i]->can_stream()) {
      streamer = i;
      break;
    }
  }
  Json value = input;
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (i == streamer) {
      value = steps_[i]->stream(value, on_chunk, config);
    } else {
      value = steps_[i]->invoke(value, config);
    }
  }
  return value;
}

RunnablePtr operator|(RunnablePtr a, RunnablePtr b) {
  return std::make_shared<Sequence>(std::vector<RunnablePtr>{std::move(a), std::move(b)});
}

// ---- Parallel ----

Parallel::Parallel(std::initializer_list<Branch> branches) : Parallel(std::vector<Branch>(branches)) {}

Parallel::Parallel(std::vector<Branch> branches) : Runnable("parallel"), branches_(std::move(branches)) {
  if (branches_.empty()) fail(ErrorCode::kInvalidArgument, "parallel: no branches");
  for (size_t i = 0; i < branches_.size(); ++i) {
    if (!branches_[i].second) fail(ErrorCode::kInvalidArgument, "parallel: branch '{}' is null", branches_[i].first);
    for (size_t j = 0; j < i; ++j) {
      if (branches_[j].first == branches_[i].first) {
        fail(ErrorCode::kInvalidArgument, "parallel: duplicate branch key '{}'", branches_[i].first);
      }
    }
  }
}

Json Parallel::output_schema() const {
  Json props = Json::object();
  Json required = Json::array();
  for (auto& [key, r] : branches_) {
    props[key] = r->output_schema();
    required.push_back(key);
  }
  return {{"type", "object"}, {"properties", props}, {"required", required}};
}

Json Parallel::do_invoke(const Json& input, const RunConfig& config) {
  auto results = run_bounded(branches_.size(), config.max_concurrency,
                             [&](size_t i) { return branches_[i].second->invoke(input, config); });
  Json out = Json::object();
  for (size_t i = 0; i < branches_.size(); ++i) {
    if (!results[i].ok()) {
      const Error& e = results[i].error();
      throw Error(e.code(), fmt::format("parallel branch '{}': {}", branches_[i].first, e.message()));
    }
    out[branches_[i].first] = std::move(*results[i]);
  }
  return out;
}

RunnablePtr parallel(std::vector<Parallel::Branch> branches) { return std::make_shared<Parallel>(std::move(branches)); }

RunnablePtr passthrough() {
  return lambda([](const Json& in) { return in; }, "passthrough");
}

// ---- Retry ----

Retry::Retry(RunnablePtr inner, int max_attempts, std::chrono::milliseconds backoff)
    : Runnable("retry"), inner_(std::move(inner)), max_attempts_(max_attempts), backoff_(backoff) {
  if (!inner_) fail(ErrorCode::kInvalidArgument, "retry: null runnable");
  if (max_attempts_ < 1) fail(ErrorCode::kInvalidArgument, "retry: max_attempts must be >= 1, got {}", max_attempts);
}

namespace {

// Sleeps, or returns at once when cancelled (with the cancellation error).
void backoff_sleep(std::chrono::milliseconds total, const RunConfig& config) {
  config.cancel.sleep_for(total);
  config.cancel.throw_if_cancelled();
}

}  // namespace

Json Retry::do_invoke(const Json& input, const RunConfig& config) {
  auto wait = backoff_;
  for (int attempt = 1;; ++attempt) {
    try {
      return inner_->invoke(input, config);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kCancelled || attempt >= max_attempts_) throw;
    }
    backoff_sleep(wait, config);
    wait *= 2;
  }
}

Json Retry::do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  auto wait = backoff_;
  for (int attempt = 1;; ++attempt) {
    bool emitted = false;
    try {
      return inner_->stream(
          input,
          [&](const Json& c) {
            emitted = true;
            if (on_chunk) on_chunk(c);
          },
          config);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kCancelled || emitted || attempt >= max_attempts_) throw;
    }
    backoff_sleep(wait, config);
    wait *= 2;
  }
}

// ---- Fallbacks ----

Fallbacks::Fallbacks(RunnablePtr primary, std::vector<RunnablePtr> fallbacks) : Runnable("fallbacks") {
  chain_.push_back(std::move(primary));
  for (auto& f : fallbacks) chain_.push_back(std::move(f));
  for (auto& r : chain_) {
    if (!r) fail(ErrorCode::kInvalidArgument, "fallbacks: null runnable");
  }
}

Json Fallbacks::do_invoke(const Json& input, const RunConfig& config) {
  for (size_t i = 0;; ++i) {
    try {
      return chain_[i]->invoke(input, config);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kCancelled || i + 1 == chain_.size()) throw;
    }
  }
}

Json Fallbacks::do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  for (size_t i = 0;; ++i) {
    bool emitted = false;
    try {
      return chain_[i]->stream(
          input,
          [&](const Json& c) {
            emitted = true;
            if (on_chunk) on_chunk(c);
          },
          config);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kCancelled || emitted || i + 1 == chain_.size()) throw;
    }
  }
}

}  // namespace llmchain::chain
