#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

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

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::lock_guard lock(mu_);
  const std::string sep = labels.empty() ? "" : ",";
  const std::string own = labels.empty() ? "" : "{" + labels + "}";
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, bounds_[i], cum);
  }
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, total_);
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, own, sum_, name, own, total_);
}

ModelMetrics::ModelMetrics()
    : ttft({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      itl({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      e2e({0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}) {}

std::string escape_label_value(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      o += "\\\\";
    } else if (c == '"') {
      o += "\\\"";
    } else if (c == '\n') {
      o += "\\n";
    } else {
      o += c;
    }
  }
  return o;
}

Metrics::Metrics() = default;

void Metrics::record_http(const std::string& route, int status) {
  std::lock_guard lock(mu_);
  http_[{route, status}]++;
}

uint64_t Metrics::http_count(const std::string& route, int status) const {
  std::lock_guard lock(mu_);
  auto it = http_.find({route, status});
  return it == http_.end() ? 0 : it->second;
}

void GuardEventCounter::record(const std::string& chain, const std::string& guard, const std::string& action) {
  std::lock_guard lock(mu_);
  counts_[{chain, guard, action}]++;
}

uint64_t GuardEventCounter::count(const std::string& chain, const std::string& guard, const std::string& action) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find({chain, guard, action});
  return it == counts_.end() ? 0 : it->second;
}

void GuardEventCounter::render(std::string& out) const {
  std::lock_guard lock(mu_);
  out +=
      "# HELP llmchain_guard_events_total Chain guard actions (block, redact, flag) by chain and guard.\n"
      "# TYPE llmchain_guard_events_total counter\n";
  for (const auto& [key, n] : counts_) {
    const auto& [chain, guard, action] = key;
    out += fmt::format("llmchain_guard_events_total{{chain=\"{}\",guard=\"{}\",action=\"{}\"}} {}\n",
                       escape_label_value(chain), escape_label_value(guard), escape_label_value(action), n);
  }
}

void Metrics::record_guard_event(const std::string& chain, const std::string& guard, const std::string& action) {
  guard_events_.record(chain, guard, action);
}

uint64_t Metrics::guard_event_count(const std::string& chain, const std::string& guard,
                                    const std::string& action) const {
  return guard_events_.count(chain, guard, action);
}

ModelMetrics& Metrics::model(const std::string& name) {
  std::lock_guard lock(mu_);
  return models_.try_emplace(name.empty() ? served_model_ : name).first->second;
}

void Metrics::set_served_model(const std::string& name) {
  std::lock_guard lock(mu_);
  served_model_ = name;
  models_.try_emplace(name);
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

std::string model_label(const std::string& model) { return fmt::format("model=\"{}\"", escape_label_value(model)); }

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
  metric(out, "llmchain_requests_inflight", "gauge",
         "Generations started by the server (OpenAI routes and chains' models; running + waiting).");
  out += fmt::format("llmchain_requests_inflight {}\n", inflight);

  {
    // The series of all models, family by family (the format wants each family's lines together).
    std::lock_guard lock(mu_);
    metric(out, "llmchain_prompt_tokens_total", "counter", "Prompt tokens processed, by model.");
    for (const auto& [name, m] : models_) {
      out += fmt::format("llmchain_prompt_tokens_total{{{}}} {}\n", model_label(name), m.prompt_tokens.load());
    }
    metric(out, "llmchain_generation_tokens_total", "counter", "Tokens generated, by model.");
    for (const auto& [name, m] : models_) {
      out += fmt::format("llmchain_generation_tokens_total{{{}}} {}\n", model_label(name), m.generation_tokens.load());
    }
    metric(out, "llmchain_time_to_first_token_seconds", "histogram", "Time from request to first generated token.");
    for (const auto& [name, m] : models_) m.ttft.render(out, "llmchain_time_to_first_token_seconds", model_label(name));
    metric(out, "llmchain_inter_token_latency_seconds", "histogram", "Time between consecutive generated tokens.");
    for (const auto& [name, m] : models_) m.itl.render(out, "llmchain_inter_token_latency_seconds", model_label(name));
    metric(out, "llmchain_request_duration_seconds", "histogram", "End-to-end generation request latency.");
    for (const auto& [name, m] : models_) m.e2e.render(out, "llmchain_request_duration_seconds", model_label(name));
  }

  metric(out, "llmchain_kv_cache_usage_ratio", "gauge", "Fraction of KV-cache cells in use (0..1).");
  double usage = st.kv_cells_total > 0 ? static_cast<double>(st.kv_cells_used) / st.kv_cells_total : 0.0;
  out += fmt::format("llmchain_kv_cache_usage_ratio {}\n", usage);
  metric(out, "llmchain_kv_cache_cells_used", "gauge", "KV-cache cells in use.");
  out += fmt::format("llmchain_kv_cache_cells_used {}\n", st.kv_cells_used);
  metric(out, "llmchain_kv_cache_cells_capacity", "gauge", "KV-cache cells available in all.");
  out += fmt::format("llmchain_kv_cache_cells_capacity {}\n", st.kv_cells_total);

  metric(out, "llmchain_queue_rejections_total", "counter", "Requests rejected because the queue was full (429).");
  out += fmt::format("llmchain_queue_rejections_total {}\n", rejections_.load() + st.rejected_total);
  metric(out, "llmchain_requests_cancelled_total", "counter", "Generations cancelled by client disconnect.");
  out += fmt::format("llmchain_requests_cancelled_total {}\n", cancelled_.load());
  metric(out, "llmchain_requests_timed_out_total", "counter", "Generations stopped by the request timeout.");
  out += fmt::format("llmchain_requests_timed_out_total {}\n", timeouts_.load());

  guard_events_.render(out);
  std::lock_guard lock(mu_);
  metric(out, "llmchain_http_requests_total", "counter", "HTTP requests by route (template) and status.");
  for (const auto& [key, n] : http_) {
    out += fmt::format("llmchain_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", escape_label_value(key.first),
                       key.second, n);
  }
  return out;
}

GenerationRecorder::GenerationRecorder(Metrics& metrics, const std::string& model, Clock::time_point started)
    : metrics_(metrics), series_(metrics.model(model)), started_(started) {
  metrics_.request_started();
}

GenerationRecorder::~GenerationRecorder() {
  if (!finished_) on_finish(false, 0, 0);
}

void GenerationRecorder::on_token() {
  const auto now = Clock::now();
  if (!last_token_) {
    series_.ttft.observe(std::chrono::duration<double>(now - started_).count());
  } else {
    series_.itl.observe(std::chrono::duration<double>(now - *last_token_).count());
  }
  last_token_ = now;
}

void GenerationRecorder::on_finish(bool ok, int64_t prompt_tokens, int64_t completion_tokens) {
  if (finished_) return;
  finished_ = true;
  metrics_.request_finished();
  series_.e2e.observe(std::chrono::duration<double>(Clock::now() - started_).count());
  if (ok) {
    series_.prompt_tokens.fetch_add(prompt_tokens);
    series_.generation_tokens.fetch_add(completion_tokens);
  }
}

chain::GenerationObserverFactory observe_generations(std::shared_ptr<Metrics> metrics, std::string model) {
  return [metrics = std::move(metrics), model = std::move(model)]() -> std::unique_ptr<chain::GenerationObserver> {
    return std::make_unique<GenerationRecorder>(*metrics, model);
  };
}

}  // namespace llmchain::server
