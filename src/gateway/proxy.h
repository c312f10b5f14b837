#pragma once
// GatewayProxy: the gateway role's routes. LLM calls (/v1/chat/completions,
// /v1/completions, /v1/embeddings, /v1/models, /tokenize, /detokenize) are
// forwarded to an engine picked by the UpstreamPool; /v1/responses is served here
// as chat completions forwarded the same way (responses_api.h); the gateway answers its
// own health (/health/live, /health/ready: ready while >= 1 engine is healthy),
// /gateway/upstreams (each engine's state) and /metrics.
//
// Forwarding rules:
//  - An attempt that fails before the engine's first response byte
//    (cannot connect, reset, timeout, HTTP 502/503/504, or 429 when another
//    engine may have room) is retried on another engine, up to max_attempts
//    engines. A buffered (non-streamed) response is retried the same way when
//    its body breaks, since the client has not seen any of it.
//  - An SSE response (text/event-stream) is passed through event by event as
//    it arrives. Once it has started it is never retried: if the engine fails
//    mid-stream the client gets an error event
//    (data: {"error":{...,"code":"upstream_stream_broken"}}) and then
//    data: [DONE], so no stream ends silently.
//  - A client that goes away closes the engine connection, which cancels the
//    engine's sequence.
// With GatewayOptions::make_engine set (grpc:// upstreams, gateway/grpc_upstream.h) the LLM
// routes are not forwarded as HTTP: they are served here by the engine role's own routes
// (server::Api) over an engine whose calls go to the pool's engines, with the same selection,
// retries before the first token, breaker and stream error event.
// Transport-neutral (HttpRequest/HttpResponse), like Api; gateway/server.h
// binds it to cpp-httplib.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gateway/pool.h"
#include "http/disconnect_watch.h"
#include "http/router.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "server/responses_api.h"
#include "server/server_options.h"

namespace httplib {
struct Request;
}
namespace llmchain::server {
class Api;
}

namespace llmchain::gateway {

using http::HttpRequest;
using http::HttpResponse;
using server::GuardEventCounter;
using server::Metrics;
using server::ResponsesApi;
using server::ServerOptions;

// Serves a path the gateway itself does not (e.g. /chains/... from a chain
// registry whose LLM calls come back to this gateway's /v1). Returns nullopt for
// paths it does not know either (the gateway answers 404).
using GatewayExtraRoutes = std::function<std::optional<HttpResponse>(const HttpRequest& req, std::string& route)>;

// Header marking a request as the gateway's own (its chains' model calls, sent back to its
// /v1 routes); its value must equal GatewayOptions::internal_token. Never forwarded to engines.
inline constexpr const char* kGatewayInternalHeader = "x-llmchain-gateway-internal";

// What the gateway counts of its engine calls (also counted by an engine made by make_engine).
struct GatewayCounters {
  std::atomic<int64_t> retries{0};        // attempts repeated on another engine before a first byte
  std::atomic<int64_t> stream_errors{0};  // streams broken by an engine after they had started
  std::atomic<int64_t> unavailable{0};    // requests no engine could take
};

struct GatewayOptions {
  GatewayExtraRoutes extra_routes;  // tried after the gateway's own routes; authenticated like /v1
  // Non-empty: requests carrying kGatewayInternalHeader with this value are still forwarded
  // while the gateway drains (so a chain admitted before shutdown can finish its model calls).
  std::string internal_token;
  std::string upstream_api_key;     // sent to engines as Bearer; empty: the client's Authorization is passed on
  int max_attempts = 3;             // engines tried per request before its first byte
  double connect_timeout_s = 2;     // per attempt
  size_t stream_buffer = 1u << 20;  // bytes read ahead of a slow client, per stream
  // Set: the LLM routes are served by server::Api over the engine this makes from the pool
  // (rpc::use_grpc_upstreams) instead of forwarded over HTTP.
  std::function<std::shared_ptr<engine::Engine>(std::shared_ptr<UpstreamPool>, std::shared_ptr<GatewayCounters>)>
      make_engine;
};

class UpstreamCall;  // an engine call over HTTP (forwarding.h)

// Requests in flight (a stream's until it ends); drain() waits on it without polling.
class InflightCount {
 public:
  void add();
  void done();
  int load() const;
  // True once none is in flight; false at `deadline` if some still are.
  bool wait_zero(std::chrono::steady_clock::time_point deadline);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

class GatewayProxy {
 public:
  // Uses opts.api_key (required from clients when set), opts.request_timeout_s
  // (engine read timeout; <= 0: one hour) and opts.ui (ignored: no UI here).
  GatewayProxy(std::shared_ptr<UpstreamPool> pool, ServerOptions opts, GatewayOptions gw = {});
  ~GatewayProxy();
  GatewayProxy(const GatewayProxy&) = delete;
  GatewayProxy& operator=(const GatewayProxy&) = delete;

