#include "http/router.h"

#include <fmt/format.h>

#include <string_view>

#include "http/error.h"

namespace llmchain::http {
bool equal_ct(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || b.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void Router::add(const std::string& method, const std::string& path_template, bool auth, Handler h) {
  std::string re, label;
  for (size_t i = 0; i < path_template.size();) {
    const char c = path_template[i];
    if (c == '{') {
      const size_t end = path_template.find('}', i);
      std::string param = path_template.substr(i + 1, end - i - 1);
      const bool rest = param.ends_with(":path");
      if (rest) param.resize(param.size() - 5);
      re += rest ? "(.+)" : "([^/]+)";
      label += "{" + param + "}";
      i = end + 1;
      continue;
    }
    if (std::string_view(".^$|()[]*+?\\").find(c) != std::string_view::npos) re += '\\';
    re += c;
    label += c;
    ++i;
  }
  routes_.push_back({method, std::regex(re), std::move(label), auth, std::move(h)});
}

bool Router::knows(const std::string& path) const {
  for (const auto& r : routes_)
    if (std::regex_match(path, r.pattern)) return true;
  return false;
}

bool Router::authorized(const HttpRequest& req) const {
  if (api_key_.empty()) return true;
  const std::string h = req.header("authorization");
  static const std::string kBearer = "Bearer ";
  if (h.size() <= kBearer.size() || h.compare(0, kBearer.size(), kBearer) != 0) return false;
  return equal_ct(h.substr(kBearer.size()), api_key_);
}

HttpResponse Router::dispatch(const HttpRequest& in, std::string& route) const {
  HttpRequest req = in;
  bool path_matched = false;
  const Route* hit = nullptr;
  for (const auto& r : routes_) {
    std::smatch m;
    if (!std::regex_match(req.path, m, r.pattern)) continue;
    path_matched = true;
    // HEAD is GET without the body (httplib drops it).
    if (r.method != req.method && !(req.method == "HEAD" && r.method == "GET")) continue;
    hit = &r;
    req.path_params.clear();
    for (size_t i = 1; i < m.size(); ++i) req.path_params.push_back(m[i].str());
    break;
  }
  if (!hit) {
    route = path_matched ? "method_not_allowed" : "not_found";
    ApiError e;
    e.status = path_matched ? 405 : 404;
    e.message = path_matched ? fmt::format("Method {} is not allowed on {}.", req.method, req.path)
                             : fmt::format("Unknown endpoint: {} {}.", req.method, req.path);
    e.code = path_matched ? "method_not_allowed" : "unknown_url";
    return e.to_response();
  }
  route = hit->label;
  if (hit->auth && !authorized(req)) return unauthorized(req);
  if (guard_) return guard_([&] { return hit->handler(req); });
  return hit->handler(req);
}

HttpResponse unauthorized(const HttpRequest& req) {
  ApiError e;
  e.status = 401;
  e.message = req.header("authorization").empty()
                  ? "You didn't provide an API key. Provide it in the Authorization header (Bearer <key>)."
                  : "Incorrect API key provided.";
  e.code = "invalid_api_key";
  HttpResponse res = e.to_response();
  res.headers.emplace_back("WWW-Authenticate", "Bearer");
  return res;
}

}  // namespace llmchain::http
