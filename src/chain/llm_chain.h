#pragma once
// Classic chains: object in, object out. LLMChain (prompt -> model -> parser, with optional
// memory and guards), SimpleSequentialChain (each step's only output is the next step's only
// input) and SequentialChain (named variables flow between steps; checked at construction).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chain/guards.h"
#include "chain/language_model.h"
#include "chain/memory.h"
#include "chain/output_parser.h"
#include "chain/prompt_template.h"

namespace llmchain::chain {

// A Runnable whose input is an object with input_keys() and whose output is the input object
// plus output_keys() (only the outputs with return_only_outputs). A bare (non-object) input is
// accepted when there is exactly one input key.
class Chain : public Runnable {
 public:
  virtual std::vector<std::string> input_keys() const = 0;
  virtual std::vector<std::string> output_keys() const = 0;
  Json input_schema() const override;
  Json output_schema() const override;
  // Schema of one output key's value ({} when unknown).
  virtual Json output_key_schema(const std::string& key) const { return Json::object(); }

  // The value of the single output key (throws when there are several).
  Json run(const Json& input, const RunConfig& config = {});

  void set_return_only_outputs(bool v) { return_only_outputs_ = v; }
  bool return_only_outputs() const { return return_only_outputs_; }

 protected:
  using Runnable::Runnable;
  Json normalize_input(const Json& input) const;
  // Checks every input key is present; throws naming the first missing one.
  void check_inputs(const Json& input) const;
  Json finish(const Json& input, Json outputs) const;

 private:
  bool return_only_outputs_ = false;
};

using ChainPtr = std::shared_ptr<Chain>;

struct LLMChainOptions {
  LlmParams params;                     // bound to every call of this chain
  OutputParserPtr parser;               // default: the raw text
  ConversationMemoryPtr memory;         // history under memory->options().memory_key, saved per session
  std::vector<GuardPtr> input_guards;   // on every string input value, before the prompt is rendered
  std::vector<GuardPtr> output_guards;  // on the model's text, before parsing
  int parse_retries = 2;  // extra model calls when the parser rejects the output (not with constrained decoding)
};

class LLMChain : public Chain {
 public:
  LLMChain(LanguageModelPtr llm, std::shared_ptr<BasePromptTemplate> prompt, std::string output_key = "text",
           LLMChainOptions options = {});

  std::vector<std::string> input_keys() const override { return input_keys_; }
  std::vector<std::string> output_keys() const override { return {output_key_}; }
  Json output_key_schema(const std::string& key) const override;
  // Token streaming, except with output guards (then the guarded text is emitted once).
  bool can_stream() const override { return options_.output_guards.empty(); }

  const LanguageModelPtr& llm() const { return llm_; }
  const std::shared_ptr<BasePromptTemplate>& prompt() const { return prompt_; }
  const LLMChainOptions& options() const { return options_; }
  const std::string& output_key() const { return output_key_; }

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override { return call(input, nullptr, config); }
  Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) override {
    return call(input, on_chunk, config);
  }

 private:
  Json call(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config);

  LanguageModelPtr llm_;
  std::shared_ptr<BasePromptTemplate> prompt_;
  std::string output_key_;
  LLMChainOptions options_;
  std::vector<std::string> input_keys_;
  std::string memory_input_key_;
  bool wants_format_instructions_ = false;
};

// Steps with exactly one input and one output each; the output of one is the input of the next.
// Input key "input", output key "output".
class SimpleSequentialChain : public Chain {
 public:
  explicit SimpleSequentialChain(std::vector<ChainPtr> steps);
  std::vector<std::string> input_keys() const override { return {"input"}; }
  std::vector<std::string> output_keys() const override { return {"output"}; }
  Json output_key_schema(const std::string&) const override;
  bool can_stream() const override { return steps_.back()->can_stream(); }

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override { return call(input, nullptr, config); }
  Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) override {
    return call(input, on_chunk, config);
  }

 private:
  Json call(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config);
  std::vector<ChainPtr> steps_;
};

// Steps read named variables from the chain inputs and earlier steps' outputs. Construction
// throws Error(kInvalidArgument) naming the step and the variable when a step needs a variable
// nobody produces, when two steps produce the same one, or when an output variable is never made.
class SequentialChain : public Chain {
 public:
  // output_variables empty: the last step's outputs.
  SequentialChain(std::vector<ChainPtr> steps, std::vector<std::string> input_variables,
                  std::vector<std::string> output_variables = {});

  struct Problem {
    size_t step;  // index of the step at fault; steps.size() for an output variable problem
    std::string message;
  };
  // The check the constructor runs; nullopt when the wiring is sound.
  static std::optional<Problem> validate(const std::vector<ChainPtr>& steps, const std::vector<std::string>& inputs,
                                         const std::vector<std::string>& outputs);

  std::vector<std::string> input_keys() const override { return inputs_; }
  std::vector<std::string> output_keys() const override { return outputs_; }
  Json output_key_schema(const std::string& key) const override;
  bool can_stream() const override { return steps_.back()->can_stream(); }
  const std::vector<ChainPtr>& steps() const { return steps_; }

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override { return call(input, nullptr, config); }
  Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) override {
    return call(input, on_chunk, config);
  }

 private:
  Json call(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config);
  std::vector<ChainPtr> steps_;
  std::vector<std::string> inputs_, outputs_;
};

// Wraps any Runnable as a Chain with one input key and one output key (for use as a step).
class RunnableChain : public Chain {
 public:
  RunnableChain(RunnablePtr inner, std::string input_key, std::string output_key);
  std::vector<std::string> input_keys() const override { return {in_}; }
  std::vector<std::string> output_keys() const override { return {out_}; }
  bool can_stream() const override { return inner_->can_stream(); }

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override;
  Json do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) override;

 private:
  RunnablePtr inner_;
  std::string in_, out_;
};

}  // namespace llmchain::chain
