#pragma once
// The engine's gRPC face (proto/llmchain/v1/engine.proto), served beside the REST API by
// `serve --grpc-port N`. Generate streams a Generation (engine/generation.h) through gRPC's
// callback API: the engine's decode loop hands each token event to the call, which writes it
// when the previous write is done, so no thread waits per call; cancelling the call, its
// deadline passing or the client going away cancels the sequence at the next decode step.
// Beside it the standard grpc.health.v1.Health service, SERVING while the engine is ready
// (service names "" and "llmchain.v1.Engine").
#include <memory>
#include <string>

#include "base/error.h"
#include "engine/engine.h"

namespace llmchain::rpc {

struct RpcServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                     // 0: any free port
  std::string api_key;              // set: Engine calls must carry "authorization: Bearer KEY" (health is open)
  int max_message_bytes = 8 << 20;  // larger requests are refused (RESOURCE_EXHAUSTED)
  int max_inputs = 2048;            // Embed inputs per call
};

class RpcServer {
 public:
  RpcServer(engine::Engine& engine, RpcServerOptions options);
  ~RpcServer();
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // Listens and serves on gRPC's own threads; returns the port.
  Expected<int> start();
  // Health: NOT_SERVING (a draining engine) or SERVING.
  void set_serving(bool serving);
  // Refuses new calls, lets the ones in flight finish for up to grace_s, then cancels them.
  void shutdown(double grace_s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmchain::rpc
