#pragma once
// The Engine interface: what the server and the chain layer's local LLM use.
// Implementations: engine::LocalEngine (model + scheduler, continuous batching).
// Thread-safe: many callers may submit() concurrently; each gets a Generation
// (engine/generation.h) that streams its tokens and gives its result, without a
// thread of its own. generate() is the blocking form over it.
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "base/error.h"
#include "sampling/params.h"

namespace llmchain::engine {

class Generation;

struct ChatMessage {
  std::string role;  // system | user | assistant | tool
  std::string content;
  nlohmann::json extra = nlohmann::json::object();  // name, tool_calls, ... passed to the template
};

struct ModelInfo {
  std::string name;          // model id shown by /v1/models
  std::string architecture;  // llama, qwen2, ...
  int32_t n_ctx = 0;         // context per sequence
  int32_t n_ctx_train = 0;
  int32_t n_vocab = 0;
  int32_t n_embd = 0;
  int32_t bos = -1, eos = -1, sep = -1;
  bool add_bos = false, add_eos = false, add_sep = false;  // what tokenize(add_special) adds
  bool has_chat_template = false;
  bool generates = true;         // false: an embedding / reranking model (an encoder)
  std::string pooling = "mean";  // embed(): mean | cls | last | rank (scores) | none (taken as mean)
};

struct GenerateRequest {
  std::vector<int32_t> prompt;    // token ids (use Engine::tokenize)
  int32_t max_tokens = -1;        // -1: until end of generation or the context is full
  std::vector<std::string> stop;  // stop strings; never emitted
  sampling::SamplingParams sampling;
  sampling::Constraint constraint;
  bool ignore_eos = false;
  int32_t logprobs = -1;  // -1: off; N >= 0: chosen token's logprob and N top alternatives
  // Stops the sequence once requested, wherever it is: compiling its constraint, queued,
  // prefilling or generating (it then ends with FinishReason::kCancelled); the same as
  // Generation::cancel().
  std::stop_token cancel;
};

struct TokenLogprob {
  int32_t token = -1;
  std::string text;
  float logprob = 0;
};

struct TokenEvent {
  int32_t token = -1;
  std::string text;  // text safe to emit now (whole UTF-8 chars, no possible stop-string prefix); may be empty
  std::optional<TokenLogprob> chosen;  // when logprobs requested
  std::vector<TokenLogprob> top;
};

// Returns false to cancel the sequence (client went away).
using TokenCallback = std::function<bool(const TokenEvent&)>;

// Why a generation ended (errors end it with an Error instead).
enum class FinishReason {
  kStop,       // an end-of-generation token, a stop string, or a constrained output completed
  kLength,     // max_tokens, or the context is full
  kCancelled,  // cancelled: the caller, a client gone, a timeout
};
// "stop" | "length" | "cancelled" (OpenAI's words where it has them).
constexpr const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "stop";
}

struct GenerateResult {
  std::string text;  // whole completion (stop string excluded)
  FinishReason finish_reason = FinishReason::kStop;
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t cached_prompt_tokens = 0;  // reused from the prefix cache
  double time_to_first_token_s = 0;
  double total_s = 0;
  std::vector<TokenEvent> logprobs;  // per generated token, when requested
};

struct EngineStats {
  int32_t running = 0;
  int32_t waiting = 0;
  int64_t prompt_tokens_total = 0;
  int64_t generated_tokens_total = 0;
  int64_t rejected_total = 0;
  int32_t kv_cells_used = 0;
  int32_t kv_cells_total = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const ModelInfo& info() const = 0;
  virtual bool ready() const = 0;

  virtual Expected<std::vector<int32_t>> tokenize(const std::string& text, bool add_special,
                                                  bool parse_special) const = 0;
  virtual std::string detokenize(const std::vector<int32_t>& tokens) const = 0;
  // Renders messages with the model's chat template (or the named built-in when template_name is set).
  // tools: an OpenAI tools array (null: none), see chat::apply_chat_template.
  virtual Expected<std::string> apply_chat_template(const std::vector<ChatMessage>& messages,
                                                    bool add_generation_prompt, const std::string& template_name = "",
                                                    const nlohmann::json& tools = nullptr) const = 0;

  // Queues a generation and returns at once with its handle (the request is validated and its
  // constraint compiled first, on the caller's thread, within EngineOptions::constraint_timeout_s).
  // Errors end the generation: kInvalidArgument (bad params, prompt too long, schema rejected),
  // kResourceExhausted (queue full), kUnavailable / kCancelled (shutting down).
  virtual std::shared_ptr<Generation> submit(GenerateRequest req) = 0;
  // submit(), then the caller's thread drains the events into on_token (false cancels) and
  // returns the result.
  Expected<GenerateResult> generate(const GenerateRequest& req, const TokenCallback& on_token);
  // The embedding of the token sequence, pooled as the model declares (ModelInfo::pooling; decoder
  // models: mean) and L2-normalised; for rank pooling, the classification head's scores as they are.
  virtual Expected<std::vector<float>> embed(const std::vector<int32_t>& tokens) = 0;
  virtual EngineStats stats() const = 0;
};

}  // namespace llmchain::engine
