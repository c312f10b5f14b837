// llmchain serve: the OpenAI-compatible HTTP server (see src/server/).
#include <pthread.h>
#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "apps/command.h"
#include "apps/serve_engines.h"
#include "base/log.h"
#include "chain/language_model.h"
#include "chain/local_llm.h"
#include "chain/openai_client.h"
#include "chain/yaml_loader.h"
#include "engine/local_engine.h"
#include "gateway/grpc_upstream.h"
#include "gateway/role.h"
#include "rpc/engine_service.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/server_config.h"

namespace llmchain::apps {
namespace {

struct ServeOptions {
  std::string model;
  std::string backend = "cpu";
  std::string config;
  std::string chains;  // chains YAML; "" = --config when that file declares chains:
  std::string log_format = "text";
  std::string log_level = "info";
  int ctx_size = 0;
  int threads = 0;
  bool no_ui = false;
  std::function<bool()> extra_engine_chosen;  // an extra engine source's flags were given (serve_engines.h)
  int grpc_port = -1;                         // >= 0: the engine's gRPC service too (0: any free port)
  server::ServerOptions server;
  // --role gateway: no model; OpenAI routes proxied to engine replicas.
  std::string role = "all";
  gateway::UpstreamPoolOptions upstream;
  gateway::GatewayOptions gateway;
};

// Local models (models: {x: {path: ...}}) of the role `all` / `engine` are served by this
// server's own engine, whatever their path says: one model per server. Their calls are
// counted in the server's /metrics under its model id, like the OpenAI routes' calls.
chain::LocalModelFactory engine_model_factory(engine::Engine& engine, std::shared_ptr<server::Metrics> metrics) {
  return [&engine, metrics](const chain::LocalModelSpec& spec) -> Expected<chain::LanguageModelPtr> {
    chain::LocalLLMOptions llo;
    llo.name = spec.name;
    llo.observe = server::observe_generations(metrics);
    llo.chat_template = spec.options.value("chat_template", "");
    if (spec.options.contains("params")) {
      auto p = capture([&] { return chain::LlmParams::from_json(spec.options["params"]); });
      if (!p.ok()) return p.error();
      if (p->temperature) llo.sampling.temperature = *p->temperature;
      if (p->top_p) llo.sampling.top_p = *p->top_p;
      if (p->seed) llo.sampling.seed = *p->seed;
      if (p->max_tokens) llo.max_tokens = *p->max_tokens;
    }
    return chain::LanguageModelPtr(std::make_shared<chain::LocalLLM>(engine, llo));
  };
}

// In the gateway role a local model is served by the engine pool: an OpenAI client of the
// gateway's own /v1 API, so its calls get the pool's selection, retries and circuit breaking.
// Plain prompts go to /v1/completions (as LocalLLM sends them raw), chat messages to
// /v1/chat/completions (the engine applies its chat template). Remote and fake models are
// built as declared.
chain::LocalModelFactory gateway_model_factory(const gateway::GatewaySelf& self, double request_timeout_s) {
  return [self, request_timeout_s](const chain::LocalModelSpec& spec) -> Expected<chain::LanguageModelPtr> {
    chain::OpenAIOptions oo;
    oo.base_url = self.base_url;
    oo.api_key = self.api_key;
    oo.headers = self.headers;
    oo.use_completions_endpoint = true;
    // The gateway's own timeout answers first (504); this one only guards against a hang.
    oo.timeout_s = request_timeout_s > 0 ? request_timeout_s + 30 : 3600;
    if (spec.options.contains("params")) {
      auto p = capture([&] { return chain::LlmParams::from_json(spec.options["params"]); });
      if (!p.ok()) return p.error();
      oo.defaults = *p;
    }
    if (!spec.options.value("chat_template", "").empty()) {
      LLMC_LOG_WARN("model '{}': chat_template is ignored in the gateway role (the engines' template applies)",
                    spec.name);
    }
    return capture([&] { return chain::LanguageModelPtr(std::make_shared<chain::OpenAIClient>(oo)); });
  };
}

// Builds the chains declared in `path` (chain/yaml_loader.h), local models with `factory`.
// `required`: a file without chains is an error (--chains) rather than nothing to serve (--config).
Expected<chain::ChainConfig> load_chains(const std::string& path, bool required, chain::LocalModelFactory factory) {
  chain::LoadOptions lo;
  lo.local_model_factory = std::move(factory);
  if (!required) {
    // A server-only config (a server: section, or bare server keys) has nothing to load.
    bool has_chains = false;
    try {
      YAML::Node root = YAML::LoadFile(path);
      has_chains = root.IsMap() && root["chains"];
    } catch (const YAML::Exception&) {
      has_chains = true;  // let the loader report the error with its location
    }
    if (!has_chains) {
      chain::ChainConfig none;
      none.registry = std::make_shared<chain::ChainRegistry>();
      none.files = {path};
      return none;
    }
  }
  return chain::load_chain_config(path, lo);
}

// Applies a config-file value unless the flag (or its LLMCHAIN_* variable) was given.
template <typename T>
void from_config(const nlohmann::json& cfg, const char* key, CLI::Option* opt, T& target) {
  if (!cfg.contains(key) || opt->count() > 0) return;
  target = cfg[key].get<T>();
}

int run_serve(ServeOptions& o, CLI::App* sub) {
  if (!o.config.empty()) {
    auto cfg = server::load_server_config(o.config);
    if (!cfg) {  // a missing, unreadable or invalid file: a failure (1), not a usage error
      std::fprintf(stderr, "error: %s\n", cfg.error().what());
      return 1;
    }
    try {
      auto& s = o.server;
      from_config(*cfg, "model", sub->get_option("--model"), o.model);
      from_config(*cfg, "host", sub->get_option("--host"), s.host);
      from_config(*cfg, "port", sub->get_option("--port"), s.port);
      from_config(*cfg, "grpc_port", sub->get_option("--grpc-port"), o.grpc_port);
      from_config(*cfg, "parallel", sub->get_option("--parallel"), s.parallel);
      from_config(*cfg, "ctx_size", sub->get_option("--ctx-size"), o.ctx_size);
      from_config(*cfg, "api_key", sub->get_option("--api-key"), s.api_key);
      from_config(*cfg, "log_format", sub->get_option("--log-format"), o.log_format);
      from_config(*cfg, "threads", sub->get_option("--threads"), o.threads);
      from_config(*cfg, "backend", sub->get_option("--backend"), o.backend);
      from_config(*cfg, "chat_template", sub->get_option("--chat-template"), s.chat_template);
      from_config(*cfg, "max_body", sub->get_option("--max-body"), s.max_body);
      from_config(*cfg, "max_queue", sub->get_option("--max-queue"), s.max_queue);
      from_config(*cfg, "request_timeout", sub->get_option("--request-timeout"), s.request_timeout_s);
      if (cfg->contains("model_alias") && sub->get_option("--alias")->count() == 0) {
        const auto& a = (*cfg)["model_alias"];
        s.model_aliases =
            a.is_array() ? a.get<std::vector<std::string>>() : std::vector<std::string>{a.get<std::string>()};
      }
      from_config(*cfg, "shutdown_grace", sub->get_option("--shutdown-grace"), s.shutdown_grace_s);
      from_config(*cfg, "max_connections", sub->get_option("--max-connections"), s.max_connections);
      from_config(*cfg, "header_timeout", sub->get_option("--header-timeout"), s.header_timeout_s);
      if (cfg->contains("ui") && sub->get_option("--no-ui")->count() == 0) o.no_ui = !(*cfg)["ui"].get<bool>();
    } catch (const nlohmann::json::exception& e) {
      std::fprintf(stderr, "error: config %s: wrong type for a server setting (%s)\n", o.config.c_str(), e.what());
      return 2;
    }
  }
  // --port / LLMCHAIN_PORT are range-checked by CLI11; this catches the config file's port.
  if (o.server.port < 0 || o.server.port > 65535) {
    std::fprintf(stderr, "error: port %d is out of range 0..65535 (config %s)\n", o.server.port, o.config.c_str());
    return 2;
  }
  if (o.grpc_port > 65535 || o.grpc_port < -1) {
    std::fprintf(stderr, "error: grpc port %d is out of range 0..65535 (config %s)\n", o.grpc_port, o.config.c_str());
    return 2;
  }
  if (o.log_format != "text" && o.log_format != "json") {
    std::fprintf(stderr, "error: --log-format must be text or json, not '%s'\n", o.log_format.c_str());
    return 2;
  }
  o.server.log_format = o.log_format == "json" ? LogFormat::kJson : LogFormat::kText;
  o.server.ui = !o.no_ui;
  init_logging(o.server.log_format, o.log_level);
  if (o.role == "gateway") {
    if (o.grpc_port >= 0) {
      std::fprintf(stderr, "error: --grpc-port serves an engine; the gateway role has none\n");
      return 2;
    }
    if (o.upstream.upstreams.empty()) {
      std::fprintf(stderr, "error: --role gateway needs at least one --upstream URL\n");
      return 2;
    }
    // grpc:// upstreams: the engines' gRPC service, all of them (not mixed with http://).
    if (std::any_of(o.upstream.upstreams.begin(), o.upstream.upstreams.end(),
                    [](const std::string& u) { return u.rfind("grpc://", 0) == 0; })) {
      gateway::UpstreamEngineOptions ro;
      ro.api_key = o.gateway.upstream_api_key;
      ro.max_attempts = o.gateway.max_attempts;
      ro.max_message_bytes = static_cast<int>(std::min<size_t>(o.server.max_body * 8, 1u << 30));
      auto used = gateway::use_grpc_upstreams(o.upstream, o.gateway, ro);
      if (!used) {
        std::fprintf(stderr, "error: %s\n", used.error().what());
        return 2;
      }
    }
    // Chains: --chains FILE, else the chains: of --config FILE (if it has any), served by the
    // gateway with their local models' calls sent to the engines.
    gateway::GatewayChainLoader chain_loader;
    if (!o.chains.empty() || !o.config.empty()) {
      chain_loader = [&o](const gateway::GatewaySelf& self) -> Expected<std::shared_ptr<chain::ChainRegistry>> {
        const bool explicit_chains = !o.chains.empty();
        const std::string path = explicit_chains ? o.chains : o.config;
        auto loaded = load_chains(path, explicit_chains, gateway_model_factory(self, o.server.request_timeout_s));
        if (!loaded) return loaded.error();
        LLMC_LOG_INFO("serving {} chain(s) from {} under /chains; local models via the engine pool ({})",
                      loaded->registry->list().size(), path, self.base_url);
        return loaded->registry;
      };
    }
    return gateway::run_gateway(o.server, o.upstream, o.gateway, chain_loader);
  }

  // Signals are taken by a watcher thread (blocked everywhere else, so every thread inherits
  // the mask) which starts the graceful shutdown. Blocked before the engine starts its worker
  // threads: one of them left unblocked would take SIGTERM's default action (exit 143). A
  // signal during the model load waits until the watcher runs.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  std::unique_ptr<engine::Engine> engine;
  if (o.extra_engine_chosen && o.extra_engine_chosen()) {
    ServeEngineContext ctx;
    if (!o.server.model_aliases.empty()) ctx.name = o.server.model_aliases.front();
    ctx.n_ctx = o.ctx_size;
    ctx.parallel = o.server.parallel;
    engine = serve_engine_source()->make(ctx);
  } else {
    if (o.model.empty()) {
      std::fprintf(stderr, "error: --model (-m) is required\n");
      return 2;
    }
    engine::EngineOptions eo;
    eo.n_parallel = o.server.parallel;
    eo.n_ctx = o.ctx_size;
    eo.n_threads = o.threads;
    eo.backend = o.backend;
    eo.max_queue = o.server.max_queue;
    eo.chat_template = o.server.chat_template;
    auto loaded = engine::LocalEngine::load(o.model, eo);
    if (!loaded) {
      std::fprintf(stderr, "error: %s\n", loaded.error().what());
      return 1;
    }
    engine = std::move(*loaded);
  }

  // Made before the chains, whose local models record into it too.
  o.server.metrics = std::make_shared<server::Metrics>();
  // Chains: --chains FILE, else the chains: of --config FILE (if it has any).
  std::optional<chain::ChainConfig> chains;
  if (!o.chains.empty() || !o.config.empty()) {
    const bool explicit_chains = !o.chains.empty();
    const std::string path = explicit_chains ? o.chains : o.config;
    auto loaded = load_chains(path, explicit_chains, engine_model_factory(*engine, o.server.metrics));
    if (!loaded) {
      std::fprintf(stderr, "error: chains: %s\n", loaded.error().what());
      return 1;
    }
    chains = std::move(*loaded);
    o.server.chains = chains->registry;
    LLMC_LOG_INFO("serving {} chain(s) from {} under /chains", chains->registry->list().size(), path);
  }

  server::HttpServer srv(*engine, o.server);
  auto port = srv.bind();
  if (!port) {
    std::fprintf(stderr, "error: %s\n", port.error().what());
    return 1;
  }
  LLMC_LOG_INFO("llmchain server listening on http://{}:{} (model {}, parallel {}, ctx {})", o.server.host, *port,
                engine->info().name, o.server.parallel, engine->info().n_ctx);
  std::unique_ptr<rpc::RpcServer> grpc;
  if (o.grpc_port >= 0) {
    rpc::RpcServerOptions ro;
    ro.host = o.server.host;
    ro.port = o.grpc_port;
    ro.api_key = o.server.api_key;
    ro.max_message_bytes = static_cast<int>(std::min<size_t>(o.server.max_body, INT32_MAX));
    grpc = std::make_unique<rpc::RpcServer>(*engine, ro);
    auto gport = grpc->start();
    if (!gport) {
      std::fprintf(stderr, "error: %s\n", gport.error().what());
      return 1;
    }
    LLMC_LOG_INFO("llmchain engine gRPC service listening on {}:{} (llmchain.v1.Engine, grpc.health.v1.Health)",
                  o.server.host, *gport);
  }
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    timespec tick{0, 200 * 1000 * 1000};
    while (!done.load()) {
      int sig = sigtimedwait(&sigs, nullptr, &tick);
      if (sig == SIGINT || sig == SIGTERM) {
        LLMC_LOG_INFO("signal {}: shutting down (grace {} s)", sig, o.server.shutdown_grace_s);
        if (grpc) grpc->set_serving(false);
        std::thread grpc_drain([&] {
          if (grpc) grpc->shutdown(o.server.shutdown_grace_s);
        });
        bool clean = srv.shutdown();
        grpc_drain.join();
        LLMC_LOG_INFO("shutdown {}", clean ? "complete" : "forced: some requests were cancelled");
        return;
      }
    }
  });
  srv.serve();
  done.store(true);
  watcher.join();
  srv.shutdown();
  if (grpc) grpc->shutdown(0);
  return 0;
}

}  // namespace

