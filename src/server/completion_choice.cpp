#include "server/completion_choice.h"

namespace llmchain::server {

using nlohmann::json;

ChoiceRenderer::ChoiceRenderer(const CompletionParams& p, const ChunkHeader& h, int index, std::string prompt_text)
    : p_(p), h_(h), index_(index), prompt_text_(std::move(prompt_text)) {
  if (!p.chat) return;
  // Tools: a forced call streams its arguments as they come; otherwise the filter holds back
  // what may be a call and the calls are sent at the end.
  direct_ = p.tools.direct_target();
  if (p.tools.any() && !direct_) filter_.emplace(p.tools);
}

std::vector<json> ChoiceRenderer::opening() {
  std::vector<json> out;
  if (p_.chat) {
    json role = {{"role", "assistant"}, {"content", direct_ ? json(nullptr) : json("")}};
    if (direct_) {
      ToolCall call;
      call.id = make_id("call_");
      call.name = direct_->name;
      role["tool_calls"] = json::array({call.to_delta(0)});
    }
    out.push_back(chat_chunk(h_, index_, role, nullptr, std::nullopt));
  } else if (p_.echo) {
    out.push_back(completion_chunk(h_, index_, prompt_text_, nullptr, std::nullopt));
    offset_ = prompt_text_.size();
  }
  return out;
}

std::optional<json> ChoiceRenderer::on_event(const engine::TokenEvent& ev) {
  const bool with_lp = p_.logprobs >= 0 && ev.chosen;
  const std::string text = filter_ ? filter_->feed(ev.text) : ev.text;
  if (text.empty() && !with_lp) return std::nullopt;
  const std::vector<engine::TokenEvent> one{ev};
  json chunk;
  if (p_.chat) {
    json delta = direct_ ? json{{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", text}}}}})}}
                         : json{{"content", text}};
    chunk = chat_chunk(h_, index_, delta, with_lp ? chat_logprobs(one) : json(nullptr), std::nullopt);
  } else {
    chunk =
        completion_chunk(h_, index_, text, with_lp ? completion_logprobs(one, offset_) : json(nullptr), std::nullopt);
  }
  offset_ += ev.text.size();
  return chunk;
}

std::vector<json> ChoiceRenderer::closing(const engine::GenerateResult& r) {
  std::vector<json> out;
  bool calls = direct_ != nullptr;
  if (filter_) {
    ToolOutput t = filter_->finish();
    if (!t.content.empty()) out.push_back(chat_chunk(h_, index_, {{"content", t.content}}, nullptr, std::nullopt));
    if (!t.calls.empty()) {
      json deltas = json::array();
      for (size_t c = 0; c < t.calls.size(); ++c) deltas.push_back(t.calls[c].to_delta(static_cast<int>(c)));
      out.push_back(chat_chunk(h_, index_, {{"tool_calls", deltas}}, nullptr, std::nullopt));
      calls = true;
    }
  }
  const std::string reason = finish_reason(r, calls);
  out.push_back(p_.chat ? chat_chunk(h_, index_, json::object(), nullptr, reason)
                        : completion_chunk(h_, index_, "", nullptr, reason));
  return out;
}

json ChoiceRenderer::whole(const engine::GenerateResult& r) const {
  if (!p_.chat) {
    const size_t offset = p_.echo ? prompt_text_.size() : 0;
    return {{"index", index_},
            {"text", p_.echo ? prompt_text_ + r.text : r.text},
            {"logprobs", p_.logprobs >= 0 ? completion_logprobs(r.logprobs, offset) : json(nullptr)},
            {"finish_reason", finish_reason(r, false)}};
  }
  json message = {{"role", "assistant"}, {"content", r.text}, {"refusal", nullptr}};
  bool calls = false;
  if (p_.tools.any()) {
    ToolOutput t = parse_tool_output(p_.tools, r.text);
    if (!t.calls.empty()) {
      message["content"] = t.content.empty() ? json(nullptr) : json(t.content);
      json list = json::array();
      for (const auto& c : t.calls) list.push_back(c.to_json());
      message["tool_calls"] = std::move(list);
      calls = true;
    }
  }
  return {{"index", index_},
          {"message", std::move(message)},
          {"logprobs", p_.logprobs >= 0 ? chat_logprobs(r.logprobs) : json(nullptr)},
          {"finish_reason", finish_reason(r, calls)}};
}

std::string ChoiceRenderer::finish_reason(const engine::GenerateResult& r, bool calls) const {
  std::string reason = openai_finish_reason(r.finish_reason);
  if (calls && reason == "stop") reason = p_.tools.calls_finish_reason();
  return reason;
}

}  // namespace llmchain::server
