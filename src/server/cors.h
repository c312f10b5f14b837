#pragma once
// CORS, as OpenAI's API and llama-server answer it: any origin may call (an API
// key still guards the endpoints), and a browser's preflight is answered
// without a key. Shared by the engine server and the gateway.
#include <optional>

#include "server/http_types.h"

namespace llmchain::server {

// 204 with the allowed methods and headers for an OPTIONS request; nullopt otherwise.
inline std::optional<HttpResponse> cors_preflight(const HttpRequest& req) {
  if (req.method != "OPTIONS") return std::nullopt;
  HttpResponse res;
  res.status = 204;
  res.content_type = "text/plain";
  res.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  std::string asked = req.header("access-control-request-headers");
  res.headers.emplace_back("Access-Control-Allow-Headers", asked.empty() ? "Authorization, Content-Type" : asked);
  res.headers.emplace_back("Access-Control-Max-Age", "86400");
  return res;
}

inline void allow_any_origin(HttpResponse& res) { res.headers.emplace_back("Access-Control-Allow-Origin", "*"); }

}  // namespace llmchain::server
