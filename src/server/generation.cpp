#include "server/generation.h"

#include <algorithm>
#include <thread>

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
  req.cancel = job->stop_.get_token();
  tracker.add(job);
  // The thread keeps the job alive until generate() returns, even if the
  // consumer (HTTP connection) has gone away.
  std::thread([job, &engine, &tracker, req = std::move(req)]() mutable {
    Expected<engine::GenerateResult> r = Error(ErrorCode::kInternal, "generation did not run");
    try {
      r = engine.generate(req, [&](const engine::TokenEvent& ev) { return job->on_token(ev); });
    } catch (const Error& e) {
      r = e;
    } catch (const std::exception& e) {
      r = Error(ErrorCode::kInternal, std::string("engine failed: ") + e.what());
    }
    job->finish(std::move(r));
    tracker.remove(job.get());
  }).detach();
  return job;
}

GenerationJob::~GenerationJob() = default;

bool GenerationJob::on_token(const engine::TokenEvent& ev) {
  auto now = Clock::now();
  if (recorder_) recorder_->on_token();
  if (deadline_ && now > *deadline_) {
    timed_out_.store(true);
    stop_.request_stop();
    cv_.notify_all();
    return false;
  }
  if (cancelled_.load()) return false;
  {
    std::lock_guard lock(mu_);
    events_.push_back(ev);
  }
  cv_.notify_all();
  return true;
}

void GenerationJob::finish(Expected<engine::GenerateResult> r) {
  if (recorder_) recorder_->on_finish(r.ok(), r.ok() ? r->prompt_tokens : 0, r.ok() ? r->completion_tokens : 0);
  if (metrics_) {
    if (cancelled_.load() && !timed_out_.load()) metrics_->record_cancel();
    if (timed_out_.load()) metrics_->record_timeout();
  }
  {
    std::lock_guard lock(mu_);
    result_.emplace(std::move(r));
    done_ = true;
  }
  keepalive_.reset();
  cv_.notify_all();
}

GenerationJob::Wait GenerationJob::next(std::vector<engine::TokenEvent>& out, Clock::time_point until) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] { return !events_.empty() || done_; });
  if (!events_.empty()) {
    out.insert(out.end(), std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
    events_.clear();
    return Wait::kEvents;
  }
  return done_ ? Wait::kDone : Wait::kTimeout;
}

bool GenerationJob::wait_done(Clock::time_point until) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, until, [&] { return done_; });
}

}  // namespace llmchain::server
