#pragma once
// Errors in OpenAI's shape: {"error":{"message","type","param","code"}}.
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/error.h"
#include "base/json_util.h"
#include "http/error.h"
#include "server/http_types.h"

namespace llmchain::server {

using http::ApiError;
using http::json_response;

// Thrown inside request parsing and handlers; converted to a response at the route boundary.
class ApiException : public std::exception {
 public:
  explicit ApiException(ApiError e) : err_(std::move(e)) {}
  const ApiError& error() const { return err_; }
  const char* what() const noexcept override { return err_.message.c_str(); }

 private:
  ApiError err_;
};

[[noreturn]] void throw_invalid(const std::string& param, const std::string& message,
                                const std::string& code = "invalid_value");

// Maps an engine/library error to the HTTP status and OpenAI error type clients expect.
ApiError api_error_from(const Error& e);
// An unexpected exception: logged with its text, answered 500 without it (no internal
// details reach a client).
ApiError internal_error(const std::exception& e);

// Runs a route handler; never throws: ApiException, library errors (Error), out of memory and
// any other exception become the matching error response.
HttpResponse respond(const std::function<HttpResponse()>& handler);

}  // namespace llmchain::server
