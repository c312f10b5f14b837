#pragma once
// LangServe-shaped chain routes over chain::ChainRegistry (see chain/registry.h), shared by
// the engine/all roles (Api's route table) and the gateway role (GatewayServer, through
// GatewayOptions::extra_routes):
//   GET  /chains                        {"object":"list","data":[{name, description, type, input_variables}]}
//   POST /chains/{name}/invoke          {"input":..., "config":{...}} -> {"output":..., "metadata":{...}}
//                                       metadata.guards: [{guard, action, stage, reason}] when a
//                                       guard flagged, redacted or blocked text
//   POST /chains/{name}/batch           {"inputs":[...], "config":{...}} -> {"output":[...], "metadata":{...}}
//                                       (config: one object, or a list with one per input); an
//                                       input that fails is an error object in its place
//   POST /chains/{name}/stream          SSE: "event: metadata" {run_id}, "event: data" per chunk
//                                       (the type of the output: text pieces, partial JSON values),
//                                       then "event: end"; a failure after the first event is
//                                       "event: error" {status_code, message, error}
//   POST /chains/{name}/stream_log      SSE: "event: data" {"ops": JSON Patch} building a RunLog
//   POST /chains/{name}/stream_events   SSE: "event: data" per astream_events v2 event
//   GET  /chains/{name}/input_schema    JSON Schema
//   GET  /chains/{name}/output_schema   JSON Schema
//   GET  /chains/{name}/config_schema   the configurable keys (session_id)
//   GET  /chains/{name}/playground      302 to the playground page on this chain
// The session id (memory key) is config.configurable.session_id (LangServe) or config.session_id.
// Transport-neutral (HttpRequest/HttpResponse); authentication is the caller's.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "http/disconnect_watch.h"
#include "server/chain_runs.h"
#include "server/generation.h"
#include "server/http_types.h"

namespace llmchain::chain {
class ChainRegistry;
struct GuardEvent;
struct RunConfig;
}  // namespace llmchain::chain

namespace llmchain::server {

struct ChainRoutesOptions {
  // Null or empty: GET /chains lists none and every chain is 404.
  std::shared_ptr<chain::ChainRegistry> chains;
  double request_timeout_s = 600;  // per chain call (stream: until its end); <= 0: none
  // Bounds the chain calls in flight (Api shares the one of its generation requests); more
  // get 429. Null: unbounded. Must outlive the ChainRoutes.
  Admission* admission = nullptr;
  std::function<void()> on_reject;  // called per 429 (metrics)
  // Called once per guard event of a chain call (flag, redact or block; metrics), with the
  // name of the chain the request named.
  std::function<void(const std::string& chain, const chain::GuardEvent&)> on_guard_event;
};

class ChainRoutes {
 public:
  explicit ChainRoutes(ChainRoutesOptions opts);
  // Cancels the chain calls still running and waits for them (up to 30 s).
  ~ChainRoutes();
  ChainRoutes(const ChainRoutes&) = delete;
  ChainRoutes& operator=(const ChainRoutes&) = delete;

  // Serves /chains and /chains/{name}/{invoke,batch,stream,input_schema,output_schema}
  // (405 for another method on them); nullopt for any other path. Never throws: errors are
  // OpenAI-shaped error responses. `route` gets the route's label (its pattern).
  std::optional<HttpResponse> handle(const HttpRequest& req, std::string& route);

  // The handlers, for a caller's own route table: req.path_params[0] is the chain name
  // (except for list). They throw ApiException for bad requests.
  HttpResponse list(const HttpRequest& req);
  HttpResponse invoke(const HttpRequest& req);
  HttpResponse batch(const HttpRequest& req);
  HttpResponse stream(const HttpRequest& req);
  HttpResponse stream_log(const HttpRequest& req);
  HttpResponse stream_events(const HttpRequest& req);
  HttpResponse input_schema(const HttpRequest& req);
  HttpResponse output_schema(const HttpRequest& req);
  HttpResponse config_schema(const HttpRequest& req);
  HttpResponse playground(const HttpRequest& req);

  // New chain calls get 503 from now on.
  void begin_shutdown() { shutting_down_.store(true); }
  // True when no chain call is running before `deadline`.
  bool wait_idle(Clock::time_point deadline) { return runs_.wait_idle(deadline); }
  // Cancels every running chain call (their model calls stop at the next token).
  void cancel_all() { runs_.cancel_all(); }
  size_t running() const { return runs_.size(); }
  bool has_chains() const;

 private:
  // stream, stream_log and stream_events: one worker, three SSE protocols.
  HttpResponse run_stream(const HttpRequest& req, const std::string& kind);
  // 503 while shutting down, 429 when the admission is full; otherwise nullopt and a ticket.
  std::optional<HttpResponse> admit(AdmissionTicket& ticket);
  std::optional<Clock::time_point> deadline_from(Clock::time_point start) const;
  void report_guard_events(const std::string& name, const chain::RunConfig& cfg) const;

  ChainRoutesOptions opts_;
  ChainRuns runs_;                     // running chain calls, cancelled and awaited on shutdown
  http::DisconnectWatch disconnects_;  // clients of invoke / batch (which write nothing until done)
  std::atomic<bool> shutting_down_{false};
};

}  // namespace llmchain::server
