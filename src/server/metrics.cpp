#include "server/metrics.h"

#include <fmt/format.h>

namespace llmchain::server {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::lock_guard lock(mu_);
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i]++;
  sum_ += v;
  total_++;
}

uint64_t Histogram::count() const {
  std::lock_guard lock(mu_);
  return total_;
}

void Histogram::render(std::string& out, const std::string& name) const {
  std::lock_guard lock(mu_);
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cum);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, total_);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, sum_, name, total_);
}

Metrics::Metrics() = default;

void Metrics::record_http(const std::string& route, int status) {
  std::lock_guard lock(http_mu_);
  http_[{route, status}]++;
}

uint64_t Metrics::http_count(const std::string& route, int status) const {
  std::lock_guard lock(http_mu_);
  auto it = http_.find({route, status});
  return it == http_.end() ? 0 : it->second;
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

std::string escape_label(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

}  // namespace

std::string Metrics::render(const engine::Engine* engine) const {
  std::string out;
  engine::EngineStats st;
  if (engine) st = engine->stats();
  int64_t inflight = inflight_.load();

  metric(out, "llmchain_requests_running", "gauge", "Sequences being decoded by the engine.");
  out += fmt::format("llmchain_requests_running {}\n", st.running);
  metric(out, "llmchain_requests_waiting", "gauge", "Requests admitted but waiting for an engine slot.");
  int64_t waiting = std::max<int64_t>(st.waiting, inflight - st.running);
  out += fmt::format("llmchain_requests_waiting {}\n", std::max<int64_t>(0, waiting));
  metric(out, "llmchain_requests_inflight", "gauge", "Generation requests admitted by the server (running + waiting).");
  out += fmt::format("llmchain_requests_inflight {}\n", inflight);

  metric(out, "llmchain_prompt_tokens_total", "counter", "Prompt tokens processed.");
  out += fmt::format("llmchain_prompt_tokens_total {}\n", prompt_tokens_.load());
  metric(out, "llmchain_generation_tokens_total", "counter", "Tokens generated.");
  out += fmt::format("llmchain_generation_tokens_total {}\n", generated_tokens_.load());

  metric(out, "llmchain_time_to_first_token_seconds", "histogram", "Time from request to first generated token.");
  ttft.render(out, "llmchain_time_to_first_token_seconds");
  metric(out, "llmchain_inter_token_latency_seconds", "histogram", "Time between consecutive generated tokens.");
  itl.render(out, "llmchain_inter_token_latency_seconds");
  metric(out, "llmchain_request_duration_seconds", "histogram", "End-to-end generation request latency.");
  e2e.render(out, "llmchain_request_duration_seconds");

  metric(out, "llmchain_kv_cache_usage_ratio", "gauge", "Fraction of KV-cache cells in use (0..1).");
  double usage = st.kv_cells_total > 0 ? static_cast<double>(st.kv_cells_used) / st.kv_cells_total : 0.0;
  out += fmt::format("llmchain_kv_cache_usage_ratio {}\n", usage);
  metric(out, "llmchain_kv_cache_cells_used", "gauge", "KV-cache cells in use.");
  out += fmt::format("llmchain_kv_cache_cells_used {}\n", st.kv_cells_used);
  metric(out, "llmchain_kv_cache_cells_total", "gauge", "KV-cache cells available.");
  out += fmt::format("llmchain_kv_cache_cells_total {}\n", st.kv_cells_total);

  metric(out, "llmchain_queue_rejections_total", "counter", "Requests rejected because the queue was full (429).");
  out += fmt::format("llmchain_queue_rejections_total {}\n", rejections_.load() + st.rejected_total);
  metric(out, "llmchain_requests_cancelled_total", "counter", "Generations cancelled by client disconnect.");
  out += fmt::format("llmchain_requests_cancelled_total {}\n", cancelled_.load());
  metric(out, "llmchain_requests_timed_out_total", "counter", "Generations stopped by the request timeout.");
  out += fmt::format("llmchain_requests_timed_out_total {}\n", timeouts_.load());

  metric(out, "llmchain_http_requests_total", "counter", "HTTP requests by route and status.");
  {
    std::lock_guard lock(http_mu_);
    for (const auto& [key, n] : http_) {
      out += fmt::format("llmchain_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", escape_label(key.first),
                         key.second, n);
    }
  }
  return out;
}

}  // namespace llmchain::server
