#pragma once
// LazyLLM: a LanguageModel built on first use. YAML chains declare local GGUF models that take
// seconds and gigabytes to load; listing chains, or serving the ones that do not use a model,
// must not pay for that. The first generate() (or supports_json_schema()) runs the builder;
// a failed build is reported to that caller and tried again by the next one.
#include <functional>
#include <mutex>
#include <string>

#include "chain/language_model.h"

namespace llmchain::chain {

class LazyLLM : public LanguageModel {
 public:
  using Builder = std::function<Expected<LanguageModelPtr>()>;

  // name: model_name() before and after the build (the YAML key).
  LazyLLM(std::string name, Builder build);

  std::string model_name() const override { return name_; }
  bool supports_json_schema() const override { return get()->supports_json_schema(); }

  bool loaded() const;
  // The model, built now if needed; throws the builder's Error.
  LanguageModelPtr get() const;

 protected:
  LlmResult do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                        const CancellationToken& cancel) override;

 private:
  std::string name_;
  Builder build_;
  mutable std::mutex mu_;  // held while building: concurrent first callers wait for one build
  mutable LanguageModelPtr model_;
};

}  // namespace llmchain::chain
