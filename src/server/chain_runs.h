#pragma once
// The chain calls in flight (invoke, batch and stream workers), so shutdown can cancel them
// and wait until none still uses the engine.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>

#include "chain/runnable.h"

namespace llmchain::server {

class ChainRuns {
 public:
  using Clock = std::chrono::steady_clock;

  // Registers a run; its token is cancelled by cancel_all(). Returns the id for finish().
  uint64_t begin(const chain::CancellationToken& token) {
    std::lock_guard lock(mu_);
    runs_.emplace(next_, token);
    return next_++;
  }
  void finish(uint64_t id) {
    std::lock_guard lock(mu_);
    runs_.erase(id);
    if (runs_.empty()) cv_.notify_all();
  }
  void cancel_all() {
    std::lock_guard lock(mu_);
    for (auto& [id, token] : runs_) token.cancel();
  }
  // True when no run is left before the deadline.
  bool wait_idle(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return runs_.empty(); });
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return runs_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, chain::CancellationToken> runs_;
  uint64_t next_ = 1;
};

// Registers on construction, finishes on destruction.
class ChainRunScope {
 public:
  ChainRunScope(ChainRuns& runs, const chain::CancellationToken& token) : runs_(runs), id_(runs.begin(token)) {}
  ~ChainRunScope() { runs_.finish(id_); }
  ChainRunScope(const ChainRunScope&) = delete;
  ChainRunScope& operator=(const ChainRunScope&) = delete;

 private:
  ChainRuns& runs_;
  uint64_t id_;
};

}  // namespace llmchain::server
