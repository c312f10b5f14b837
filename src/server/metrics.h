#pragma once
// Server metrics in Prometheus text exposition format (version 0.0.4).
// Engine-side gauges (running, waiting, KV cache) are read from Engine::stats()
// at scrape time; latencies are measured here from token callbacks.
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace llmchain::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Appends the _bucket/_sum/_count lines for metric `name`.
  void render(std::string& out, const std::string& name) const;
  uint64_t count() const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (non-cumulative), plus +Inf
  double sum_ = 0;
  uint64_t total_ = 0;
};

class Metrics {
 public:
  Metrics();

  void record_http(const std::string& route, int status);
  void record_rejection() { rejections_.fetch_add(1); }
  void record_cancel() { cancelled_.fetch_add(1); }
  void record_timeout() { timeouts_.fetch_add(1); }
  void record_tokens(int64_t prompt, int64_t generated) {
    prompt_tokens_.fetch_add(prompt);
    generated_tokens_.fetch_add(generated);
  }
  void request_started() { inflight_.fetch_add(1); }
  void request_finished() { inflight_.fetch_sub(1); }
  int64_t inflight() const { return inflight_.load(); }

  Histogram ttft{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
  Histogram itl{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}};
  Histogram e2e{{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}};

  // Prometheus text; engine may be null (no engine gauges).
  std::string render(const engine::Engine* engine) const;
  uint64_t http_count(const std::string& route, int status) const;
  int64_t rejections() const { return rejections_.load(); }

 private:
  std::atomic<int64_t> rejections_{0}, cancelled_{0}, timeouts_{0};
  std::atomic<int64_t> prompt_tokens_{0}, generated_tokens_{0};
  std::atomic<int64_t> inflight_{0};
  mutable std::mutex http_mu_;
  std::map<std::pair<std::string, int>, uint64_t> http_;
};

}  // namespace llmchain::server
