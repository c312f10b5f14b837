#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <thread>

#include "server/access_log.h"
#include "server/api.h"
#include "server/http_connection.h"
#include "server/listen_socket.h"
#include "server/metrics.h"
#include "server/openai_response.h"
#include "server/request_checks.h"

namespace llmchain::server {

namespace {

// Per-request context shared by the pre-routing handler, the route handler and
// the logger, which httplib runs one after another on the same worker thread.
struct RequestContext {
  Clock::time_point start;
  std::string route = "unmatched";
  std::string request_id;
};
thread_local RequestContext t_ctx;

std::string request_id_from(const httplib::Request& req) {
  std::string id = req.get_header_value("X-Request-Id");
  if (!id.empty() && id.size() <= 128 &&
      std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; })) {
    return id;
  }
  return make_id("req-");
}

}  // namespace

struct HttpServer::Impl {
  Impl(engine::Engine& e, ServerOptions o)
      : opts(std::move(o)),
        metrics(opts.metrics ? opts.metrics : std::make_shared<Metrics>()),
        api(e, opts, *metrics) {}

  ServerOptions opts;
  std::shared_ptr<Metrics> metrics;
  Api api;
  ConnectionServer http{connection_limits(opts)};
  int port = -1;
  std::thread thread;
  std::mutex shutdown_mu;
  bool shut_down = false;
  bool shutdown_ok = true;

  void configure();
  void handle(const httplib::Request& req, httplib::Response& res, const std::string& body);
};

void HttpServer::Impl::configure() {
  http.set_payload_max_length(opts.max_body);

  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    t_ctx = RequestContext{Clock::now(), "unmatched", request_id_from(req)};
    if (const char* refused = refuse_before_body(req, res)) {
      t_ctx.route = refused;
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Bodies are read here, not by httplib, so --max-body counts decoded bytes as they arrive.
  route_all_methods(
      http, opts.max_body,
      [this](const httplib::Request& req, httplib::Response& res, const std::string& body) { handle(req, res, body); },
      [](const char* route) { t_ctx.route = route; });
  // Errors httplib produces itself (413 body too large, 400 bad request line...)
  // get OpenAI's error shape too; our own error responses already have a body.
  http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e;
    e.status = res.status;
    if (res.status == 413) {
      t_ctx.route = "payload_too_large";
      e.message =
          fmt::format("The request body is larger than the server's limit of {} bytes (--max-body).", opts.max_body);
      e.code = "payload_too_large";
    } else {
      e.message = fmt::format("HTTP error {}.", res.status);
      e.code = "bad_request";
    }
    res.set_content(e.body(), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    ApiError e{500, "internal server error", "server_error", std::nullopt, "internal_error"};
    res.status = 500;
    res.set_content(e.body(), "application/json");
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const int head = ConnectionServer::head_status();
    if (head < 0) return;  // the client left before its request was complete
    // A request whose line or headers broke a limit was answered below httplib (408/431)
    // and never reached the pre-routing handler.
    if (head > 0) t_ctx = RequestContext{ConnectionServer::request_start(), "unmatched", make_id("req-")};
    const int status = head > 0 ? head : res.status;
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - ConnectionServer::request_start()).count();
    metrics->record_http(t_ctx.route, status);
    AccessLogEntry entry{t_ctx.request_id, req.method, req.path, t_ctx.route, status, ms, req.remote_addr};
    write_access_log(opts.log_format, entry);
  });
}

void HttpServer::Impl::handle(const httplib::Request& req, httplib::Response& res, const std::string& body) {
  HttpRequest in;
  in.method = req.method;
  in.path = req.path;
  in.body = body;
  in.request_id = t_ctx.request_id;
  in.client_gone = ConnectionServer::client_gone_check();
  for (const auto& [k, v] : req.headers) {
    std::string key = k;
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    in.headers.emplace(std::move(key), v);
  }
  std::string route;
  HttpResponse out = api.handle(in, route);
  t_ctx.route = route;
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

HttpServer::HttpServer(engine::Engine& engine, ServerOptions opts)
    : impl_(std::make_unique<Impl>(engine, std::move(opts))) {
  impl_->configure();
}

HttpServer::~HttpServer() {
  shutdown();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Expected<int> HttpServer::bind() {
  if (impl_->port > 0) return impl_->port;
  auto port = bind_listener(impl_->http, impl_->opts.host, impl_->opts.port);
  if (!port) return port;
  impl_->http.raise_backlog(4096);
  impl_->port = *port;
  return port;
}

void HttpServer::serve() { impl_->http.serve(); }

Expected<int> HttpServer::start() {
  auto port = bind();
  if (!port) return port;
  impl_->thread = std::thread([this] { serve(); });
  // Wait until the accept loop runs so callers can connect at once.
  for (int i = 0; i < 500 && !impl_->http.running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return port;
}

bool HttpServer::shutdown() {
  std::lock_guard lock(impl_->shutdown_mu);
  if (impl_->shut_down) return impl_->shutdown_ok;
  impl_->shut_down = true;
  impl_->api.begin_shutdown();
  auto grace = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(impl_->opts.shutdown_grace_s));
  auto now = Clock::now();
  impl_->shutdown_ok = impl_->api.drain(now + grace, now + grace + std::chrono::seconds(5));
  impl_->http.stop_listening();
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) impl_->thread.join();
  return impl_->shutdown_ok;
}

int HttpServer::port() const { return impl_->port; }
Api& HttpServer::api() { return impl_->api; }
Metrics& HttpServer::metrics() { return *impl_->metrics; }

}  // namespace llmchain::server
