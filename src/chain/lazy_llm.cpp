#include "chain/lazy_llm.h"

namespace llmchain::chain {

LazyLLM::LazyLLM(std::string name, Builder build) : name_(std::move(name)), build_(std::move(build)) {}

bool LazyLLM::loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return model_ != nullptr;
}

LanguageModelPtr LazyLLM::get() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!model_) {
    auto built = build_();
    if (!built.ok()) throw built.error();
    model_ = std::move(*built);
  }
  return model_;
}

LlmResult LazyLLM::do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                               const CancellationToken& cancel) {
  LanguageModelPtr m = get();
  return on_token ? m->stream(input, params, on_token, cancel) : m->generate(input, params, cancel);
}

}  // namespace llmchain::chain
