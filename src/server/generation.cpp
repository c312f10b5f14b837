#include "server/generation.h"

#include <algorithm>

namespace llmchain::server {

bool Admission::try_acquire() {
  int64_t cur = used_.load();
  while (cur < capacity_) {
    if (used_.compare_exchange_weak(cur, cur + 1)) return true;
  }
  return false;
}

void Admission::release() { used_.fetch_sub(1); }

void JobTracker::add(const std::shared_ptr<GenerationJob>& job) {
  std::lock_guard lock(mu_);
  jobs_.push_back(job);
  live_++;
}

void JobTracker::remove(const GenerationJob* job) {
  std::lock_guard lock(mu_);
  jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(),
                             [&](const std::weak_ptr<GenerationJob>& w) {
                               auto p = w.lock();
                               return !p || p.get() == job;
                             }),
              jobs_.end());
  live_--;
  cv_.notify_all();
}

size_t JobTracker::size() const {
  std::lock_guard lock(mu_);
  return live_;
}

void JobTracker::cancel_all() {
  std::lock_guard lock(mu_);
  for (auto& w : jobs_) {
    if (auto p = w.lock()) p->cancel();
  }
}

bool JobTracker::wait_idle(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return live_ == 0; });
}

std::shared_ptr<GenerationJob> GenerationJob::start(engine::Engine& engine, engine::GenerateRequest req,
                                                    Clock::time_point started,
                                                    std::optional<Clock::time_point> deadline, JobTracker& tracker,
                                                    Metrics* metrics, const std::string& model,
                                                    std::shared_ptr<void> keepalive) {
  std::shared_ptr<GenerationJob> job(new GenerationJob());
  job->deadline_ = deadline;
  job->metrics_ = metrics;
  if (metrics) job->recorder_.emplace(*metrics, model, started);
  job->keepalive_ = std::move(keepalive);
  job->tracker_ = &tracker;
  tracker.add(job);
  job->gen_ = engine.submit(std::move(req));
  // A tap on the engine's thread (the events stay queued for next()); it keeps the job alive
  // until the generation ends, even if the consumer (HTTP connection) has gone away.
  job->gen_->subscribe({[job](const engine::TokenEvent&) { job->on_token(); },
                        [job](const Expected<engine::GenerateResult>& r) { job->on_done(r); }},
                       nullptr, /*consume=*/false);
  return job;
}

GenerationJob::~GenerationJob() = default;

void GenerationJob::on_token() {
  if (recorder_) recorder_->on_token();
  if (deadline_ && Clock::now() > *deadline_ && !timed_out_.exchange(true)) gen_->cancel();
}

void GenerationJob::on_done(const Expected<engine::GenerateResult>& r) {
  if (recorder_) recorder_->on_finish(r.ok(), r.ok() ? r->prompt_tokens : 0, r.ok() ? r->completion_tokens : 0);
  if (metrics_) {
    if (cancelled_.load() && !timed_out_.load()) metrics_->record_cancel();
    if (timed_out_.load()) metrics_->record_timeout();
  }
  keepalive_.reset();
  tracker_->remove(this);
}

GenerationJob::Wait GenerationJob::next(std::vector<engine::TokenEvent>& out, Clock::time_point until) {
  switch (gen_->next(out, until)) {
    case engine::Generation::Next::kEvents: return Wait::kEvents;
    case engine::Generation::Next::kDone: return Wait::kDone;
    case engine::Generation::Next::kTimeout: break;
  }
  return Wait::kTimeout;
}

}  // namespace llmchain::server
