#pragma once
// Routing and auth for both roles (the engine's Api and the gateway's proxy). Routes are path
// templates: "/v1/models/{model:path}" ({p} is one segment, {p:path} the rest, slashes
// included), "/chains/{name}/invoke"; the params land in HttpRequest::path_params in order, and
// the template (":path" dropped) is the route's label for metrics and the access log. A request
// finds its route by path, then by method (HEAD is GET); unknown paths are 404, other methods
// 405, and routes marked `auth` want "Authorization: Bearer <key>" when a key is set (401).
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "http/types.h"

namespace llmchain::http {

class Router {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Runs a handler and turns what it throws into an answer (the server's respond(),
  // api_error.h); null: handlers are called as they are.
  using Guard = std::function<HttpResponse(const std::function<HttpResponse()>&)>;

  // api_key empty: no route needs a key.
  explicit Router(std::string api_key = {}, Guard guard = nullptr)
      : api_key_(std::move(api_key)), guard_(std::move(guard)) {}

  void add(const std::string& method, const std::string& path_template, bool auth, Handler h);
  // Whether some route's template matches the path (whatever its method).
  bool knows(const std::string& path) const;
  // The matching route's response (through the guard), its label in `route`; 404, 405 and 401
  // in the error envelope (http/error.h).
  HttpResponse dispatch(const HttpRequest& req, std::string& route) const;
  // The request carries the key (compared in constant time), or none is needed.
  bool authorized(const HttpRequest& req) const;

 private:
  struct Route {
    std::string method;
    std::regex pattern;
    std::string label;
    bool auth;
    Handler handler;
  };
  std::string api_key_;
  Guard guard_;
  std::vector<Route> routes_;
};

// a == b in time independent of where they differ (a key cannot be guessed byte by byte from
// timings); false when b is empty.
bool equal_ct(const std::string& a, const std::string& b);

// 401 invalid_api_key with WWW-Authenticate: Bearer (what a client without the right key gets).
HttpResponse unauthorized(const HttpRequest& req);

}  // namespace llmchain::http
