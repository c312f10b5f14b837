#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "http/front.h"

namespace llmchain::chain {
class ChainRegistry;
}

namespace llmchain::server {

class Metrics;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (see HttpServer::port())
  int parallel = 1;                // engine sequences decoded at once
  std::string api_key;             // empty: no auth
  size_t max_body = 8u << 20;      // bytes; larger request bodies get 413
  int max_queue = 256;             // requests admitted beyond `parallel`; more get 429
  double request_timeout_s = 600;  // per generation request; <= 0: none
  // Connections served at once, each on its own thread (idle and slow clients never hold the
  // threads fresh clients need); more get 503.
  int max_connections = 4096;
  double header_timeout_s = 10;  // a request's line and headers must arrive within this (408)
  bool ui = true;                // serve the playground (web/) at "/" and "/ui/*"
  std::string chat_template;     // built-in template name overriding the model's
  std::string model_id;          // id shown by /v1/models; empty: the first alias, else the model's name
  // Other names requests may use in "model" (--alias, repeatable); any other name is 404.
  std::vector<std::string> model_aliases;
  LogFormat log_format = LogFormat::kText;
  double shutdown_grace_s = 10;  // in-flight requests get this long to finish on SIGTERM
  int keep_alive_timeout_s = 5;  // idle keep-alive connections also delay shutdown by up to this
  // Chains served under /chains (LangServe-shaped); null or empty: GET /chains lists none.
  std::shared_ptr<chain::ChainRegistry> chains;
  // The /metrics registry; null: the server makes its own. Shared so that what runs
  // outside the HTTP handlers (chains' local models, see observe_generations) records
  // into it too.
  std::shared_ptr<Metrics> metrics;
};

// The HTTP front's options for a role served with these options: host, port, max_body,
// log_format, and the connection limits (max_connections, header_timeout_s,
// keep_alive_timeout_s); `role` names the limit in 413 answers ("the server's limit").
http::HttpFrontOptions front_options(const ServerOptions& o, std::string role);

}  // namespace llmchain::server
