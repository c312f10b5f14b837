#include "chain/language_model.h"

#include <thread>

#include "base/json_util.h"
#include "engine/tool_calls.h"

namespace llmchain::chain {

// ---- FinishReason ----

const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kToolCalls: return "tool_calls";
    case FinishReason::kContentFilter: return "content_filter";
  }
  return "stop";
}

std::optional<FinishReason> finish_reason_from(std::string_view s) {
  for (auto r : {FinishReason::kStop, FinishReason::kLength, FinishReason::kCancelled, FinishReason::kToolCalls,
                 FinishReason::kContentFilter}) {
    if (s == to_string(r)) return r;
  }
  if (s == "function_call") return FinishReason::kToolCalls;  // OpenAI's deprecated name
  return std::nullopt;
}

// ---- LlmParams ----

LlmParams LlmParams::merged(const LlmParams& over) const {
  LlmParams out = *this;
  if (over.temperature) out.temperature = over.temperature;
  if (over.top_p) out.top_p = over.top_p;
  if (over.max_tokens) out.max_tokens = over.max_tokens;
  if (over.stop) out.stop = over.stop;
  if (over.seed) out.seed = over.seed;
  if (over.json_schema) out.json_schema = over.json_schema;
  if (over.tools) out.tools = over.tools;
  if (over.tool_choice) out.tool_choice = over.tool_choice;
  return out;
}

LlmParams LlmParams::from_json(const Json& j) {
  LlmParams p;
  if (j.is_null()) return p;
  if (!j.is_object()) fail(ErrorCode::kInvalidArgument, "params: expected an object, got {}", j.type_name());
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    auto need_number = [&] {
      if (!v.is_number()) fail(ErrorCode::kInvalidArgument, "params.{}: expected a number, got {}", k, json_text(v));
    };
    if (k == "temperature") {
      need_number();
      p.temperature = v.get<float>();
    } else if (k == "top_p") {
      need_number();
      p.top_p = v.get<float>();
    } else if (k == "max_tokens") {
      if (!v.is_number_integer())
        fail(ErrorCode::kInvalidArgument, "params.max_tokens: expected an integer, got {}", json_text(v));
      p.max_tokens = v.get<int32_t>();
    } else if (k == "seed") {
      if (!v.is_number_integer())
        fail(ErrorCode::kInvalidArgument, "params.seed: expected an integer, got {}", json_text(v));
      p.seed = v.get<uint64_t>();
    } else if (k == "stop") {
      std::vector<std::string> stop;
      if (v.is_string()) {
        stop.push_back(v.get<std::string>());
      } else if (v.is_array()) {
        for (const auto& s : v) {
          if (!s.is_string()) fail(ErrorCode::kInvalidArgument, "params.stop: expected strings, got {}", json_text(s));
          stop.push_back(s.get<std::string>());
        }
      } else {
        fail(ErrorCode::kInvalidArgument, "params.stop: expected a string or a list of strings, got {}", json_text(v));
      }
      p.stop = std::move(stop);
    } else if (k == "json_schema") {
      if (!v.is_object()) fail(ErrorCode::kInvalidArgument, "params.json_schema: expected an object");
      p.json_schema = v;
    } else if (k == "tools") {
      p.tools = v;
    } else if (k == "tool_choice") {
      p.tool_choice = v;
    } else {
      fail(ErrorCode::kInvalidArgument,
           "params: unknown key '{}' (known: temperature, top_p, max_tokens, stop, seed, json_schema, tools, "
           "tool_choice)",
           k);
    }
  }
  if (p.tools || p.tool_choice) {
    engine::ToolRequestError problem;
    if (!engine::parse_tool_request(p.tool_json(), &problem).ok()) {
      fail(ErrorCode::kInvalidArgument, "params.{}: {}", problem.param, problem.message);
    }
  }
  return p;
}

Json LlmParams::to_json() const {
  Json j = Json::object();
  if (temperature) j["temperature"] = *temperature;
  if (top_p) j["top_p"] = *top_p;
  if (max_tokens) j["max_tokens"] = *max_tokens;
  if (stop) j["stop"] = *stop;
  if (seed) j["seed"] = *seed;
  if (json_schema) j["json_schema"] = *json_schema;
  if (tools) j["tools"] = *tools;
  if (tool_choice) j["tool_choice"] = *tool_choice;
  return j;
}

Json LlmParams::tool_json() const {
  Json j = Json::object();
  if (tools) j["tools"] = *tools;
  if (tool_choice) j["tool_choice"] = *tool_choice;
  return j;
}

// ---- LlmInput ----

LlmInput LlmInput::from_json(const Json& j) {
  if (j.is_string()) return text(j.get<std::string>());
  if (j.is_array()) return from_messages(messages_from_json(j));
  if (j.is_object()) {
    if (j.contains("messages")) return from_messages(messages_from_json(j["messages"]));
    if (j.contains("prompt") && j["prompt"].is_string()) return text(j["prompt"].get<std::string>());
  }
  fail(ErrorCode::kInvalidArgument,
       "model input must be a string, an array of messages, or {{\"prompt\"|\"messages\"}}; got {}", j.type_name());
}

