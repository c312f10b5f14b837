#pragma once
// UpstreamEngine: engine::Engine over the gRPC engines of a gateway's UpstreamPool (grpc://
// upstreams), so the gateway serves the OpenAI API with the engine role's own routes
// (server::Api: chat templates, tool calls, n, echo, logprobs, structured output) and only
// the engine calls cross the network: Info once, ApplyChatTemplate and Tokenize per request,
// Generate streamed.
//
// Every call takes an endpoint from the pool (fewest outstanding, circuit breaker, health
// from the grpc.health.v1 service) and reports its outcome to it. A call that fails before
// its first token (engine unreachable or gone, draining, queue full) is retried on another
// engine, up to max_attempts engines. A generation whose engine fails after tokens came is
// retried too while no consumer has taken any of them (a buffered response:
// Generation::rewind); otherwise it ends with ErrorCode::kUpstreamBroken (the gateway's
// documented stream error). Cancelling the Generation cancels the RPC, which cancels the
// engine's sequence. One channel per engine address, kept open (HTTP/2), so load is
// balanced per engine, not per connection; channels reconnect within about a second of an
// engine coming back.
//
// All the engines must serve the same model (one tokenizer): the gateway tokenizes on one
// and generates on another.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gateway/pool.h"
#include "gateway/proxy.h"

namespace grpc {
class Channel;
}

namespace llmchain::gateway {

struct UpstreamEngineOptions {
  std::string api_key;                   // sent to the engines as "authorization: Bearer KEY"
  int max_attempts = 3;                  // engines tried per call
  double call_timeout_s = 30;            // deadline of one unary call (Info, Tokenize, ...)
  int max_message_bytes = 64 << 20;      // received and sent
  double reconnect_backoff_max_s = 1.0;  // a restarted engine is reached again within this
};

// One channel per engine address, shared by the health checks and the calls.
class ChannelCache {
 public:
  explicit ChannelCache(UpstreamEngineOptions options) : options_(std::move(options)) {}
  std::shared_ptr<grpc::Channel> get(const UpstreamUrl& address);

 private:
  UpstreamEngineOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

// grpc.health.v1 Check of the engine service on one endpoint: "" when SERVING, else why not.
std::string check_health(ChannelCache& channels, const UpstreamUrl& address, double timeout_s);

class UpstreamEngine final : public engine::Engine {
 public:
  UpstreamEngine(std::shared_ptr<UpstreamPool> pool, std::shared_ptr<ChannelCache> channels,
                 UpstreamEngineOptions options, std::shared_ptr<GatewayCounters> counters = nullptr);
  ~UpstreamEngine() override;

  // The model of the first engine that answered Info (asked when an engine is healthy, at
  // most every 200 ms, until one has); default values until then.
  const engine::ModelInfo& info() const override;
  // An engine is healthy and the model is known.
  bool ready() const override;
  Expected<std::vector<int32_t>> tokenize(const std::string& text, bool add_special, bool parse_special) const override;
  // "" when no engine answers (logged).
  std::string detokenize(const std::vector<int32_t>& tokens) const override;
  Expected<std::string> apply_chat_template(const std::vector<engine::ChatMessage>& messages,
                                            bool add_generation_prompt, const std::string& template_name = "",
                                            const nlohmann::json& tools = nullptr) const override;
  std::shared_ptr<engine::Generation> submit(engine::GenerateRequest req) override;
  Expected<std::vector<float>> embed(const std::vector<int32_t>& tokens) override;
  // Zeros: the engines report their own.
  engine::EngineStats stats() const override { return {}; }

  struct Shared;  // what calls in flight hold (they may outlive a request's handler)

 private:
  bool ensure_info() const;

  std::shared_ptr<Shared> shared_;
  mutable std::mutex info_mu_;
  mutable std::atomic<bool> info_known_{false};
  mutable engine::ModelInfo info_;  // written once, before info_known_
  mutable std::chrono::steady_clock::time_point info_tried_{};
  mutable std::mutex pieces_mu_;
  mutable std::map<int32_t, std::string> pieces_;  // single-token detokenizations (the /tokenize route asks per token)
};

// Makes a gateway speak gRPC to its upstreams: health checks over grpc.health.v1 and the
// OpenAI routes served over an UpstreamEngine. Every upstream URL must be grpc://
// (kInvalidArgument otherwise).
Expected<bool> use_grpc_upstreams(UpstreamPoolOptions& pool, GatewayOptions& gateway, UpstreamEngineOptions options);

}  // namespace llmchain::gateway
