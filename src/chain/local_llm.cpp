#include "chain/local_llm.h"

namespace llmchain::chain {

LocalLLM::LocalLLM(std::shared_ptr<engine::Engine> engine, LocalLLMOptions options)
    : engine_(std::move(engine)), options_(std::move(options)) {}

// A shared_ptr that owns nothing: the caller keeps the engine alive.
LocalLLM::LocalLLM(engine::Engine& engine, LocalLLMOptions options)
    : LocalLLM(std::shared_ptr<engine::Engine>(std::shared_ptr<engine::Engine>(), &engine), std::move(options)) {}

std::string LocalLLM::model_name() const { return options_.name.empty() ? engine_->info().name : options_.name; }

engine::GenerateRequest LocalLLM::build_request(const LlmInput& input, const LlmParams& params) const {
  std::string text;
  bool parse_special = false;
  if (input.is_chat()) {
    std::vector<engine::ChatMessage> msgs;
    msgs.reserve(input.messages.size());
    for (const auto& m : input.messages) msgs.push_back({m.role, m.content});
    auto rendered = engine_->apply_chat_template(msgs, /*add_generation_prompt=*/true, options_.chat_template);
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
  return req;
}

LlmResult LocalLLM::do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                                const CancellationToken& cancel) {
  engine::GenerateRequest req = build_request(input, params);
  std::unique_ptr<GenerationObserver> observer = options_.observe ? options_.observe() : nullptr;
  bool stopped_by_caller = false;
  auto res = engine_->generate(req, [&](const engine::TokenEvent& ev) {
    if (observer) observer->on_token();
    if (cancel.cancelled()) return false;
    if (on_token && !ev.text.empty() && !on_token(ev.text)) {
      stopped_by_caller = true;
      return false;
    }
    return true;
  });
  if (observer) observer->on_finish(res.ok(), res.ok() ? res->prompt_tokens : 0, res.ok() ? res->completion_tokens : 0);
  if (!res.ok()) {
    if (res.error().code() == ErrorCode::kCancelled && stopped_by_caller && !cancel.cancelled()) {
      return LlmResult{"", "cancelled", 0, 0};
    }
    throw res.error();
  }
  cancel.throw_if_cancelled();
  LlmResult r;
  r.text = std::move(res->text);
  r.finish_reason = stopped_by_caller ? "cancelled" : engine::to_string(res->finish_reason);
  r.prompt_tokens = res->prompt_tokens;
  r.completion_tokens = res->completion_tokens;
  return r;
}

}  // namespace llmchain::chain
