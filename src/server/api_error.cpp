#include "server/api_error.h"

#include "base/log.h"

namespace llmchain::server {

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
    case ErrorCode::kUpstreamBroken:  // the gateway's documented stream error
      out.status = 502;
      out.type = "server_error";
      out.code = "upstream_stream_broken";
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

ApiError internal_error(const std::exception& e) {
  LLMC_LOG_ERROR("internal error while handling a request: {}", e.what());
  return ApiError{500, "Internal error while handling the request; the server log has the details.", "server_error",
                  std::nullopt, "internal_error"};
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
  } catch (const nlohmann::json::exception& ex) {
    // A value of the client's that the handler read with the wrong type or out of range:
    // the client's mistake, but not one a validator named. No library text in the answer.
    LLMC_LOG_WARN("request rejected: unvalidated JSON value ({})", ex.what());
    return ApiError{400, "The request has a value of the wrong type or out of range.", "invalid_request_error",
                    std::nullopt, "invalid_value"}
        .to_response();
  } catch (const std::exception& ex) {
    return internal_error(ex).to_response();
  }
}

}  // namespace llmchain::server
