#include "chain/llm_chain.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <set>

namespace llmchain::chain {

// ---- Chain ----

Json Chain::input_schema() const {
  Json props = Json::object();
  for (const auto& k : input_keys()) props[k] = variable_schema(k);
  return {{"type", "object"}, {"properties", props}, {"required", input_keys()}};
}

Json Chain::output_schema() const {
  Json props = Json::object();
  for (const auto& k : output_keys()) props[k] = output_key_schema(k);
  return {{"type", "object"}, {"properties", props}, {"required", output_keys()}};
}

Json Chain::run(const Json& input, const RunConfig& config) {
  auto keys = output_keys();
  if (keys.size() != 1) {
    fail(ErrorCode::kInvalidArgument, "{}: run() needs exactly one output key, this chain has {}", name(), keys.size());
  }
  return invoke(input, config).at(keys[0]);
}

Json Chain::normalize_input(const Json& input) const {
  if (input.is_object()) return input;
  auto keys = input_keys();
  if (keys.size() == 1) return Json{{keys[0], input}};
  fail(ErrorCode::kInvalidArgument, "{}: expected an object with keys ({}), got {}", name(), fmt::join(keys, ", "),
       input.type_name());
}

void Chain::check_inputs(const Json& input) const {
  for (const auto& k : input_keys()) {
    if (!input.contains(k)) fail(ErrorCode::kInvalidArgument, "{}: missing input variable '{}'", name(), k);
  }
}

Json Chain::finish(const Json& input, Json outputs) const {
  if (return_only_outputs_) return outputs;
  Json out = input;
  for (auto it = outputs.begin(); it != outputs.end(); ++it) out[it.key()] = std::move(it.value());
  return out;
}

// ---- LLMChain ----

namespace {
constexpr const char* kFormatInstructions = "format_instructions";
}

LLMChain::LLMChain(LanguageModelPtr llm, std::shared_ptr<BasePromptTemplate> prompt, std::string output_key,
                   LLMChainOptions options)
    : Chain("llm_chain"),
      llm_(std::move(llm)),
      prompt_(std::move(prompt)),
      output_key_(std::move(output_key)),
      options_(std::move(options)) {
  if (!llm_) fail(ErrorCode::kInvalidArgument, "llm chain: no model");
  if (!prompt_) fail(ErrorCode::kInvalidArgument, "llm chain: no prompt");
  if (output_key_.empty()) fail(ErrorCode::kInvalidArgument, "llm chain: empty output key");
  if (options_.parse_retries < 0) fail(ErrorCode::kInvalidArgument, "llm chain: parse_retries must be >= 0");
  std::string memory_key = options_.memory ? options_.memory->options().memory_key : "";
  for (const auto& v : prompt_->input_variables()) {
    if (v == kFormatInstructions) {
      wants_format_instructions_ = true;
    } else if (v != memory_key) {
      input_keys_.push_back(v);
    }
  }
  if (std::find(input_keys_.begin(), input_keys_.end(), output_key_) != input_keys_.end()) {
    fail(ErrorCode::kInvalidArgument, "llm chain: output key '{}' is also an input variable", output_key_);
  }
  if (options_.memory) {
    memory_input_key_ = options_.memory->options().input_key;
    if (memory_input_key_.empty()) {
      if (input_keys_.size() != 1) {
        fail(ErrorCode::kInvalidArgument,
             "llm chain: memory needs input_key when the prompt has {} input variables ({})", input_keys_.size(),
             fmt::join(input_keys_, ", "));
      }
      memory_input_key_ = input_keys_[0];
    } else if (std::find(input_keys_.begin(), input_keys_.end(), memory_input_key_) == input_keys_.end()) {
      fail(ErrorCode::kInvalidArgument, "llm chain: memory input_key '{}' is not a prompt variable", memory_input_key_);
    }
  }
}

Json LLMChain::output_key_schema(const std::string&) const {
  return options_.parser ? options_.parser->output_schema() : Json{{"type", "string"}};
}

Json LLMChain::call(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  Json in = normalize_input(input);
  check_inputs(in);
  Json vars = in;
  GuardEventLog* events = config.guard_events.get();
  for (const auto& k : input_keys_) {
    vars[k] = apply_guards(options_.input_guards, vars[k], GuardStage::kInput, events);
  }
  if (options_.memory) {
    const auto& key = options_.memory->options().memory_key;
    if (!vars.contains(key)) {
      vars[key] = prompt_->is_chat() ? messages_to_json(options_.memory->history(config.session_id))
                                     : Json(options_.memory->history_text(config.session_id));
    }
  }
  const auto& parser = options_.parser;
  if (wants_format_instructions_ && !vars.contains(kFormatInstructions)) {
    vars[kFormatInstructions] = parser ? parser->format_instructions() : "";
  }
  RunScope prompt_run(config, prompt_->name(), "prompt", vars);
  Json prompt_value = prompt_->format_prompt(vars);
  prompt_run.end(prompt_value);
  LlmInput llm_in = LlmInput::from_json(prompt_value);
  LlmParams params = options_.params;
  if (parser && !params.json_schema && llm_->supports_json_schema()) {
    if (auto schema = parser->constraint_schema()) params.json_schema = *schema;
  }
  // Output guards see the whole text before anyone does, so with output guards the text is
  // emitted once, after them, instead of token by token.
  bool stream_tokens = on_chunk && options_.output_guards.empty();

  // Streamed chunks have the type of the output: the parser turns the model's pieces into its
  // own chunks (text pieces, partial JSON values, list items; others: the value at the end).
  static const StrOutputParser kText;
  const OutputParser& streamer = parser ? *parser : static_cast<const OutputParser&>(kText);
  OutputParser::StreamState stream_state;

  std::string text;
  Json value;
  bool called_tools = false;
  for (int attempt = 0;; ++attempt) {
    config.cancel.throw_if_cancelled();
    LlmResult r;
    {
      RunScope model_run(config, llm_->model_name(), llm_in.is_chat() ? "chat_model" : "llm", prompt_value);
      try {
        std::string so_far;
        if (stream_tokens || model_run.active()) {
          r = llm_->stream(
              llm_in, params,
              [&](const std::string& piece) {
                if (config.cancel.cancelled()) return false;
                if (piece.empty()) return true;
                model_run.stream(Json(piece));
                if (stream_tokens) {
                  so_far += piece;
                  streamer.stream_chunks(stream_state, so_far, piece, nullptr, on_chunk);
                }
                return true;
              },
              config.cancel);
        } else {
          r = llm_->generate(llm_in, params, config.cancel);
        }
        model_run.end(Json(r.text));
      } catch (const Error& e) {
        model_run.fail(e.message());
        throw;
      }
    }
    if (r.finish_reason == FinishReason::kCancelled) config.cancel.throw_if_cancelled();
    text = apply_guards(options_.output_guards, Json(r.text), GuardStage::kOutput, events).get<std::string>();
    if (!r.tool_calls.empty()) {
      // The model called tools (params.tools): the output is the message, as OpenAI's
      // {"content", "tool_calls"}, for the caller to run them; no parser applies.
      value = Json{{"content", text}, {"tool_calls", r.tool_calls}};
      called_tools = true;
      break;
    }
    if (!parser) {
      value = text;
      break;
    }
    RunScope parser_run(config, parser->name(), "parser", Json(text));
    try {
      value = parser->parse(text);
      parser_run.end(value);
      break;
    } catch (const Error& e) {
      parser_run.fail(e.message());
      if (e.code() == ErrorCode::kCancelled || attempt >= options_.parse_retries) throw;
      std::string note =
          fmt::format("Your previous answer could not be used ({}). {}", e.message(), parser->format_instructions());
      if (llm_in.is_chat()) {
        llm_in.messages.push_back({"assistant", text});
        llm_in.messages.push_back({"user", note});
      } else {
        llm_in.prompt += "\n\nPrevious answer:\n" + text + "\n\n" + note + "\n";
      }
    }
  }
  if (on_chunk) {
    if (called_tools) {
      // Streamed, the content before the calls went out as text pieces; behind output guards, the
      // whole message goes out once.
      on_chunk(stream_tokens ? Json{{"tool_calls", value["tool_calls"]}} : value);
    } else if (stream_tokens) {
      streamer.stream_chunks(stream_state, text, "", &value, on_chunk);  // the rest, at the end
    } else {
      on_chunk(value);  // behind output guards: the value once
    }
  }
  if (options_.memory) {
    // the guarded (e.g. redacted) input is what gets stored
    options_.memory->save_turn(config.session_id, value_to_prompt_text(vars[memory_input_key_]), text);
  }
  return finish(in, Json{{output_key_, std::move(value)}});
}

// ---- SimpleSequentialChain ----

SimpleSequentialChain::SimpleSequentialChain(std::vector<ChainPtr> steps)
    : Chain("simple_sequential_chain"), steps_(std::move(steps)) {
  if (steps_.empty()) fail(ErrorCode::kInvalidArgument, "simple sequential chain: no steps");
  for (size_t i = 0; i < steps_.size(); ++i) {
    const auto& s = steps_[i];
    if (!s) fail(ErrorCode::kInvalidArgument, "simple sequential chain: step {} is null", i + 1);
    auto in = s->input_keys(), out = s->output_keys();
    if (in.size() != 1 || out.size() != 1) {
      fail(ErrorCode::kInvalidArgument,
           "simple sequential chain: step {} ('{}') has {} input(s) ({}) and {} output(s) ({}); each step needs "
           "exactly one of each",
           i + 1, s->name(), in.size(), fmt::join(in, ", "), out.size(), fmt::join(out, ", "));
    }
  }
}

Json SimpleSequentialChain::output_key_schema(const std::string&) const {
  return steps_.back()->output_key_schema(steps_.back()->output_keys()[0]);
}

Json SimpleSequentialChain::call(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  Json in = normalize_input(input);
  check_inputs(in);
  Json x = in["input"];
  for (size_t i = 0; i < steps_.size(); ++i) {
    const auto& s = steps_[i];
    Json step_in = {{s->input_keys()[0], x}};
    Json r = (on_chunk && i + 1 == steps_.size()) ? s->stream(step_in, on_chunk, config) : s->invoke(step_in, config);
    x = r.at(s->output_keys()[0]);
  }
  return finish(in, Json{{"output", std::move(x)}});
}

// ---- SequentialChain ----

std::optional<SequentialChain::Problem> SequentialChain::validate(const std::vector<ChainPtr>& steps,
                                                                  const std::vector<std::string>& inputs,
                                                                  const std::vector<std::string>& outputs) {
  std::set<std::string> known(inputs.begin(), inputs.end());
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!steps[i]) return Problem{i, fmt::format("step {} is null", i + 1)};
    for (const auto& k : steps[i]->input_keys()) {
      if (!known.count(k)) {
        return Problem{i, fmt::format("step {} ('{}') needs variable '{}', which neither the chain inputs ({}) nor an "
                                      "earlier step provides",
                                      i + 1, steps[i]->name(), k, fmt::join(inputs, ", "))};
      }
    }
    for (const auto& k : steps[i]->output_keys()) {
      if (known.count(k)) {
        return Problem{i, fmt::format("step {} ('{}') outputs '{}', which is already a chain input or an earlier "
                                      "step's output",
                                      i + 1, steps[i]->name(), k)};
      }
      known.insert(k);
    }
  }
  for (const auto& k : outputs) {
    if (!known.count(k)) {
      return Problem{steps.size(), fmt::format("output variable '{}' is produced by no step", k)};
    }
  }
  return std::nullopt;
}