std::string LlmInput::as_text() const {
  if (!chat) return prompt;
  std::string out;
  for (const auto& m : messages) {
    if (!out.empty()) out += '\n';
    out += m.role + ": " + m.content;
  }
  return out;
}

// ---- bind ----

RunnablePtr LanguageModel::bind(LlmParams params) {
  return std::make_shared<BoundLlm>(shared_from_this(), std::move(params));
}

BoundLlm::BoundLlm(LanguageModelPtr llm, LlmParams params)
    : Runnable("llm"), llm_(std::move(llm)), params_(std::move(params)) {
  if (!llm_) fail(ErrorCode::kInvalidArgument, "llm: null model");
  set_name("llm:" + llm_->model_name());
}

Json BoundLlm::input_schema() const {
  return {{"anyOf", Json::array({{{"type", "string"}}, {{"type", "array"}}, {{"type", "object"}}})}};
}

std::shared_ptr<BoundLlm> BoundLlm::bind(const LlmParams& more) const {
  return std::make_shared<BoundLlm>(llm_, params_.merged(more));
}

Json BoundLlm::do_invoke(const Json& input, const RunConfig& config) {
  return llm_->generate(LlmInput::from_json(input), params_, config.cancel).text;
}

Json BoundLlm::do_stream(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  auto r = llm_->stream(
      LlmInput::from_json(input), params_,
      [&](const std::string& piece) {
        if (config.cancel.cancelled()) return false;
        if (on_chunk && !piece.empty()) on_chunk(Json(piece));
        return true;
      },
      config.cancel);
  if (r.finish_reason == FinishReason::kCancelled) config.cancel.throw_if_cancelled();
  return r.text;
}

// ---- FakeLLM ----

FakeLLM::FakeLLM(std::vector<std::string> responses, bool cycle) : responses_(std::move(responses)), cycle_(cycle) {
  if (responses_.empty()) responses_.push_back("");
}

FakeLLM::FakeLLM(Responder responder) : responder_(std::move(responder)) {}

void FakeLLM::fail_next(int n, ErrorCode code) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_remaining_ = n;
  fail_code_ = code;
}

std::vector<FakeLLM::Call> FakeLLM::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

size_t FakeLLM::call_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_.size();
}

const FakeLLM::Call& FakeLLM::last_call() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (calls_.empty()) fail(ErrorCode::kNotFound, "fake llm: no calls yet");
  return calls_.back();
}

std::vector<std::string> FakeLLM::split_pieces(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if ((c == ' ' || c == '\n') && !cur.empty() && cur.find_first_not_of(" \n") != std::string::npos) {
      out.push_back(std::move(cur));
      cur.clear();
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

LlmResult FakeLLM::do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                               const CancellationToken& cancel) {
  std::string text;
  std::chrono::milliseconds latency;
  {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back({input, params});
    latency = latency_;
    if (fail_remaining_ > 0) {
      --fail_remaining_;
      throw Error(fail_code_, fmt::format("fake llm: scripted failure ({} left)", fail_remaining_));
    }
    if (!responder_) {
      size_t i = next_;
      if (cycle_) {
        next_ = (next_ + 1) % responses_.size();
      } else if (next_ + 1 < responses_.size()) {
        ++next_;
      }
      text = responses_[i];
    }
  }
  if (responder_) text = responder_(input, params);
  if (latency.count() > 0) cancel.sleep_for(latency);
  cancel.throw_if_cancelled();
  if (params.stop) {
    for (const auto& s : *params.stop) {
      if (s.empty()) continue;
      auto pos = text.find(s);
      if (pos != std::string::npos) text.resize(pos);
    }
  }
  LlmResult r;
  r.prompt_tokens = static_cast<int32_t>((input.as_text().size() + 3) / 4);
  if (params.max_tokens && *params.max_tokens >= 0) {
    // One "token" per piece keeps max_tokens observable in tests.
    auto pieces = split_pieces(text);
    if (pieces.size() > static_cast<size_t>(*params.max_tokens)) {
      pieces.resize(*params.max_tokens);
      text.clear();
      for (auto& p : pieces) text += p;
      r.finish_reason = FinishReason::kLength;
    }
  }
  if (on_token) {
    std::string emitted;
    for (const auto& piece : split_pieces(text)) {
      cancel.throw_if_cancelled();
      if (!on_token(piece)) {
        r.text = emitted;
        r.finish_reason = FinishReason::kCancelled;
        return r;
      }
      emitted += piece;
    }
  }
  r.text = std::move(text);
  r.completion_tokens = static_cast<int32_t>(split_pieces(r.text).size());
  return r;
}

}  // namespace llmchain::chain
