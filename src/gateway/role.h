#pragma once
// `llmchain serve --role gateway`: the whole process lifecycle of the gateway
// role in one call, so apps/cmd_serve.cpp only maps its flags onto options.
#include <functional>
#include <memory>

#include "base/error.h"
#include "gateway/pool.h"
#include "gateway/proxy.h"
#include "gateway/server.h"
#include "server/server_options.h"

namespace llmchain::gateway {

// Creates the upstream pool, binds server.host:server.port, starts health
// checks and serves until SIGINT or SIGTERM, then shuts down gracefully
// (readiness 503, in-flight requests get server.shutdown_grace_s). Blocks
// SIGINT/SIGTERM in the calling thread (and so in every thread it starts).
// Returns the process exit code: 0 after a signal, 2 for bad options, 1 when
// it cannot listen. Logging must be initialised by the caller.
//
// load_chains, when set, is called once the gateway listens with how its chains reach its own
// OpenAI API (GatewaySelf); the registry it returns is served under /chains. Its error is
// printed and the exit code is 2.
using GatewayChainLoader = std::function<Expected<std::shared_ptr<chain::ChainRegistry>>(const GatewaySelf& self)>;
int run_gateway(const ServerOptions& server, const UpstreamPoolOptions& pool, const GatewayOptions& gateway = {},
                const GatewayChainLoader& load_chains = {});

}  // namespace llmchain::gateway
