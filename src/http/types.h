#pragma once
// Transport-neutral request/response types. Route handlers see only these, so
// they compile without httplib and can be unit-tested without sockets; the one
// file that adapts httplib to them is http/front.cpp.
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmchain::http {

struct HttpRequest {
  std::string method;
  std::string path;
  std::string body;
  std::string request_id;
  std::map<std::string, std::string> headers;  // keys lower-cased
  std::vector<std::string> path_params;        // captures of the route pattern
  // True once the client has disconnected; unset when the transport cannot tell. For handlers
  // that write nothing until done; streams learn it from a failed write instead.
  std::function<bool()> client_gone;

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Writes one piece of a streamed body; returns false once the client has gone.
using ChunkWriter = std::function<bool(std::string_view)>;
// Produces a streamed body by calling write until done (or until write fails).
using StreamBody = std::function<void(const ChunkWriter& write)>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  StreamBody stream;  // when set, the body is sent chunked as stream() writes it
};

}  // namespace llmchain::http
