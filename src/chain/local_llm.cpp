#include "chain/local_llm.h"

#include <optional>

namespace llmchain::chain {

LocalLLM::LocalLLM(std::shared_ptr<engine::Engine> engine, LocalLLMOptions options)
    : engine_(std::move(engine)), options_(std::move(options)) {}

// A shared_ptr that owns nothing: the caller keeps the engine alive.
LocalLLM::LocalLLM(engine::Engine& engine, LocalLLMOptions options)
    : LocalLLM(std::shared_ptr<engine::Engine>(std::shared_ptr<engine::Engine>(), &engine), std::move(options)) {}

std::string LocalLLM::model_name() const { return options_.name.empty() ? engine_->info().name : options_.name; }

engine::GenerateRequest LocalLLM::build_request(const LlmInput& input, const LlmParams& params) const {
  engine::ToolRequest tools;
  return build_request(input, params, tools);
}

engine::GenerateRequest LocalLLM::build_request(const LlmInput& input, const LlmParams& params,
                                                engine::ToolRequest& tools) const {
  if (params.tools || params.tool_choice) {
    auto parsed = engine::parse_tool_request(params.tool_json());
    if (!parsed.ok()) throw parsed.error();
    tools = std::move(*parsed);
    if (tools.any() && !input.is_chat()) {
      fail(ErrorCode::kInvalidArgument,
           "tools need a chat prompt (messages): the chat template shows them to the model");
    }
  }
  std::string text;
  bool parse_special = false;
  if (input.is_chat()) {
    std::vector<engine::ChatMessage> msgs;
    msgs.reserve(input.messages.size());
    for (const auto& m : input.messages) {
      engine::ChatMessage cm{m.role, m.content};
      // A call the model made and the tool's answer to it, for templates that show them.
      if (!m.tool_calls.is_null()) cm.extra["tool_calls"] = m.tool_calls;
      if (!m.tool_call_id.empty()) cm.extra["tool_call_id"] = m.tool_call_id;
      if (!m.name.empty()) cm.extra["name"] = m.name;
      msgs.push_back(std::move(cm));
    }
    // The chat template shows the tools to the model in the format it was trained on.
    auto rendered = engine_->apply_chat_template(msgs, /*add_generation_prompt=*/true, options_.chat_template,
                                                 tools.any() ? tools.tools : nlohmann::json(nullptr));
    if (!rendered.ok()) throw rendered.error();
    text = std::move(*rendered);
    parse_special = true;  // the template's control tokens are real special tokens
  } else {
    text = input.prompt;
  }
  auto tokens = engine_->tokenize(text, /*add_special=*/true, parse_special);
  if (!tokens.ok()) throw tokens.error();

  engine::GenerateRequest req;
  req.prompt = std::move(*tokens);
  req.sampling = options_.sampling;
  req.max_tokens = params.max_tokens ? *params.max_tokens : options_.max_tokens;
  if (params.temperature) req.sampling.temperature = *params.temperature;
  if (params.top_p) req.sampling.top_p = *params.top_p;
  if (params.seed) req.sampling.seed = *params.seed;
  if (params.stop) req.stop = *params.stop;
  if (params.json_schema) req.constraint.json_schema = *params.json_schema;
  // A call that must be made (tool_choice "required" or a named function) is constrained to a
  // valid call for the tools' parameter schemas; it replaces json_schema.
  if (tools.mode == engine::ToolMode::kRequired || tools.mode == engine::ToolMode::kNamed) {
    req.constraint = engine::tool_constraint(tools);
  }
  return req;
}

LlmResult LocalLLM::do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                                const CancellationToken& cancel) {
  engine::ToolRequest tools;
  engine::GenerateRequest req = build_request(input, params, tools);
  // Cancelling the run stops the sequence wherever it is (queued, prefilling, generating), not
  // only at its next token.
  req.cancel = cancel.token();
  // kAuto: text that may be a call is held back until it is known not to be one; a forced call
  // is the whole reply, so nothing of it is text.
  std::optional<engine::ToolStreamFilter> filter;
  if (tools.mode == engine::ToolMode::kAuto) filter.emplace(tools);
  const bool forced = tools.any() && !filter;
  std::unique_ptr<GenerationObserver> observer = options_.observe ? options_.observe() : nullptr;
  bool stopped_by_caller = false;
  auto res = engine_->generate(req, [&](const engine::TokenEvent& ev) {
    if (observer) observer->on_token();
    if (cancel.cancelled()) return false;
    if (forced) return true;
    std::string piece = filter ? filter->feed(ev.text) : ev.text;
    if (on_token && !piece.empty() && !on_token(piece)) {
      stopped_by_caller = true;
      return false;
    }
    return true;
  });
  if (observer) observer->on_finish(res.ok(), res.ok() ? res->prompt_tokens : 0, res.ok() ? res->completion_tokens : 0);
  if (!res.ok()) {
    if (res.error().code() == ErrorCode::kCancelled && stopped_by_caller && !cancel.cancelled()) {
      return LlmResult{"", FinishReason::kCancelled, 0, 0, {}};
    }
    throw res.error();
  }
  cancel.throw_if_cancelled();
  LlmResult r;
  r.text = std::move(res->text);
  r.finish_reason = FinishReason::kCancelled;
  if (!stopped_by_caller) {
    switch (res->finish_reason) {
      case engine::FinishReason::kStop: r.finish_reason = FinishReason::kStop; break;
      case engine::FinishReason::kLength: r.finish_reason = FinishReason::kLength; break;
      case engine::FinishReason::kCancelled: r.finish_reason = FinishReason::kCancelled; break;
    }
  }
  r.prompt_tokens = res->prompt_tokens;
  r.completion_tokens = res->completion_tokens;
  if (tools.any() && !stopped_by_caller) {
    if (filter) {
      // The text held back as a possible call that turned out to be content.
      auto rest = filter->finish();
      if (on_token && !rest.content.empty()) on_token(rest.content);
    }
    engine::ToolOutput out = engine::parse_tool_output(tools, r.text);
    if (!out.calls.empty()) {
      r.text = std::move(out.content);
      for (const auto& c : out.calls) r.tool_calls.push_back(c.to_json());
      r.finish_reason = FinishReason::kToolCalls;
    }
  }
  return r;
}

}  // namespace llmchain::chain
