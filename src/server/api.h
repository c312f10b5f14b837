#pragma once
// The route table and handlers: HTTP in, Engine (and chain) calls out. Thin by
// design: request parsing lives in openai_request, response shapes in
// openai_response, generation plumbing in generation.
#include <atomic>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "http/router.h"
#include "server/api_error.h"
#include "server/chain_routes.h"
#include "server/generation.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "server/openai_request.h"
#include "server/server_options.h"

namespace llmchain::server {

class Api {
 public:
  Api(engine::Engine& engine, ServerOptions opts, Metrics& metrics);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Authenticates, routes and runs a request; never throws. `route` gets the
  // matched route's label (its template, "/chains/{name}/invoke") for metrics and logs. Every response
  // allows any origin (CORS); OPTIONS preflights are answered with 204.
  HttpResponse handle(const HttpRequest& req, std::string& route);

  // Ready: engine loaded, not shutting down, room in the queue.
  bool ready(std::string* why = nullptr) const;
  // Stops admitting generation requests (503) and marks the server not ready.
  void begin_shutdown() {
    shutting_down_.store(true);
    chain_routes_.begin_shutdown();
  }
  // Waits for in-flight generations until `deadline`, then cancels the rest and
  // waits up to `hard_deadline`. True when everything finished.
  bool drain(Clock::time_point deadline, Clock::time_point hard_deadline);
  size_t inflight_jobs() const { return jobs_.size(); }
  const ServerOptions& options() const { return opts_; }
  std::string model_id() const;
  // The served id, the model's own name, or an --alias.
  bool serves_model(const std::string& name) const;
  // Throws ApiException 404 model_not_found for a model name this server does not serve.
  void require_served_model(const std::string& name) const;

 private:
  HttpResponse route_request(const HttpRequest& req, std::string& route);
  using Handler = http::Router::Handler;
  void add(const std::string& method, const std::string& path_template, bool auth, Handler h) {
    router_.add(method, path_template, auth, std::move(h));
  }

  HttpResponse health_live(const HttpRequest&);
  HttpResponse health_ready(const HttpRequest&);
  HttpResponse metrics(const HttpRequest&);
  HttpResponse models(const HttpRequest&);
  HttpResponse model(const HttpRequest&);
  HttpResponse tokenize(const HttpRequest&);
  HttpResponse detokenize(const HttpRequest&);
  HttpResponse embeddings(const HttpRequest&);
  HttpResponse rerank(const HttpRequest&);
  HttpResponse ui(const HttpRequest&);
  HttpResponse ui_asset(const HttpRequest&);
  HttpResponse chat_completions(const HttpRequest&);
  HttpResponse completions(const HttpRequest&);

  struct Prepared {
    std::vector<int32_t> tokens;
    std::string text;  // prompt text, for echo
  };
  HttpResponse run_completion(const HttpRequest& req, const CompletionParams& p, std::vector<Prepared> prompts);
  void check_prompts(const CompletionParams& p, const std::vector<Prepared>& prompts) const;
  std::optional<HttpResponse> refuse_generation(std::shared_ptr<AdmissionTicket>& ticket);
  engine::GenerateRequest make_generate_request(const CompletionParams& p, const Prepared& prompt) const;
  std::optional<Clock::time_point> deadline_from(Clock::time_point start) const;
  AdmissionTicket admit();

  engine::Engine& engine_;
  ServerOptions opts_;
  Metrics& metrics_;
  Admission admission_;
  JobTracker jobs_;
  ChainRoutes chain_routes_;  // /chains (chain_routes.h); its running calls are awaited on shutdown
  std::atomic<bool> shutting_down_{false};
  http::Router router_;  // routes and auth (http/router.h)
};

}  // namespace llmchain::server
