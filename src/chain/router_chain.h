#pragma once
// RouterChain: picks one destination chain per input, by a rule function or by asking a
// classifier model, and runs it on the same input; unmatched inputs go to the default chain.
#include <functional>
#include <string>
#include <vector>

#include "chain/llm_chain.h"

namespace llmchain::chain {

struct Destination {
  std::string name;
  std::string description;  // shown to the classifier model
  ChainPtr chain;
};

class RouterChain : public Chain {
 public:
  // Returns a destination name, or "" for the default.
  using Rule = std::function<std::string(const Json& input)>;

  RouterChain(std::vector<Destination> destinations, ChainPtr default_chain, Rule rule);
  // The classifier prompt may use {destinations} ("name: description" lines) and {input} (the
  // value of the router's first input key); the model's answer names a destination or DEFAULT.
  RouterChain(std::vector<Destination> destinations, ChainPtr default_chain, LanguageModelPtr classifier,
              std::string classifier_prompt = "", LlmParams params = {});

  static const char* default_classifier_prompt();

  std::vector<std::string> input_keys() const override { return default_->input_keys(); }
  std::vector<std::string> output_keys() const override { return default_->output_keys(); }
  Json output_key_schema(const std::string& key) const override { return default_->output_key_schema(key); }
  bool can_stream() const override { return true; }

  // The destination name chosen for input ("" for the default). Runs the classifier if any.
  std::string route(const Json& input, const RunConfig& config = {}) const;
  const std::vector<Destination>& destinations() const { return destinations_; }

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override { return call(input, nullptr, config); }
  Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) override {
    return call(input, on_chunk, config);
  }

 private:
  void check() const;
  Json call(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config);
  // Matches a classifier answer to a destination name ("" when none matches).
  std::string match_answer(const std::string& answer) const;

  std::vector<Destination> destinations_;
  ChainPtr default_;
  Rule rule_;
  LanguageModelPtr classifier_;
  std::shared_ptr<PromptTemplate> classifier_prompt_;
  LlmParams params_;
};

}  // namespace llmchain::chain
