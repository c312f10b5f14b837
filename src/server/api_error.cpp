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

HttpResponse respond(const std::function<HttpResponse()>& handler) {
  try {
    return handler();
  } catch (const ApiException& e) {
    return e.error().to_response();
  } catch (const Error& e) {
    return api_error_from(e).to_response();
  } catch (const std::bad_alloc&) {
    return ApiError{500, "out of memory while handling the request", "server_error", std::nullopt, "out_of_memory"}
        .to_response();
  } catch (const std::exception& ex) {
    return ApiError{500, std::string("internal error: ") + ex.what(), "server_error", std::nullopt, "internal_error"}
        .to_response();
  }
}

}  // namespace llmchain::server