LLMC_REGISTER_COMMAND(serve, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<ServeOptions>();
  auto* sub = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  auto& s = o->server;
  env_option(sub->add_option("-m,--model", o->model, "GGUF model file"), "MODEL");
  env_option(sub->add_option("--host", s.host, "Address to listen on")->capture_default_str(), "HOST");
  env_option(
      sub->add_option("--port", s.port, "Port (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535)),
      "PORT");
  env_option(sub->add_option("--grpc-port", o->grpc_port,
                             "Also serve the engine's gRPC service (llmchain.v1.Engine + health) on this port "
                             "(0: any free port; engine and all roles)")
                 ->check(CLI::Range(0, 65535)),
             "GRPC_PORT");
  env_option(sub->add_option("--parallel", s.parallel, "Sequences decoded at once")
                 ->capture_default_str()
                 ->check(CLI::Range(1, 4096)),
             "PARALLEL");
  env_option(sub->add_option("--ctx-size", o->ctx_size, "Context per sequence (0: model default)"), "CTX_SIZE");
  env_option(sub->add_option("--api-key", s.api_key, "Require Authorization: Bearer KEY on /v1 and /chains"),
             "API_KEY");
  env_option(sub->add_option("--config", o->config, "YAML config file (server: section; chains: served under /chains)"),
             "CONFIG");
  env_option(sub->add_option("--chains", o->chains, "YAML chains file (or folder) served under /chains"), "CHAINS");
  env_option(sub->add_option("--log-format", o->log_format, "text or json")->capture_default_str(), "LOG_FORMAT");
  env_option(sub->add_option("--log-level", o->log_level, "trace|debug|info|warn|error|off")
                 ->check(CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}))
                 ->capture_default_str(),
             "LOG_LEVEL");
  env_option(sub->add_option("--threads", o->threads, "Compute threads (0: all cores)"), "THREADS");
  add_backend_option(sub, o->backend);
  env_option(sub->add_option("--chat-template", s.chat_template, "Built-in chat template overriding the model's"),
             "CHAT_TEMPLATE");
  env_option(sub->add_flag("--no-ui", o->no_ui, "Do not serve the playground at /"), "NO_UI");
  env_option(
      sub->add_option("--max-body", s.max_body, "Largest request body in bytes (413 above)")->capture_default_str(),
      "MAX_BODY");
  env_option(sub->add_option("--max-queue", s.max_queue, "Requests queued beyond --parallel (429 above)")
                 ->capture_default_str()
                 ->check(CLI::NonNegativeNumber),
             "MAX_QUEUE");
  env_option(sub->add_option("--request-timeout", s.request_timeout_s, "Seconds per generation request (0: none)")
                 ->capture_default_str(),
             "REQUEST_TIMEOUT");
  env_option(sub->add_option("--alias", s.model_aliases,
                             "Another name requests may give as \"model\" (repeatable; the first is the id "
                             "/v1/models shows); other names get 404 model_not_found")
                 ->delimiter(','),
             "MODEL_ALIAS");
  env_option(sub->add_option("--shutdown-grace", s.shutdown_grace_s, "Seconds in-flight requests get on SIGTERM")
                 ->capture_default_str(),
             "SHUTDOWN_GRACE");
  env_option(
      sub->add_option("--max-connections", s.max_connections, "Connections served at once, a thread each (503 above)")
          ->capture_default_str()
          ->check(CLI::PositiveNumber),
      "MAX_CONNECTIONS");
  env_option(sub->add_option("--header-timeout", s.header_timeout_s,
                             "Seconds a request's line and headers may take to arrive (408 after)")
                 ->capture_default_str()
                 ->check(CLI::PositiveNumber),
             "HEADER_TIMEOUT");
  if (const auto* extra = serve_engine_source()) o->extra_engine_chosen = extra->add_options(sub);
  env_option(sub->add_option("--role", o->role, "all (engine + chains), engine, or gateway")
                 ->check(CLI::IsMember({"all", "engine", "gateway"}))
                 ->capture_default_str(),
             "ROLE");
  env_option(sub->add_option("--upstream", o->upstream.upstreams,
                             "Gateway: engine URL (http://HOST:PORT, or grpc://HOST:PORT for the engines' gRPC "
                             "service), repeatable (a DNS name resolving to several pods is re-resolved)")
                 ->delimiter(','),
             "UPSTREAM");
  env_option(sub->add_option("--upstream-api-key", o->gateway.upstream_api_key, "Gateway: API key sent to engines"),
             "UPSTREAM_API_KEY");
  env_option(
      sub->add_option("--health-interval", o->upstream.health_interval_s, "Gateway: seconds between health checks")
          ->capture_default_str(),
      "HEALTH_INTERVAL");
  env_option(sub->add_option("--breaker-failures", o->upstream.breaker_failures,
                             "Gateway: consecutive failures that open an engine's circuit breaker")
                 ->capture_default_str(),
             "BREAKER_FAILURES");
  env_option(sub->add_option("--max-attempts", o->gateway.max_attempts,
                             "Gateway: engines tried per request before the first byte")
                 ->capture_default_str(),
             "MAX_ATTEMPTS");
  return {sub, [o, sub] { return run_serve(*o, sub); }};
});

}  // namespace llmchain::apps