SequentialChain::SequentialChain(std::vector<ChainPtr> steps, std::vector<std::string> input_variables,
                                 std::vector<std::string> output_variables)
    : Chain("sequential_chain"), steps_(std::move(steps)), inputs_(std::move(input_variables)) {
  if (steps_.empty()) fail(ErrorCode::kInvalidArgument, "sequential chain: no steps");
  outputs_ = output_variables.empty() && steps_.back() ? steps_.back()->output_keys() : std::move(output_variables);
  if (auto p = validate(steps_, inputs_, outputs_))
    fail(ErrorCode::kInvalidArgument, "sequential chain: {}", p->message);
}

Json SequentialChain::output_key_schema(const std::string& key) const {
  for (const auto& s : steps_) {
    auto keys = s->output_keys();
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) return s->output_key_schema(key);
  }
  return Json::object();
}

Json SequentialChain::call(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  Json in = normalize_input(input);
  check_inputs(in);
  Json vars = in;
  // With several outputs the chain's value is an object, so its chunks are objects too (as
  // LangChain streams a dict): {"key": value} once an earlier step's output is known, and
  // {"key": piece} while the last step streams; merged per key they make the output.
  const bool keyed = on_chunk && outputs_.size() > 1;
  auto is_output = [&](const std::string& k) {
    return std::find(outputs_.begin(), outputs_.end(), k) != outputs_.end();
  };
  for (size_t i = 0; i < steps_.size(); ++i) {
    const auto& s = steps_[i];
    const bool last = i + 1 == steps_.size();
    Json r;
    if (on_chunk && last) {
      auto keys = s->output_keys();
      if (!keyed) {
        r = s->stream(vars, on_chunk, config);
      } else if (keys.size() == 1 && is_output(keys[0])) {
        r = s->stream(
            vars,
            [&](const Json& c) {
              on_chunk(Json{{keys[0], c}});
            },
            config);
      } else {
        r = s->invoke(vars, config);
        for (const auto& k : keys)
          if (is_output(k)) on_chunk(Json{{k, r.at(k)}});
      }
    } else {
      r = s->invoke(vars, config);
      if (keyed) {
        for (const auto& k : s->output_keys())
          if (is_output(k)) on_chunk(Json{{k, r.at(k)}});
      }
    }
    for (const auto& k : s->output_keys()) vars[k] = r.at(k);
  }
  Json outputs = Json::object();
  for (const auto& k : outputs_) outputs[k] = vars[k];
  return finish(in, std::move(outputs));
}

// ---- RunnableChain ----

RunnableChain::RunnableChain(RunnablePtr inner, std::string input_key, std::string output_key)
    : Chain("runnable_chain"), inner_(std::move(inner)), in_(std::move(input_key)), out_(std::move(output_key)) {
  if (!inner_) fail(ErrorCode::kInvalidArgument, "runnable chain: null runnable");
}

Json RunnableChain::do_invoke(const Json& input, const RunConfig& config) {
  Json in = normalize_input(input);
  check_inputs(in);
  return finish(in, Json{{out_, inner_->invoke(in[in_], config)}});
}

Json RunnableChain::do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  Json in = normalize_input(input);
  check_inputs(in);
  return finish(in, Json{{out_, inner_->stream(in[in_], on_chunk, config)}});
}

}  // namespace llmchain::chain
