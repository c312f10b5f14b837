#include "engine/generation.h"

namespace llmchain::engine {

Generation::Generation(std::stop_token cancel) {
  if (cancel.stop_possible()) link_.emplace(std::move(cancel), [this] { stop_.request_stop(); });
}

std::shared_ptr<Generation> Generation::failed(Error e) {
  auto g = std::make_shared<Generation>();
  g->finish(std::move(e));
  return g;
}

Generation::Next Generation::next(std::vector<TokenEvent>& out, Clock::time_point until) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] { return !events_.empty() || result_.has_value(); });
  if (!events_.empty()) {
    out.insert(out.end(), std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
    events_.clear();
    taken_ = true;
    return Next::kEvents;
  }
  return result_ ? Next::kDone : Next::kTimeout;
}

bool Generation::wait(Clock::time_point until) const {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, until, [&] { return result_.has_value(); });
}

bool Generation::done() const {
  std::lock_guard lock(mu_);
  return result_.has_value();
}

const Expected<GenerateResult>& Generation::result() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return result_.has_value(); });
  return *result_;
}

void Generation::run(const Subscriber& s, std::function<void()> task) {
  if (s.executor) {
    s.executor(std::move(task));
  } else {
    task();
  }
}

void Generation::subscribe(Callbacks cb, Executor executor, bool consume) {
  std::lock_guard deliver(deliver_mu_);
  std::vector<TokenEvent> backlog;
  std::optional<Expected<GenerateResult>> finished;
  {
    std::lock_guard lock(mu_);
    backlog.assign(events_.begin(), events_.end());
    if (consume) {
      events_.clear();
      consumed_ = true;
    }
    finished = result_;
    if (!finished) subscribers_.push_back({cb, executor, consume});  // (none are kept once finished)
  }
  const Subscriber& s = {cb, std::move(executor), consume};
  if (cb.on_event) {
    for (auto& ev : backlog) run(s, [f = cb.on_event, ev = std::move(ev)] { f(ev); });
  }
  if (finished && cb.on_done) run(s, [f = cb.on_done, r = std::move(*finished)] { f(r); });
}

void Generation::push(TokenEvent ev) {
  std::lock_guard deliver(deliver_mu_);
  std::vector<Subscriber> subs;
  {
    std::lock_guard lock(mu_);
    subs = subscribers_;
    if (!consumed_) events_.push_back(ev);
  }
  cv_.notify_all();
  for (const auto& s : subs) {
    if (s.cb.on_event) run(s, [f = s.cb.on_event, ev] { f(ev); });
  }
}

bool Generation::rewind() {
  std::lock_guard lock(mu_);
  if (taken_ || consumed_ || result_) return false;
  events_.clear();
  return true;
}

void Generation::finish(Expected<GenerateResult> r) {
  std::lock_guard deliver(deliver_mu_);
  std::vector<Subscriber> subs;
  {
    std::lock_guard lock(mu_);
    if (result_) return;  // finished once
    result_.emplace(std::move(r));
    subs.swap(subscribers_);  // the callbacks (and what they hold) go once they have run
  }
  cv_.notify_all();
  for (const auto& s : subs) {
    if (s.cb.on_done) run(s, [f = s.cb.on_done, r = *result_] { f(r); });
  }
}

// The blocking call over submit(): the caller's thread drains the events into its callback, so
// a slow callback never holds up the decode loop. When the callback stops it, the engine may
// have produced a few more tokens before it saw the cancel; the result covers exactly what the
// callback was given.
Expected<GenerateResult> Engine::generate(const GenerateRequest& req, const TokenCallback& on_token) {
  auto gen = submit(req);
  std::vector<TokenEvent> batch;
  bool stopped = false;
  std::string seen_text;
  int32_t seen_tokens = 0;
  while (gen->next(batch) == Generation::Next::kEvents) {
    for (const auto& ev : batch) {
      if (stopped) break;
      seen_text += ev.text;
      if (ev.token >= 0) ++seen_tokens;
      if (on_token && !on_token(ev)) {
        stopped = true;
        gen->cancel();
      }
    }
    batch.clear();
  }
  Expected<GenerateResult> r = gen->result();
  if (stopped && r.ok()) {
    r->text = std::move(seen_text);
    r->completion_tokens = seen_tokens;
    if (r->logprobs.size() > static_cast<size_t>(seen_tokens)) r->logprobs.resize(seen_tokens);
    r->finish_reason = FinishReason::kCancelled;
  }
  return r;
}

}  // namespace llmchain::engine
