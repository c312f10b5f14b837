#include "server/gateway_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

#include "chain/runnable.h"
#include "server/access_log.h"
#include "server/api_error.h"
#include "server/chain_routes.h"
#include "server/http_connection.h"
#include "server/listen_socket.h"
#include "server/openai_response.h"
#include "server/request_checks.h"

namespace llmchain::server {

namespace {

using Clock = std::chrono::steady_clock;

std::string request_id_of(const httplib::Request& req) {
  std::string id = req.get_header_value("X-Request-Id");
  if (!id.empty() && id.size() <= 128 &&
      std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; })) {
    return id;
  }
  return make_id("req-");
}

// One request through the proxy: httplib in, HttpRequest/HttpResponse through, httplib out.
void serve_one(GatewayProxy& proxy, const httplib::Request& req, httplib::Response& res, const std::string& body,
               std::string& route, std::string& request_id) {
  HttpRequest in;
  in.method = req.method;
  in.path = req.path;
  in.body = body;
  in.request_id = request_id = request_id_of(req);
  in.client_gone = ConnectionServer::client_gone_check();
  for (const auto& [k, v] : req.headers) {
    std::string key = k;
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    in.headers.emplace(std::move(key), v);
  }
  HttpResponse out = proxy.handle(in, route);
  res.status = out.status;
  for (auto& [k, v] : out.headers) res.set_header(k, v);
  res.set_header("X-Request-Id", in.request_id);
  if (out.stream) {
    auto stream = std::make_shared<StreamBody>(std::move(out.stream));
    res.set_chunked_content_provider(out.content_type, [stream](size_t, httplib::DataSink& sink) {
      (*stream)([&sink](std::string_view chunk) { return sink.write(chunk.data(), chunk.size()); });
      sink.done();
      return true;
    });
  } else {
    res.set_content(std::move(out.body), out.content_type);
  }
}

struct RequestContext {
  Clock::time_point start;
  std::string route = "unmatched";
  std::string request_id;
};
thread_local RequestContext t_ctx;

void label_route(const char* route) { t_ctx.route = route; }

}  // namespace

void register_gateway_routes(httplib::Server& http, std::shared_ptr<GatewayProxy> proxy) {
  // No --max-body of its own here: the caller's httplib payload limit applies.
  route_all_methods(
      http, std::numeric_limits<size_t>::max(),
      [proxy](const httplib::Request& req, httplib::Response& res, const std::string& body) {
        std::string route, id;
        serve_one(*proxy, req, res, body, route, id);
      },
      label_route);
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
  ConnectionServer http{connection_limits(opts)};
  int port = -1;
  std::thread thread;
  std::mutex shutdown_mu;
  bool shut_down = false;
  bool shutdown_ok = true;
};

GatewayServer::GatewayServer(std::shared_ptr<UpstreamPool> pool, ServerOptions opts, GatewayOptions gateway)
    : impl_(std::make_unique<Impl>(std::move(pool), std::move(opts), std::move(gateway))) {
  auto& http = impl_->http;
  const auto& o = impl_->opts;
  http.set_payload_max_length(o.max_body);
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    t_ctx = RequestContext{Clock::now(), "unmatched", ""};
    if (const char* refused = refuse_before_body(req, res)) {
      label_route(refused);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  route_all_methods(
      http, o.max_body,
      [this](const httplib::Request& req, httplib::Response& res, const std::string& body) {
        serve_one(impl_->proxy, req, res, body, t_ctx.route, t_ctx.request_id);
      },
      label_route);
  http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e;
    e.status = res.status;
    e.message = res.status == 413 ? fmt::format("The request body is larger than the gateway's limit of {} bytes.",
                                                impl_->opts.max_body)
                                  : fmt::format("HTTP error {}.", res.status);
    e.code = res.status == 413 ? "payload_too_large" : "bad_request";
    res.set_content(e.body(), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    ApiError e{500, "internal server error", "server_error", std::nullopt, "internal_error"};
    res.status = 500;
    res.set_content(e.body(), "application/json");
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const int head = ConnectionServer::head_status();  // see http_server.cpp
    if (head < 0) return;
    if (head > 0) t_ctx = RequestContext{ConnectionServer::request_start(), "unmatched", ""};
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - ConnectionServer::request_start()).count();
    write_access_log(impl_->opts.log_format, {t_ctx.request_id, req.method, req.path, t_ctx.route,
                                              head > 0 ? head : res.status, ms, req.remote_addr});
  });
}

GatewayServer::~GatewayServer() {
  shutdown();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Expected<int> GatewayServer::bind() {
  if (impl_->port > 0) return impl_->port;
  auto port = bind_listener(impl_->http, impl_->opts.host, impl_->opts.port);
  if (!port) return port;
  impl_->http.raise_backlog(4096);
  impl_->port = *port;
  return port;
}

void GatewayServer::serve() { impl_->http.serve(); }

Expected<int> GatewayServer::start() {
  auto port = bind();
  if (!port) return port;
  impl_->thread = std::thread([this] { serve(); });
  for (int i = 0; i < 500 && !impl_->http.running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return port;
}

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
  impl_->http.stop_listening();
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) impl_->thread.join();
  return impl_->shutdown_ok;
}

int GatewayServer::port() const { return impl_->port; }
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
  self.base_url = fmt::format("http://{}:{}/v1", host, impl_->port);
  self.api_key = impl_->opts.api_key;
  self.headers.emplace_back(kGatewayInternalHeader, impl_->internal_token);
  return self;
}

}  // namespace llmchain::server
