#pragma once
// A submitted generation (Engine::submit): the token events as the engine produces them, its
// cancellation and its result. The engine's decode loop is the only producer; consumers pull
// events (next), wait for the end (wait, result), or subscribe callbacks that run on an
// executor they choose. Nothing blocks the engine: producing an event appends it to a queue
// (and runs the subscribed callbacks' hand-off), and a consumer that has gone away costs
// nothing until the sequence is cancelled.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace llmchain::engine {

// Runs a task: inline (null), on a strand of an event loop, a thread pool... A generation's
// callbacks are handed over in order; an executor that may reorder tasks must not be used.
using Executor = std::function<void(std::function<void()>)>;

class Generation {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Next { kEvents, kDone, kTimeout };

  // `cancel` (the request's own token, may be empty) cancels it too.
  explicit Generation(std::stop_token cancel = {});
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;
  // An already finished generation (an error found before it was queued).
  static std::shared_ptr<Generation> failed(Error e);

  // ---- consumers ----
  // Moves the events produced so far into `out` (kEvents); kDone once finished and every
  // event was taken; kTimeout when `until` passed with nothing new.
  Next next(std::vector<TokenEvent>& out, Clock::time_point until = Clock::time_point::max());
  // Blocks until finished or `until` passed; false on timeout.
  bool wait(Clock::time_point until = Clock::time_point::max()) const;
  bool done() const;
  // Blocks until finished.
  const Expected<GenerateResult>& result() const;

  // Callbacks for every event (the ones not yet taken by next(), then each new one) and for the
  // end, run through `executor` (null: inline on the engine's decode thread, where they must be
  // quick and never block; they may call next/done/cancel but not subscribe). With `consume`, events go to the callback
  // only (next() sees none); without, they also stay queued for next() (a tap: metrics, deadlines). Several may be set.
  struct Callbacks {
    std::function<void(const TokenEvent&)> on_event;
    std::function<void(const Expected<GenerateResult>&)> on_done;
  };
  void subscribe(Callbacks cb, Executor executor = nullptr, bool consume = true);

  // Stops the sequence wherever it is (compiling, queued, prefilling, generating) within one
  // decode step; it then finishes with FinishReason::kCancelled. Idempotent.
  void cancel() { stop_.request_stop(); }
  bool cancelled() const { return stop_.stop_requested(); }
  std::stop_token stop_token() const { return stop_.get_token(); }

  // ---- the engine (producer) ----
  void push(TokenEvent ev);
  // Drops the events queued so far, so the producer may start the sequence over (a remote
  // engine retrying on another replica after the first one failed mid-way), when no consumer
  // has taken one yet: next() never returned an event and no consuming subscriber was set.
  // Non-consuming taps have seen them (metrics count them twice). False, and nothing dropped,
  // when a consumer has seen an event.
  bool rewind();
  void finish(Expected<GenerateResult> r);

 private:
  struct Subscriber {
    Callbacks cb;
    Executor executor;
    bool consume;
  };
  static void run(const Subscriber& s, std::function<void()> task);

  std::mutex deliver_mu_;  // held while callbacks are handed over, so they see events in order
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<TokenEvent> events_;
  std::vector<Subscriber> subscribers_;
  bool consumed_ = false;  // a consuming subscriber takes the events
  bool taken_ = false;     // next() returned an event
  std::optional<Expected<GenerateResult>> result_;
  std::stop_source stop_;
  std::optional<std::stop_callback<std::function<void()>>> link_;  // the request's token -> stop_
};

}  // namespace llmchain::engine
