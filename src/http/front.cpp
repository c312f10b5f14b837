#include "http/front.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "http/access_log.h"
#include "http/error.h"
#include "http/listen_socket.h"
#include "http/request_checks.h"

namespace llmchain::http {
namespace {

using Clock = std::chrono::steady_clock;

// Per-request context shared by the pre-routing handler, the route handler and the logger,
// which httplib runs one after another on the connection's thread.
struct RequestContext {
  Clock::time_point start;
  std::string route = "unmatched";
  std::string request_id;
};
thread_local RequestContext t_ctx;

}  // namespace

std::string request_id_of(const httplib::Request& req) {
  std::string id = req.get_header_value("X-Request-Id");
  if (!id.empty() && id.size() <= 128 &&
      std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; })) {
    return id;
  }
  return make_id("req-");
}

void serve_through(const RouteHandler& handler, const httplib::Request& req, httplib::Response& res,
                   const std::string& body, std::string& route, const std::string& request_id) {
  HttpRequest in;
  in.method = req.method;
  in.path = req.path;
  in.body = body;
  in.request_id = request_id;
  in.client_gone = ConnectionServer::client_gone_check();
  for (const auto& [k, v] : req.headers) {
    std::string key = k;
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    in.headers.emplace(std::move(key), v);
  }
  HttpResponse out = handler(in, route);
  res.status = out.status;
  for (auto& [k, v] : out.headers) res.set_header(k, v);
  res.set_header("X-Request-Id", in.request_id);
  if (out.stream) {
    auto stream = std::make_shared<StreamBody>(std::move(out.stream));
    // A client that closed its end is found before each chunk, not by the write after next: the
    // first send to a closed peer still succeeds (it only draws the RST that fails the second),
    // which cost a stream one more decode step before its generation was cancelled.
    res.set_chunked_content_provider(out.content_type,
                                     [stream, gone = in.client_gone](size_t, httplib::DataSink& sink) {
                                       (*stream)([&sink, &gone](std::string_view chunk) {
                                         return !(gone && gone()) && sink.write(chunk.data(), chunk.size());
                                       });
                                       sink.done();
                                       return true;
                                     });
  } else {
    res.set_content(std::move(out.body), out.content_type);
  }
}

HttpFront::HttpFront(HttpFrontOptions opts, RouteHandler handler)
    : opts_(std::move(opts)), handler_(std::move(handler)), http_(opts_.limits) {
  http_.set_payload_max_length(opts_.max_body);
  http_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    t_ctx = RequestContext{Clock::now(), "unmatched", request_id_of(req)};
    if (const char* refused = refuse_before_body(req, res)) {
      t_ctx.route = refused;
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Bodies are read here, not by httplib, so --max-body counts decoded bytes as they arrive.
  route_all_methods(
      http_, opts_.max_body,
      [this](const httplib::Request& req, httplib::Response& res, const std::string& body) {
        serve_through(handler_, req, res, body, t_ctx.route, t_ctx.request_id);
      },
      [](const char* route) { t_ctx.route = route; });
  // Errors httplib produces itself (413 body too large, 400 bad request line...) get the API's
  // error shape too; our own error responses already have a body.
  http_.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e;
    e.status = res.status;
    if (res.status == 413) {
      t_ctx.route = "payload_too_large";
      e.message = fmt::format("The request body is larger than the {}'s limit of {} bytes (--max-body).", opts_.role,
                              opts_.max_body);
      e.code = "payload_too_large";
    } else {
      e.message = fmt::format("HTTP error {}.", res.status);
      e.code = "bad_request";
    }
    res.set_content(e.body(), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    ApiError e{500, "internal server error", "server_error", std::nullopt, "internal_error"};
    res.status = 500;
    res.set_content(e.body(), "application/json");
  });
  http_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const int head = ConnectionServer::head_status();
    if (head < 0) return;  // the client left before its request was complete
    // A request whose line or headers broke a limit was answered below httplib (408/431)
    // and never reached the pre-routing handler.
    if (head > 0) t_ctx = RequestContext{ConnectionServer::request_start(), "unmatched", make_id("req-")};
    const int status = head > 0 ? head : res.status;
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - ConnectionServer::request_start()).count();
    if (opts_.on_answered) opts_.on_answered(t_ctx.route, status);
    write_access_log(opts_.log_format,
                     {t_ctx.request_id, req.method, req.path, t_ctx.route, status, ms, req.remote_addr});
  });
}

HttpFront::~HttpFront() { stop(); }

Expected<int> HttpFront::bind() {
  if (port_ > 0) return port_;
  auto port = bind_listener(http_, opts_.host, opts_.port);
  if (!port) return port;
  http_.raise_backlog(4096);
  port_ = *port;
  return port;
}

void HttpFront::serve() { http_.serve(); }

Expected<int> HttpFront::start() {
  auto port = bind();
  if (!port) return port;
  thread_ = std::thread([this] { serve(); });
  return port;
}

void HttpFront::stop() {
  http_.stop_listening();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

}  // namespace llmchain::http
