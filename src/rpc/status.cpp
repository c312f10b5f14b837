#include "rpc/status.h"

namespace llmchain::rpc {

grpc::StatusCode to_status_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorCode::kInvalidFile: return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorCode::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case ErrorCode::kUnsupported: return grpc::StatusCode::UNIMPLEMENTED;
    case ErrorCode::kResourceExhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorCode::kCancelled: return grpc::StatusCode::CANCELLED;
    case ErrorCode::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case ErrorCode::kDeadlineExceeded: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case ErrorCode::kOutputParseFailed: return grpc::StatusCode::DATA_LOSS;
    case ErrorCode::kUpstreamBroken: return grpc::StatusCode::UNAVAILABLE;
    case ErrorCode::kIo:
    case ErrorCode::kInternal: break;
  }
  return grpc::StatusCode::INTERNAL;
}

ErrorCode to_error_code(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return ErrorCode::kInvalidArgument;
    case grpc::StatusCode::FAILED_PRECONDITION: return ErrorCode::kInvalidFile;
    case grpc::StatusCode::NOT_FOUND: return ErrorCode::kNotFound;
    case grpc::StatusCode::UNIMPLEMENTED: return ErrorCode::kUnsupported;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return ErrorCode::kResourceExhausted;
    case grpc::StatusCode::CANCELLED: return ErrorCode::kCancelled;
    case grpc::StatusCode::UNAVAILABLE: return ErrorCode::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return ErrorCode::kDeadlineExceeded;
    case grpc::StatusCode::DATA_LOSS: return ErrorCode::kOutputParseFailed;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED: return ErrorCode::kInvalidArgument;
    default: return ErrorCode::kInternal;
  }
}

}  // namespace llmchain::rpc
