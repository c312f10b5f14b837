#include "gateway/proxy.h"

#include <algorithm>

#include "base/log.h"
#include "gateway/forwarding.h"
#include "server/api.h"
#include "server/api_error.h"
#include "server/cors.h"
#include "server/metrics.h"
#include "server/openai_response.h"

namespace llmchain::gateway {

using Clock = std::chrono::steady_clock;
using http::ChunkWriter;
using http::json_response;
using nlohmann::json;
using server::allow_any_origin;
using server::Api;
using server::cors_preflight;
using server::escape_label_value;
using server::internal_error;
using server::respond;

void InflightCount::add() {
  std::lock_guard lock(mu_);
  ++n_;
}

void InflightCount::done() {
  std::lock_guard lock(mu_);
  if (--n_ == 0) cv_.notify_all();
}

int InflightCount::load() const {
  std::lock_guard lock(mu_);
  return n_;
}

bool InflightCount::wait_zero(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return n_ == 0; });
}

GatewayProxy::GatewayProxy(std::shared_ptr<UpstreamPool> pool, ServerOptions opts, GatewayOptions gw)
    : pool_(std::move(pool)), opts_(std::move(opts)), gw_(std::move(gw)), router_(opts_.api_key, respond) {
  // Proxied to the engines (with the key); the gateway's own health, metrics and upstreams.
  auto fwd = [this](const HttpRequest& r) { return forward(r); };
  for (const char* path : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank", "/rerank",
                           "/tokenize", "/detokenize"})
    router_.add("POST", path, true, fwd);
  router_.add("GET", "/v1/models", true, fwd);
  router_.add("GET", "/v1/models/{model:path}", true, fwd);
  router_.add("GET", "/health", false, [this](const HttpRequest& r) { return health_ready(r); });
  router_.add("GET", "/health/ready", false, [this](const HttpRequest& r) { return health_ready(r); });
  router_.add("GET", "/health/live", false, [](const HttpRequest&) { return json_response({{"status", "ok"}}); });
  router_.add("GET", "/metrics", false, [this](const HttpRequest&) {
    HttpResponse res;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = metrics_text();
    return res;
  });
  router_.add("GET", "/gateway/upstreams", true, [this](const HttpRequest& r) { return upstreams(r); });
  if (gw_.make_engine) {
    engine_ = gw_.make_engine(pool_, counters_);
    ServerOptions api = opts_;
    api.api_key.clear();  // authenticated here
    api.ui = false;
    api.chains = nullptr;
    api.parallel = 1;  // the engines queue: admit what the engines together could
    api.max_queue = std::max(1, opts_.max_connections);
    engine_metrics_ = std::make_unique<Metrics>();
    api_ = std::make_unique<Api>(*engine_, api, *engine_metrics_);
  }
}

GatewayProxy::~GatewayProxy() {
  begin_shutdown();
  auto now = Clock::now();
  drain(now, now + std::chrono::seconds(10));
  api_.reset();  // before the engine it uses
}

void GatewayProxy::track(const std::shared_ptr<Pipe>& p) {
  std::lock_guard lock(pipes_mu_);
  pipes_.erase(std::remove_if(pipes_.begin(), pipes_.end(), [](const auto& w) { return w.expired(); }), pipes_.end());
  pipes_.push_back(p);
}

bool GatewayProxy::drain(Clock::time_point deadline, Clock::time_point hard_deadline) {
  auto wait_until = [&](Clock::time_point t) { return inflight_.wait_zero(t); };
  if (api_) api_->drain(deadline, hard_deadline);
  if (wait_until(deadline)) return true;
  {
    std::lock_guard lock(pipes_mu_);
    for (auto& w : pipes_) {
      if (auto p = w.lock()) p->cancel("the gateway is shutting down");
    }
  }
  wait_until(hard_deadline);
  return false;
}

bool GatewayProxy::ready(std::string* why) const {
  if (shutting_down_.load()) {
    if (why) *why = "shutting down";
    return false;
  }
  if (pool_->healthy_count() == 0) {
    if (why) *why = fmt::format("no healthy upstream engine (0 of {})", pool_->size());
    return false;
  }
  if (engine_ && !engine_->ready()) {
    if (why) *why = "no engine has told its model yet";
    return false;
  }
  return true;
}

HttpResponse GatewayProxy::handle(const HttpRequest& req, std::string& route) {
  HttpResponse res = route_request(req, route);
  allow_any_origin(res);
  return res;
}

HttpResponse GatewayProxy::route_request(const HttpRequest& req, std::string& route) {
  if (auto pre = cors_preflight(req)) {
    route = "cors_preflight";
    return std::move(*pre);
  }
  const std::string& path = req.path;
  if (ResponsesApi::handles(path)) {
    if (!router_.authorized(req)) {
      route = path == "/v1/responses" ? path : "/v1/responses/{id}";
      return http::unauthorized(req);
    }
    return responses_->serve(req, route, [this](const HttpRequest& chat) { return forward(chat); });
  }
  // Paths of no route of ours: the gateway's chains (and a caller's extra routes), with the key.
  if (!router_.knows(path) && gw_.extra_routes) {
    if (!router_.authorized(req)) {
      route = "unauthorized";
      return http::unauthorized(req);
    }
    try {
      if (auto res = gw_.extra_routes(req, route)) return std::move(*res);
    } catch (const std::exception& ex) {
      return internal_error(ex).to_response();
    }
  }
  return router_.dispatch(req, route);
}

