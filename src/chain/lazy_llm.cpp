#include "chain/lazy_llm.h"

namespace llmchain::chain {

LazyLLM::LazyLLM(std::string name, Builder build) : name_(std::move(name)), model_(std::move(build)) {}

LlmResult LazyLLM::do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                               const CancellationToken& cancel) {
  LanguageModelPtr m = get();
  return on_token ? m->stream(input, params, on_token, cancel) : m->generate(input, params, cancel);
}

}  // namespace llmchain::chain
