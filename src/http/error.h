#pragma once
// The error envelope every route of both roles answers with (OpenAI's):
// {"error": {"message", "type", "param", "code"}}; JSON answers; the random ids of requests and
// objects.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/json_util.h"
#include "http/types.h"

namespace llmchain::http {

// A JSON answer (application/json); its text is json_text (base/json_util.h), which cannot fail.
HttpResponse json_response(const nlohmann::json& j, int status = 200);

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::optional<std::string> param;
  std::optional<std::string> code;

  nlohmann::json to_json() const;
  std::string body() const { return json_text(to_json()); }
  HttpResponse to_response() const;
};

// prefix + 24 random alphanumerics ("req-...", "chatcmpl-...").
std::string make_id(const std::string& prefix);

}  // namespace llmchain::http