HttpResponse GatewayProxy::health_ready(const HttpRequest&) {
  std::string why;
  if (ready(&why)) {
    return json_response({{"status", "ok"}, {"upstreams_healthy", pool_->healthy_count()}});
  }
  return json_response({{"status", "unavailable"}, {"reason", why}}, 503);
}

HttpResponse GatewayProxy::upstreams(const HttpRequest&) {
  json list = json::array();
  size_t healthy = 0;
  for (const auto& s : pool_->status()) {
    healthy += s.healthy ? 1 : 0;
    list.push_back(s.to_json());
  }
  return json_response({{"upstreams", list}, {"healthy", healthy}, {"total", list.size()}});
}

std::string GatewayProxy::metrics_text() const {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("llmchain_gateway_requests_total", "counter", "Requests the gateway forwarded to engines.");
  out += fmt::format("llmchain_gateway_requests_total {}\n", requests_.load());
  metric("llmchain_gateway_retries_total", "counter", "Attempts repeated on another engine before a first byte.");
  out += fmt::format("llmchain_gateway_retries_total {}\n", counters_->retries.load());
  metric("llmchain_gateway_stream_errors_total", "counter", "Streams broken by an engine after they had started.");
  out += fmt::format("llmchain_gateway_stream_errors_total {}\n", counters_->stream_errors.load());
  metric("llmchain_gateway_unavailable_total", "counter", "Requests no engine could take (503).");
  out += fmt::format("llmchain_gateway_unavailable_total {}\n", counters_->unavailable.load());
  metric("llmchain_gateway_requests_inflight", "gauge", "Requests being forwarded now.");
  out += fmt::format("llmchain_gateway_requests_inflight {}\n", inflight_.load());
  auto st = pool_->status();
  auto per_upstream = [&](const char* name, const char* type, const char* help, auto value) {
    metric(name, type, help);
    for (const auto& s : st) {
      out += fmt::format("{}{{upstream=\"{}\"}} {}\n", name, escape_label_value(s.url), value(s));
    }
  };
  per_upstream("llmchain_gateway_upstream_healthy", "gauge", "1 when the engine's last health check passed.",
               [](const UpstreamStatus& s) { return s.healthy ? 1 : 0; });
  per_upstream("llmchain_gateway_upstream_outstanding", "gauge", "Requests outstanding on the engine.",
               [](const UpstreamStatus& s) { return static_cast<int64_t>(s.outstanding); });
  per_upstream("llmchain_gateway_upstream_breaker_open", "gauge", "1 while the engine's circuit breaker is open.",
               [](const UpstreamStatus& s) { return s.breaker == BreakerState::kClosed ? 0 : 1; });
  per_upstream("llmchain_gateway_upstream_requests_total", "counter", "Attempts sent to the engine.",
               [](const UpstreamStatus& s) { return s.requests_total; });
  per_upstream("llmchain_gateway_upstream_failures_total", "counter", "Attempts that failed on the engine.",
               [](const UpstreamStatus& s) { return s.failures_total; });
  guard_events_.render(out);
  return out;
}

bool GatewayProxy::internal(const HttpRequest& req) const {
  return !gw_.internal_token.empty() && http::equal_ct(req.header(kGatewayInternalHeader), gw_.internal_token);
}

// The LLM routes over make_engine's engine: the request is the engine role's, minus its
// own authentication (done here; its Api has no key) and with the in-flight count held until a stream ends.
HttpResponse GatewayProxy::serve_locally(const HttpRequest& req, std::shared_ptr<void> token) {
  if (!engine_->ready()) {  // no engine reachable: say which and why, as forwarding does
    ++counters_->unavailable;
    std::string why = "no engine has told its model yet";
    if (auto lease = pool_->acquire(); !lease) why = lease.error().message();
    for (const auto& s : pool_->status()) {
      if (!s.last_error.empty()) why += "; " + s.last_error;
    }
    return error_response(503, fmt::format("No upstream engine could answer the request: {}.", why), "server_error",
                          "upstream_unavailable");
  }
  std::string route;  // the Api has no key of its own: the request was authenticated here
  HttpResponse res = api_->handle(req, route);
  if (res.stream) {
    // A stream broken by its engine ends with the error event and then [DONE], as forwarded ones do.
    res.stream = [inner = std::move(res.stream), token](const ChunkWriter& write) {
      bool broken = false, open = true;
      inner([&](std::string_view chunk) {
        broken = chunk.find("\"code\":\"upstream_stream_broken\"") != std::string_view::npos;
        return open = write(chunk);
      });
      if (broken && open) write("data: [DONE]\n\n");
    };
  }
  return res;
}

}  // namespace llmchain::gateway
