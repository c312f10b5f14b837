#pragma once
// The HTTP front both roles serve through (the engine's HttpServer and the GatewayServer): the
// listener (ConnectionServer: a thread per connection up to a cap, header deadlines), request
// ids, the checks made before a body is read, bodies read with the --max-body limit, the
// httplib <-> HttpRequest / HttpResponse adapter (SSE bodies streamed chunk by chunk), errors
// that httplib produces itself in the API's error shape, and the access log. A role gives it
// one handler that routes a request and names the route (for metrics and the log).
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "http/connection.h"
#include "http/types.h"

namespace llmchain::http {

struct HttpFrontOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  size_t max_body = 0;
  LogFormat log_format = LogFormat::kText;
  ConnectionLimits limits;
  std::string role = "server";  // in the 413 message: "the <role>'s limit of N bytes"
  // Told of every answered request (metrics); may be null.
  std::function<void(const std::string& route, int status)> on_answered;
};

// Routes a request: the response, and the route's label in `route`.
using RouteHandler = std::function<HttpResponse(const HttpRequest& req, std::string& route)>;

class HttpFront {
 public:
  HttpFront(HttpFrontOptions opts, RouteHandler handler);
  ~HttpFront();
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  // Binds and listens on host:port (idempotent); returns the bound port.
  Expected<int> bind();
  // Serves on the calling thread until stop().
  void serve();
  // bind(), then serve() on a thread of its own. Clients may connect as soon as it returns:
  // the socket listens from bind() on, connections wait in its queue until accepted.
  Expected<int> start();
  // Stops listening and joins the serving thread (not from a handler).
  void stop();
  int port() const { return port_; }

 private:
  HttpFrontOptions opts_;
  RouteHandler handler_;
  ConnectionServer http_;
  int port_ = -1;
  std::thread thread_;
};

// Serves one request of an httplib server through `handler` (the adapter HttpFront uses;
// register_gateway_routes mounts the gateway on a caller's httplib server with it).
void serve_through(const RouteHandler& handler, const httplib::Request& req, httplib::Response& res,
                   const std::string& body, std::string& route, const std::string& request_id);
// The request's X-Request-Id when it is a sane token, else a new "req-..." id.
std::string request_id_of(const httplib::Request& req);

}  // namespace llmchain::http
