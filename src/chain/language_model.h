#pragma once
// LanguageModel: what a chain calls to turn a prompt (text, or chat messages) into text.
// Implementations: LocalLLM (engine::Engine), OpenAIClient (remote HTTP), FakeLLM (tests).
// generate() throws llmchain::Error (see runnable.h for the module's error rule); it is
// thread-safe in every implementation here.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chain/message.h"
#include "chain/runnable.h"

namespace llmchain::chain {

// Per-call generation parameters; unset fields use the model's defaults. Bound per chain with
// LanguageModel::bind(params) and overridden per call (set fields of the later layer win).
struct LlmParams {
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> max_tokens;
  std::optional<std::vector<std::string>> stop;
  std::optional<uint64_t> seed;
  std::optional<Json> json_schema;  // constrain output to this JSON Schema when supported
  // OpenAI function calling: the tools array and tool_choice ("auto", "required", "none" or
  // {"type": "function", "function": {"name": ...}}). Calls come back in LlmResult::tool_calls.
  std::optional<Json> tools;
  std::optional<Json> tool_choice;

  // this, with the fields set in `over` replacing ours.
  LlmParams merged(const LlmParams& over) const;
  // Keys: temperature, top_p, max_tokens, stop (string or array), seed, json_schema, tools,
  // tool_choice (checked as OpenAI checks them).
  // Throws Error(kInvalidArgument) naming a bad key or type.
  static LlmParams from_json(const Json& j);
  Json to_json() const;
  // {"tools", "tool_choice"} as set (for engine::parse_tool_request and OpenAI requests).
  Json tool_json() const;
};

// A prompt: plain text, or chat messages (is_chat()).
struct LlmInput {
  std::string prompt;
  std::vector<Message> messages;
  bool chat = false;

  static LlmInput text(std::string p) { return {std::move(p), {}, false}; }
  static LlmInput from_messages(std::vector<Message> m) { return {{}, std::move(m), true}; }
  // A string, an array of messages, or {"prompt": ...} / {"messages": [...]}.
  static LlmInput from_json(const Json& j);
  bool is_chat() const { return chat; }
  // The prompt as text (messages joined as "role: content" lines); used for token counting and logs.
  std::string as_text() const;
};

// Why a model's reply ended, as OpenAI reports it.
enum class FinishReason {
  kStop,           // the model ended it, a stop string, or a constrained output completed
  kLength,         // max_tokens or the context
  kCancelled,      // the caller (a token callback returning false, a cancellation token)
  kToolCalls,      // the model called tools (LlmResult::tool_calls)
  kContentFilter,  // a remote model's provider withheld the rest
};
// "stop" | "length" | "cancelled" | "tool_calls" | "content_filter".
const char* to_string(FinishReason r);
// OpenAI's word for it; nullopt for one it does not have.
std::optional<FinishReason> finish_reason_from(std::string_view s);

struct LlmResult {
  std::string text;
  FinishReason finish_reason = FinishReason::kStop;
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  // The calls the model made when params.tools were given, in OpenAI's shape:
  // {"id", "type": "function", "function": {"name", "arguments": JSON text}}; text is then the
  // content outside the calls.
  std::vector<Json> tool_calls;
};

// Receives each generated text piece; return false to stop generation (FinishReason::kCancelled).
using TokenCallback = std::function<bool(const std::string& piece)>;

class LanguageModel : public std::enable_shared_from_this<LanguageModel> {
 public:
  virtual ~LanguageModel() = default;

  virtual std::string model_name() const = 0;
  // True when generate() honours params.json_schema (constrained decoding).
  virtual bool supports_json_schema() const { return false; }

  LlmResult generate(const LlmInput& input, const LlmParams& params = {},
                     const CancellationToken& cancel = CancellationToken()) {
    cancel.throw_if_cancelled();
    return do_generate(input, params, nullptr, cancel);
  }
  LlmResult stream(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                   const CancellationToken& cancel = CancellationToken()) {
    cancel.throw_if_cancelled();
    return do_generate(input, params, on_token, cancel);
  }

  // A Runnable over this model with params bound: input string | messages | {"prompt"|"messages"},
  // output the generated text (a string); streams text pieces.
  RunnablePtr bind(LlmParams params = {});

 protected:
  // on_token may be empty. Must poll cancel (and return or throw kCancelled when set).
  virtual LlmResult do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                                const CancellationToken& cancel) = 0;
};

using LanguageModelPtr = std::shared_ptr<LanguageModel>;

// The Runnable returned by LanguageModel::bind.
class BoundLlm : public Runnable {
 public:
  BoundLlm(LanguageModelPtr llm, LlmParams params);
  bool can_stream() const override { return true; }
  const char* run_type() const override { return "chat_model"; }
  Json input_schema() const override;
  Json output_schema() const override { return {{"type", "string"}}; }
  const LanguageModelPtr& model() const { return llm_; }
  const LlmParams& params() const { return params_; }
  // A copy with more params bound on top of these.
  std::shared_ptr<BoundLlm> bind(const LlmParams& more) const;

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override;
  Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) override;

 private:
  LanguageModelPtr llm_;
  LlmParams params_;
};

// Scripted model for tests and examples. Responses are returned in order (cycling when
// `cycle`, otherwise the last one repeats); a responder function can compute them instead.
// Records every call. Streaming splits a response into word pieces ("Hello", " world").
class FakeLLM : public LanguageModel {
 public:
  using Responder = std::function<std::string(const LlmInput&, const LlmParams&)>;
  struct Call {
    LlmInput input;
    LlmParams params;
  };

  explicit FakeLLM(std::vector<std::string> responses = {"ok"}, bool cycle = true);
  explicit FakeLLM(Responder responder);

  std::string model_name() const override { return name_; }
  bool supports_json_schema() const override { return json_schema_; }

  void set_model_name(std::string name) { name_ = std::move(name); }
  void set_supports_json_schema(bool v) { json_schema_ = v; }
  // The next n calls fail with code (before producing text).
  void fail_next(int n, ErrorCode code = ErrorCode::kUnavailable);
  // Sleeps this long per call (tests of concurrency and cancellation).
  void set_latency(std::chrono::milliseconds latency) { latency_ = latency; }

  std::vector<Call> calls() const;
  size_t call_count() const;
  const Call& last_call() const;  // valid while no other call runs

  static std::vector<std::string> split_pieces(const std::string& text);

 protected:
  LlmResult do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                        const CancellationToken& cancel) override;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> responses_;
  Responder responder_;
  bool cycle_ = true;
  size_t next_ = 0;
  int fail_remaining_ = 0;
  ErrorCode fail_code_ = ErrorCode::kUnavailable;
  std::chrono::milliseconds latency_{0};
  std::vector<Call> calls_;
  std::string name_ = "fake";
  bool json_schema_ = false;
};

}  // namespace llmchain::chain
