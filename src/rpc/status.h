#pragma once
// Errors both ways between the engine's ErrorCode and gRPC status codes, the message intact:
// the service answers with to_status(); a client turns a status back into the Error the engine
// gave (from_status), so the gateway can give the OpenAI error shape the engine would have.
#include <grpcpp/support/status.h>

#include "base/error.h"

namespace llmchain::rpc {

grpc::StatusCode to_status_code(ErrorCode code);
ErrorCode to_error_code(grpc::StatusCode code);
inline grpc::Status to_status(const Error& e) { return grpc::Status(to_status_code(e.code()), e.message()); }
inline Error from_status(const grpc::Status& s) { return Error(to_error_code(s.error_code()), s.error_message()); }

}  // namespace llmchain::rpc