  // Routes a request; never throws. `route` gets the route label for logs.
  // Every response allows any origin (CORS); OPTIONS preflights get a 204.
  HttpResponse handle(const HttpRequest& req, std::string& route);
  // Forwards one request to an engine (the proxied routes' handler).
  HttpResponse forward(const HttpRequest& req);

  bool ready(std::string* why = nullptr) const;
  // Readiness goes 503 and new proxied requests get 503.
  void begin_shutdown() { shutting_down_.store(true); }
  // Waits until no request is in flight or `deadline`, then breaks the rest
  // (their streams end with an error event) and waits until `hard_deadline`.
  // True when everything finished by itself.
  bool drain(std::chrono::steady_clock::time_point deadline, std::chrono::steady_clock::time_point hard_deadline);
  int inflight() const { return inflight_.load(); }

  UpstreamPool& pool() { return *pool_; }
  std::string metrics_text() const;
  // What the guards of the gateway's chains did (metrics_text renders it).
  GuardEventCounter& guard_events() { return guard_events_; }

  struct Pipe;  // one engine call's data, shared by its reader thread and the response (forwarding.h)

 private:
  HttpResponse route_request(const HttpRequest& req, std::string& route);
  HttpResponse upstreams(const HttpRequest& req);
  HttpResponse serve_locally(const HttpRequest& req, std::shared_ptr<void> token);
  HttpResponse health_ready(const HttpRequest& req);
  bool internal(const HttpRequest& req) const;
  void track(const std::shared_ptr<Pipe>& p);
  // forward()'s parts (forward.cpp).
  struct Attempts;
  httplib::Request upstream_request(const HttpRequest& req) const;
  // One try on one engine: the answer to give, or nullopt to try the next (more: one is left).
  std::optional<HttpResponse> try_engine(const HttpRequest& req, const httplib::Request& base,
                                         UpstreamPool::Lease& lease, Attempts& a, bool more);
  std::optional<HttpResponse> judge(HttpResponse res, UpstreamPool::Lease& lease, Attempts& a);
  http::StreamBody relay_stream(std::shared_ptr<UpstreamCall> call, std::shared_ptr<UpstreamPool::Lease> held,
                                std::shared_ptr<void> token, std::shared_ptr<http::DisconnectWatch::Registration> watch,
                                std::string url);

  std::shared_ptr<UpstreamPool> pool_;
  ServerOptions opts_;
  GatewayOptions gw_;
  std::atomic<bool> shutting_down_{false};
  InflightCount inflight_;
  std::atomic<int64_t> requests_{0};
  std::shared_ptr<GatewayCounters> counters_ = std::make_shared<GatewayCounters>();
  // make_engine's engine and the routes over it (null: HTTP forwarding).
  std::shared_ptr<engine::Engine> engine_;
  std::unique_ptr<Metrics> engine_metrics_;
  std::unique_ptr<server::Api> api_;
  std::mutex pipes_mu_;
  std::vector<std::weak_ptr<Pipe>> pipes_;  // in-flight calls, for drain()
  GuardEventCounter guard_events_;
  // /v1/responses over forward()ed chat completions: the store lives here, so any engine
  // can serve a follow-up by previous_response_id.
  std::shared_ptr<ResponsesApi> responses_ = std::make_shared<ResponsesApi>();
  http::Router router_;  // the proxied and own routes, and auth (http/router.h)
  // Clients of forwarded requests while they wait on an engine (declared last: destroyed first,
  // once no request is left to watch).
  http::DisconnectWatch disconnects_;
};

}  // namespace llmchain::gateway
