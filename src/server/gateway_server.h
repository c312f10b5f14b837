#pragma once
// The gateway role over HTTP: `llmchain serve --role gateway --upstream URL...`.
//
//   auto pool = UpstreamPool::create(pool_opts);      // Expected<shared_ptr<UpstreamPool>>
//   GatewayServer gw(*pool, server_opts);            // host, port, api_key, timeouts...
//   gw.bind(); (*pool)->start(); gw.serve();         // serve() blocks until shutdown()
//
// register_gateway_routes() mounts the same routes on a caller's own
// httplib::Server instead (no access log, no graceful drain).
#include <memory>

#include "base/error.h"
#include "server/gateway_pool.h"
#include "server/gateway_proxy.h"
#include "server/server_options.h"

namespace httplib {
class Server;
}

namespace llmchain::server {

// Routes every method and path of `http` to the proxy (its own 404/405 included).
void register_gateway_routes(httplib::Server& http, std::shared_ptr<GatewayProxy> proxy);
// Same, with a proxy made from the pool (options.api_key empty: no auth).
void register_gateway_routes(httplib::Server& http, std::shared_ptr<UpstreamPool> pool, ServerOptions options = {},
                             GatewayOptions gateway = {});

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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmchain::server
