#pragma once
// LocalLLM: a LanguageModel over an in-process engine::Engine (the GGUF inference engine).
// Chat messages are rendered with the model's chat template (Engine::apply_chat_template);
// plain prompts are tokenized as they are. json_schema params become a sampling constraint;
// tools are shown through the chat template and the calls the model writes (in its family's
// format, engine/tool_calls.h) come back as LlmResult::tool_calls, as from an OpenAI endpoint.
// The engine is shared: every LocalLLM over it (and whoever else holds it) keeps it alive.
// Engine is thread-safe, and so is this.
#include <memory>
#include <string>

#include "chain/generation_observer.h"
#include "chain/language_model.h"
#include "engine/engine.h"
#include "engine/tool_calls.h"

namespace llmchain::chain {

struct LocalLLMOptions {
  sampling::SamplingParams sampling;  // defaults under the per-call params
  int32_t max_tokens = 512;           // when a call sets none
  std::string chat_template;          // built-in template name; "" = the model's own
  std::string name;                   // model_name(); "" = engine info().name
  GenerationObserverFactory observe;  // watches each engine call (e.g. server metrics); null: none
};

class LocalLLM : public LanguageModel {
 public:
  explicit LocalLLM(std::shared_ptr<engine::Engine> engine, LocalLLMOptions options = {});
  // Over an engine owned elsewhere, which must outlive this object.
  explicit LocalLLM(engine::Engine& engine, LocalLLMOptions options = {});
  std::string model_name() const override;
  bool supports_json_schema() const override { return true; }

  // The request that generate() sends for input (exposed for tests).
  engine::GenerateRequest build_request(const LlmInput& input, const LlmParams& params) const;

 protected:
  LlmResult do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                        const CancellationToken& cancel) override;

 private:
  // The same, with the params' tools read into `tools` (shown to the model by its chat template).
  engine::GenerateRequest build_request(const LlmInput& input, const LlmParams& params,
                                        engine::ToolRequest& tools) const;

  std::shared_ptr<engine::Engine> engine_;
  LocalLLMOptions options_;
};

}  // namespace llmchain::chain
