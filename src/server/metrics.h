#pragma once
// Server metrics in Prometheus text exposition format (version 0.0.4).
// Engine-side gauges (running, waiting, KV cache) are read from Engine::stats()
// at scrape time; latencies are measured here from token callbacks, per served
// model (the `model` label, as vLLM's `model_name`). Every engine call counts,
// whatever sent it: the OpenAI routes (GenerationJob) and chains' local models
// (chain::GenerationObserver, see observe_generations()).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "chain/generation_observer.h"
#include "engine/engine.h"

namespace llmchain::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Appends the _bucket/_sum/_count lines for metric `name`; `labels` (already
  // escaped, e.g. `model="x"`) go before `le` on every line.
  void render(std::string& out, const std::string& name, const std::string& labels = "") const;
  uint64_t count() const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (non-cumulative), plus +Inf
  double sum_ = 0;
  uint64_t total_ = 0;
};

// The series of one served model: token counters and latency histograms (seconds).
struct ModelMetrics {
  ModelMetrics();
  std::atomic<int64_t> prompt_tokens{0};
  std::atomic<int64_t> generation_tokens{0};
  Histogram ttft;  // request start to first generated token
  Histogram itl;   // between consecutive generated tokens
  Histogram e2e;   // request start to the end of generation
};

// A label value escaped for the text format: backslash, double quote and newline.
std::string escape_label_value(const std::string& s);

// llmchain_guard_events_total{chain,guard,action}: what chain guards did (chain/guards.h).
// Shared by the server's Metrics and the gateway's /metrics. Thread-safe.
class GuardEventCounter {
 public:
  // action: "block", "redact" or "flag".
  void record(const std::string& chain, const std::string& guard, const std::string& action);
  uint64_t count(const std::string& chain, const std::string& guard, const std::string& action) const;
  // Appends the HELP/TYPE lines and one sample per (chain, guard, action).
  void render(std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> counts_;
};

class Metrics {
 public:
  Metrics();

  void record_http(const std::string& route, int status);
  void record_rejection() { rejections_.fetch_add(1); }
  void record_cancel() { cancelled_.fetch_add(1); }
  void record_timeout() { timeouts_.fetch_add(1); }
  // A chain guard acted on text (action: "block", "redact" or "flag"; chain/guards.h).
  void record_guard_event(const std::string& chain, const std::string& guard, const std::string& action);
  void request_started() { inflight_.fetch_add(1); }
  void request_finished() { inflight_.fetch_sub(1); }
  int64_t inflight() const { return inflight_.load(); }

  // The series of `model` ("": the served model), created on first use. The
  // reference stays valid for the Metrics' lifetime.
  ModelMetrics& model(const std::string& name);
  // The id of the model the server serves (Api sets it); its series are exported
  // at zero before any traffic.
  void set_served_model(const std::string& name);

  // Prometheus text; engine may be null (no engine gauges).
  std::string render(const engine::Engine* engine) const;
  uint64_t http_count(const std::string& route, int status) const;
  uint64_t guard_event_count(const std::string& chain, const std::string& guard, const std::string& action) const;
  int64_t rejections() const { return rejections_.load(); }

 private:
  std::atomic<int64_t> rejections_{0}, cancelled_{0}, timeouts_{0};
  std::atomic<int64_t> inflight_{0};
  mutable std::mutex mu_;  // guards the maps below (not the series' values)
  std::map<std::pair<std::string, int>, uint64_t> http_;
  GuardEventCounter guard_events_;
  std::map<std::string, ModelMetrics> models_;  // node-based: references stay valid
  std::string served_model_;
};

// Measures one engine call for `model`: time to first token from `started`, the
// gaps between tokens, end-to-end latency and token counts; counts it in flight
// until on_finish (or destruction, as a failure). Used by one thread at a time.
class GenerationRecorder : public chain::GenerationObserver {
 public:
  using Clock = std::chrono::steady_clock;
  GenerationRecorder(Metrics& metrics, const std::string& model, Clock::time_point started = Clock::now());
  ~GenerationRecorder() override;
  GenerationRecorder(const GenerationRecorder&) = delete;
  GenerationRecorder& operator=(const GenerationRecorder&) = delete;

  void on_token() override;
  void on_finish(bool ok, int64_t prompt_tokens, int64_t completion_tokens) override;

 private:
  Metrics& metrics_;
  ModelMetrics& series_;
  Clock::time_point started_;
  std::optional<Clock::time_point> last_token_;
  bool finished_ = false;
};

// Observers for chain::LocalLLMOptions::observe that record into `metrics` under
// `model`; "": the served model (chains' local models run on the server's engine,
// and the server's model id is known only once the server is built).
chain::GenerationObserverFactory observe_generations(std::shared_ptr<Metrics> metrics, std::string model = "");

}  // namespace llmchain::server
