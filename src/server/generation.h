#pragma once
// One generation a route serves: the engine's Generation (engine/generation.h, no thread of
// its own) plus what the server keeps around it: the request deadline (checked on every
// token, cancelling the sequence once passed), metrics, the admission ticket, and the job
// tracker that lets shutdown wait for it. A slow HTTP client never blocks the engine: events
// queue in the Generation until the route's writer takes them.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/generation.h"
#include "server/metrics.h"

namespace llmchain::server {

using Clock = std::chrono::steady_clock;

// Bounds the number of generation requests admitted at once (running + queued).
class Admission {
 public:
  explicit Admission(int64_t capacity) : capacity_(capacity) {}
  bool try_acquire();
  void release();
  int64_t in_use() const { return used_.load(); }
  int64_t capacity() const { return capacity_; }
  bool has_room() const { return used_.load() < capacity_; }

 private:
  int64_t capacity_;
  std::atomic<int64_t> used_{0};
};

// Move-only admission slot; released on destruction.
class AdmissionTicket {
 public:
  AdmissionTicket() = default;
  explicit AdmissionTicket(Admission* a) : a_(a) {}
  AdmissionTicket(AdmissionTicket&& o) noexcept : a_(std::exchange(o.a_, nullptr)) {}
  AdmissionTicket& operator=(AdmissionTicket&& o) noexcept {
    reset();
    a_ = std::exchange(o.a_, nullptr);
    return *this;
  }
  ~AdmissionTicket() { reset(); }
  bool valid() const { return a_ != nullptr; }
  void reset() {
    if (a_) a_->release();
    a_ = nullptr;
  }

 private:
  Admission* a_ = nullptr;
};

class GenerationJob;

// Every live job, so shutdown can wait for them and cancel the stragglers.
class JobTracker {
 public:
  void add(const std::shared_ptr<GenerationJob>& job);
  void remove(const GenerationJob* job);
  size_t size() const;
  void cancel_all();
  // True when all jobs finished before the deadline.
  bool wait_idle(Clock::time_point deadline);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::weak_ptr<GenerationJob>> jobs_;
  size_t live_ = 0;
};

class GenerationJob {
 public:
  enum class Wait { kEvents, kDone, kTimeout };

  // Submits req to the engine. The engine, tracker and metrics must outlive the job (the
  // server waits for the tracker to drain on shutdown). Metrics (may be null) are recorded
  // under the `model` label; `keepalive` (e.g. the admission ticket) is released when the
  // generation ends.
  static std::shared_ptr<GenerationJob> start(engine::Engine& engine, engine::GenerateRequest req,
                                              Clock::time_point started, std::optional<Clock::time_point> deadline,
                                              JobTracker& tracker, Metrics* metrics, const std::string& model,
                                              std::shared_ptr<void> keepalive = nullptr);
  ~GenerationJob();

  // Moves pending events into out. kTimeout when `until` passed with nothing new.
  Wait next(std::vector<engine::TokenEvent>& out, Clock::time_point until);
  // Blocks until the generation finished or `until` passed; false on timeout.
  bool wait_done(Clock::time_point until) { return gen_->wait(until); }
  // Stops the sequence wherever it is in the engine (compiling, queued, prefilling, generating).
  void cancel() {
    cancelled_.store(true);
    gen_->cancel();
  }
  bool cancelled() const { return cancelled_.load(); }
  bool timed_out() const { return timed_out_.load(); }
  // Valid once next() returned kDone or wait_done() returned true.
  const Expected<engine::GenerateResult>& result() const { return gen_->result(); }

 private:
  GenerationJob() = default;
  void on_token();
  void on_done(const Expected<engine::GenerateResult>& r);

  std::shared_ptr<engine::Generation> gen_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> timed_out_{false};
  std::optional<Clock::time_point> deadline_;
  Metrics* metrics_ = nullptr;
  std::optional<GenerationRecorder> recorder_;  // with metrics_: latencies and tokens
  std::shared_ptr<void> keepalive_;             // released when the generation ends
  JobTracker* tracker_ = nullptr;
};

}  // namespace llmchain::server
