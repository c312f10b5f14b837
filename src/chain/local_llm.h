#pragma once
// LocalLLM: a LanguageModel over an in-process engine::Engine (the GGUF inference engine).
// Chat messages are rendered with the model's chat template (Engine::apply_chat_template);
// plain prompts are tokenized as they are. json_schema params become a sampling constraint.
// The engine must outlive this object; Engine is thread-safe, and so is this.
#include <string>

#include "chain/language_model.h"
#include "engine/engine.h"

namespace llmchain::chain {

struct LocalLLMOptions {
  sampling::SamplingParams sampling;  // defaults under the per-call params
  int32_t max_tokens = 512;           // when a call sets none
  std::string chat_template;          // built-in template name; "" = the model's own
  std::string name;                   // model_name(); "" = engine info().name
};

class LocalLLM : public LanguageModel {
 public:
  explicit LocalLLM(engine::Engine& engine, LocalLLMOptions options = {});
  std::string model_name() const override;
  bool supports_json_schema() const override { return true; }

  // The request that generate() sends for input (exposed for tests).
  engine::GenerateRequest build_request(const LlmInput& input, const LlmParams& params) const;

 protected:
  LlmResult do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                        const CancellationToken& cancel) override;

 private:
  engine::Engine& engine_;
  LocalLLMOptions options_;
};

}  // namespace llmchain::chain
