#pragma once
// Checks both servers (engine and gateway) make on a request before its body is read, in
// cpp-httplib's pre-routing handler.
#include <httplib.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "http/error.h"

namespace llmchain::http {

// Every body this API takes is JSON. A body declared as something else (a form, text/plain)
// is 415 before it is read: httplib would otherwise parse forms itself (and answer 413 for one
// over 8 KB, naming the wrong limit). No Content-Type at all is accepted as JSON.
inline bool is_json_media_type(std::string_view content_type) {
  std::string t;
  for (char c : content_type.substr(0, content_type.find(';'))) {
    if (c != ' ' && c != '\t') t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return t.empty() || t == "application/json" || (t.rfind("application/", 0) == 0 && t.ends_with("+json"));
}

// The route label (for metrics and the access log) of a request refused before routing, with
// res filled; nullptr when the request goes on.
inline const char* refuse_before_body(const httplib::Request& req, httplib::Response& res) {
  // One byte range at most: httplib answers several with a multipart body that repeats the
  // content per range (1,100 ranges turned a 3 KB request into a 17 MB answer).
  if (req.get_header_value("Range").find(',') != std::string::npos) {
    ApiError e{416, "Only a single byte range is served.", "invalid_request_error", std::nullopt,
               "range_not_satisfiable"};
    res.status = 416;
    // Chunked, because httplib applies a request's ranges to a plain body, even an error's.
    res.set_chunked_content_provider("application/json", [body = e.body()](size_t, httplib::DataSink& sink) {
      sink.write(body.data(), body.size());
      sink.done();
      return true;
    });
    return "range_not_satisfiable";
  }
  const bool has_body = req.has_header("Content-Length") ? req.get_header_value("Content-Length") != "0"
                                                         : req.has_header("Transfer-Encoding");
  if (!has_body || is_json_media_type(req.get_header_value("Content-Type"))) return nullptr;
  ApiError e{415,
             "Unsupported Content-Type '" + req.get_header_value("Content-Type") +
                 "': request bodies are JSON (Content-Type: application/json).",
             "invalid_request_error", std::nullopt, "unsupported_media_type"};
  res.status = 415;
  res.set_header("Connection", "close");  // the unread body must not be taken for the next request
  res.set_content(e.body(), "application/json");
  return "unsupported_media_type";
}

// Reads the body through httplib's content reader, which hands over decoded bytes (after any
// Content-Encoding, chunked or not), stopping as soon as they pass max_body: a small gzip body
// that inflates to gigabytes, or a chunked one without a length, is 413 after max_body bytes.
// nullopt: too large (res is the 413; the connection closes, the rest of the body unread).
inline std::optional<std::string> read_body(const httplib::Request& req, const httplib::ContentReader& reader,
                                            size_t max_body, httplib::Response& res) {
  std::string body;
  bool too_large = false;
  const bool read = reader([&](const char* data, size_t n) {
    if (body.size() + n > max_body) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (read && !too_large) return body;
  if (!too_large) {
    // httplib refused before reading (a Content-Length over its limit) or the body broke off
    // (a client that went away, a bad chunk or gzip stream).
    const std::string declared = req.get_header_value("Content-Length");
    if (res.status == 413 || (!declared.empty() && std::strtoull(declared.c_str(), nullptr, 10) > max_body)) {
      too_large = true;
    } else {
      ApiError e{400, "The request body could not be read (cut off, or a broken chunked or gzip encoding).",
                 "invalid_request_error", std::nullopt, "unreadable_body"};
      res.status = 400;
      res.set_header("Connection", "close");
      res.set_content(e.body(), "application/json");
      return std::nullopt;
    }
  }
  ApiError e{413,
             "The request body is larger than the server's limit of " + std::to_string(max_body) +
                 " bytes (--max-body), counted after decompression.",
             "invalid_request_error", std::nullopt, "payload_too_large"};
  res.status = 413;
  res.set_header("Connection", "close");
  res.set_content(e.body(), "application/json");
  return std::nullopt;
}

// Routes every method of both servers to h with the request's body: read by read_body (decoded
// bytes, max_body) for the methods that carry one. on_too_large(label) is told of a body refused.
using BodyHandler = std::function<void(const httplib::Request&, httplib::Response&, const std::string& body)>;
inline void route_all_methods(httplib::Server& http, size_t max_body, BodyHandler h,
                              std::function<void(const char* route)> on_refused) {
  auto plain = [h](const httplib::Request& req, httplib::Response& res) { h(req, res, req.body); };
  auto with_body = [h, max_body, on_refused](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& reader) {
    auto body = read_body(req, reader, max_body, res);
    if (!body) {
      on_refused("payload_too_large");
      return;
    }
    h(req, res, *body);
  };
  http.Get(".*", plain);
  http.Post(".*", with_body);
  http.Put(".*", with_body);
  http.Delete(".*", plain);
  http.Patch(".*", with_body);
  http.Options(".*", plain);
}

}  // namespace llmchain::http
