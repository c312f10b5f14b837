#pragma once
// The gateway role over HTTP: `llmchain serve --role gateway --upstream URL...`.
//
//   auto pool = UpstreamPool::create(pool_opts);      // Expected<shared_ptr<UpstreamPool>>
//   GatewayServer gw(*pool, server_opts);            // host, port, api_key, timeouts...
//   gw.bind(); (*pool)->start(); gw.serve();         // serve() blocks until shutdown()
//
// register_gateway_routes() mounts the same routes on a caller's own
// httplib::Server instead (no access log, no graceful drain).
//
// Chains: set_chains() serves a chain::ChainRegistry under /chains (chain_routes.h). Their
// model calls are meant to come back to this gateway's own /v1 routes (self_endpoint():
// an OpenAIClient of that URL per model), so they are spread over the engine pool with the
// same selection, retries and circuit breaking as any client's.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "gateway/pool.h"
#include "gateway/proxy.h"
#include "server/server_options.h"

namespace httplib {
class Server;
}

namespace llmchain::gateway {

// Routes every method and path of `http` to the proxy (its own 404/405 included).
void register_gateway_routes(httplib::Server& http, std::shared_ptr<GatewayProxy> proxy);
// Same, with a proxy made from the pool (options.api_key empty: no auth).
void register_gateway_routes(httplib::Server& http, std::shared_ptr<UpstreamPool> pool, ServerOptions options = {},
                             GatewayOptions gateway = {});

// How the gateway's own chains reach its OpenAI API.
struct GatewaySelf {
  std::string base_url;  // e.g. http://127.0.0.1:8080/v1 (a wildcard listen address becomes loopback)
  std::string api_key;   // the gateway's API key ("" when it has none)
  std::vector<std::pair<std::string, std::string>> headers;  // mark the calls as internal (shutdown)
};

class GatewayServer {
 public:
  // Does not start the pool's health checks: call pool->start() (before
  // serve(), so readiness is known from the first request).
  GatewayServer(std::shared_ptr<UpstreamPool> pool, ServerOptions opts, GatewayOptions gateway = {});
  ~GatewayServer();
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // Binds host:port (0: a free port); returns the bound port.
  Expected<int> bind();
  // Serves on the calling thread until shutdown().
  void serve();
  // bind() + serve() on a background thread.
  Expected<int> start();
  // Graceful stop: readiness 503, new requests 503, in-flight ones get
  // shutdown_grace_s, then the rest are broken (streams get an error event),
  // then the listener stops. Does not stop the pool. True when all finished.
  bool shutdown();

  int port() const;
  GatewayProxy& proxy();

  // Serves `chains` under /chains (authenticated like /v1; bounded by parallel + max_queue
  // calls in flight, 429 above). Call before serve(). On shutdown new chain calls get 503 and
  // running ones get the grace period; their model calls are still forwarded meanwhile.
  void set_chains(std::shared_ptr<chain::ChainRegistry> chains);
  // Where this gateway's chains send their model calls; valid after bind().
  GatewaySelf self_endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmchain::gateway
