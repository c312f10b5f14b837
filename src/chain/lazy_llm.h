#pragma once
// LazyLLM: a LanguageModel built on first use. YAML chains declare local GGUF models that take
// seconds and gigabytes to load; listing chains, or serving the ones that do not use a model,
// must not pay for that. The first generate() (or supports_json_schema()) runs the builder;
// a failed build is reported to that caller and tried again by the next one.
#include <functional>
#include <string>

#include "base/lazy.h"
#include "chain/language_model.h"

namespace llmchain::chain {

class LazyLLM : public LanguageModel {
 public:
  using Builder = std::function<Expected<LanguageModelPtr>()>;

  // name: model_name() before and after the build (the YAML key).
  LazyLLM(std::string name, Builder build);

  std::string model_name() const override { return name_; }
  bool supports_json_schema() const override { return get()->supports_json_schema(); }

  bool loaded() const { return model_.ready(); }
  // The model, built now if needed; throws the builder's Error.
  LanguageModelPtr get() const { return model_.get(); }

 protected:
  LlmResult do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                        const CancellationToken& cancel) override;

 private:
  std::string name_;
  Lazy<LanguageModelPtr> model_;
};

}  // namespace llmchain::chain
