#include "gateway/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

#include "chain/runnable.h"
#include "http/front.h"
#include "http/request_checks.h"
#include "server/api_error.h"
#include "server/chain_routes.h"

namespace llmchain::gateway {

using server::Admission;
using server::ChainRoutes;
using server::ChainRoutesOptions;
using Clock = std::chrono::steady_clock;

void register_gateway_routes(httplib::Server& http, std::shared_ptr<GatewayProxy> proxy) {
  // No --max-body of its own here: the caller's httplib payload limit applies.
  http::RouteHandler handler = [proxy](const HttpRequest& req, std::string& route) {
    return proxy->handle(req, route);
  };
  http::route_all_methods(
      http, std::numeric_limits<size_t>::max(),
      [handler](const httplib::Request& req, httplib::Response& res, const std::string& body) {
        std::string route;
        http::serve_through(handler, req, res, body, route, http::request_id_of(req));
      },
      [](const char*) {});
}

void register_gateway_routes(httplib::Server& http, std::shared_ptr<UpstreamPool> pool, ServerOptions options,
                             GatewayOptions gateway) {
  register_gateway_routes(http, std::make_shared<GatewayProxy>(std::move(pool), std::move(options), gateway));
}

// A random token for kGatewayInternalHeader (the gateway's own chains' model calls).
static std::string new_internal_token() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

struct GatewayServer::Impl {
  Impl(std::shared_ptr<UpstreamPool> pool, ServerOptions o, GatewayOptions g)
      : opts(o),
        admission(std::max(1, o.parallel) + std::max(0, o.max_queue)),
        proxy(std::move(pool), std::move(o), with_chain_routes(std::move(g))) {}

  // Chain routes first (once set_chains() was called), then the caller's extra routes.
  GatewayOptions with_chain_routes(GatewayOptions g) {
    if (g.internal_token.empty()) g.internal_token = new_internal_token();
    internal_token = g.internal_token;
    g.extra_routes = [this, user = std::move(g.extra_routes)](const HttpRequest& req,
                                                              std::string& route) -> std::optional<HttpResponse> {
      if (chains) {
        if (auto res = chains->handle(req, route)) return res;
      }
      if (user) return user(req, route);
      return std::nullopt;
    };
    return g;
  }

  ServerOptions opts;
  Admission admission;         // chain calls in flight
  std::string internal_token;  // before proxy: set while the proxy's options are made
  GatewayProxy proxy;
  std::unique_ptr<ChainRoutes> chains;  // set before serving; after proxy: destroyed first
  http::HttpFront front{front_options(opts, "gateway"),
                        [this](const HttpRequest& req, std::string& route) { return proxy.handle(req, route); }};
  std::mutex shutdown_mu;
  bool shut_down = false;
  bool shutdown_ok = true;
};

GatewayServer::GatewayServer(std::shared_ptr<UpstreamPool> pool, ServerOptions opts, GatewayOptions gateway)
    : impl_(std::make_unique<Impl>(std::move(pool), std::move(opts), std::move(gateway))) {}

GatewayServer::~GatewayServer() { shutdown(); }

Expected<int> GatewayServer::bind() { return impl_->front.bind(); }
void GatewayServer::serve() { impl_->front.serve(); }
Expected<int> GatewayServer::start() { return impl_->front.start(); }

bool GatewayServer::shutdown() {
  std::lock_guard lock(impl_->shutdown_mu);
  if (impl_->shut_down) return impl_->shutdown_ok;
  impl_->shut_down = true;
  auto& chains = impl_->chains;
  if (chains) chains->begin_shutdown();
  impl_->proxy.begin_shutdown();
  auto grace = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(impl_->opts.shutdown_grace_s));
  auto now = Clock::now();
  const auto deadline = now + grace, hard_deadline = now + grace + std::chrono::seconds(5);
  // Running chains finish first (their model calls are still forwarded), then the proxy's
  // own requests; whatever is left at the deadline is broken off.
  bool chains_ok = !chains || chains->wait_idle(deadline);
  impl_->shutdown_ok = impl_->proxy.drain(deadline, hard_deadline) && chains_ok;
  if (chains && !chains_ok) {
    chains->cancel_all();
    chains->wait_idle(hard_deadline);
  }
  impl_->front.stop();
  return impl_->shutdown_ok;
}

int GatewayServer::port() const { return impl_->front.port(); }
GatewayProxy& GatewayServer::proxy() { return impl_->proxy; }

void GatewayServer::set_chains(std::shared_ptr<chain::ChainRegistry> chains) {
  ChainRoutesOptions co;
  co.chains = std::move(chains);
  co.request_timeout_s = impl_->opts.request_timeout_s;
  co.admission = &impl_->admission;
  co.on_guard_event = [proxy = &impl_->proxy](const std::string& chain, const chain::GuardEvent& e) {
    proxy->guard_events().record(chain, e.guard, e.action);
  };
  impl_->chains = std::make_unique<ChainRoutes>(std::move(co));
}

GatewaySelf GatewayServer::self_endpoint() const {
  std::string host = impl_->opts.host;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::" || host == "[::]") host = "::1";
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  GatewaySelf self;
  self.base_url = fmt::format("http://{}:{}/v1", host, impl_->front.port());
  self.api_key = impl_->opts.api_key;
  self.headers.emplace_back(kGatewayInternalHeader, impl_->internal_token);
  return self;
}

}  // namespace llmchain::gateway
