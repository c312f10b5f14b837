#include "server/api_error.h"

namespace llmchain::server {

nlohmann::json ApiError::to_json() const {
  nlohmann::json err = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (param) err["param"] = *param;
  if (code) err["code"] = *code;
  return {{"error", err}};
}

HttpResponse ApiError::to_response() const {
  HttpResponse res;
  res.status = status;
  res.body = to_json().dump();
  return res;
}

void throw_invalid(const std::string& param, const std::string& message, const std::string& code) {
  ApiError e;
  e.status = 400;
  e.message = message;
  if (!param.empty()) e.param = param;
  e.code = code;
  throw ApiException(std::move(e));
}

ApiError api_error_from(const Error& e) {
  ApiError out;
  out.message = e.message();
  switch (e.code()) {
    case ErrorCode::kInvalidArgument:
      out.status = 400;
      out.code = "invalid_value";
      break;
    case ErrorCode::kNotFound:
      out.status = 404;
      out.code = "not_found";
      break;
    case ErrorCode::kUnsupported:
      out.status = 400;
      out.code = "unsupported";
      break;
    case ErrorCode::kResourceExhausted:
      out.status = 429;
      out.type = "rate_limit_error";
      out.code = "queue_full";
      break;
    case ErrorCode::kCancelled:
      out.status = 499;
      out.type = "request_cancelled";
      out.code = "cancelled";
      break;
    case ErrorCode::kUnavailable:
      out.status = 503;
      out.type = "service_unavailable";
      out.code = "unavailable";
      break;
    case ErrorCode::kDeadlineExceeded:
      out.status = 504;
      out.type = "timeout_error";
      out.code = "timeout";
      break;
    default:
      out.status = 500;
      out.type = "server_error";
      out.code = "internal_error";
      break;
  }
  return out;
}

}  // namespace llmchain::server
