#include "server/openai_response.h"

#include <chrono>
#include <cmath>
#include <random>

#include "server/api_error.h"

namespace llmchain::server {

using nlohmann::json;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json Usage::to_json() const {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

namespace {

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

// JSON has no -inf; OpenAI reports very unlikely tokens as -9999.0.
double finite_logprob(float lp) { return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0; }

}  // namespace

json chat_logprobs(const std::vector<engine::TokenEvent>& events) {
  json content = json::array();
  for (const auto& ev : events) {
    if (!ev.chosen) continue;
    json top = json::array();
    for (const auto& t : ev.top) {
      top.push_back({{"token", t.text}, {"logprob", finite_logprob(t.logprob)}, {"bytes", bytes_of(t.text)}});
    }
    content.push_back({{"token", ev.chosen->text},
                       {"logprob", finite_logprob(ev.chosen->logprob)},
                       {"bytes", bytes_of(ev.chosen->text)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json completion_logprobs(const std::vector<engine::TokenEvent>& events, size_t offset) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const auto& ev : events) {
    if (!ev.chosen) continue;
    tokens.push_back(ev.chosen->text);
    lps.push_back(finite_logprob(ev.chosen->logprob));
    json top = json::object();
    for (const auto& t : ev.top) top[t.text] = finite_logprob(t.logprob);
    tops.push_back(top);
    offsets.push_back(offset);
    offset += ev.chosen->text.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json chat_chunk(const ChunkHeader& h, int index, const json& delta, const json& logprobs,
                const std::optional<std::string>& finish_reason) {
  json choice = {{"index", index},
                 {"delta", delta},
                 {"logprobs", logprobs},
                 {"finish_reason", finish_reason ? json(*finish_reason) : json(nullptr)}};
  json j = {{"id", h.id},       {"object", "chat.completion.chunk"}, {"created", h.created},
            {"model", h.model}, {"system_fingerprint", "llmchain"},  {"choices", json::array({choice})}};
  if (h.include_usage) j["usage"] = nullptr;
  return j;
}

json completion_chunk(const ChunkHeader& h, int index, const std::string& text, const json& logprobs,
                      const std::optional<std::string>& finish_reason) {
  json choice = {{"index", index},
                 {"text", text},
                 {"logprobs", logprobs},
                 {"finish_reason", finish_reason ? json(*finish_reason) : json(nullptr)}};
  json j = {{"id", h.id},       {"object", "text_completion"},      {"created", h.created},
            {"model", h.model}, {"system_fingerprint", "llmchain"}, {"choices", json::array({choice})}};
  if (h.include_usage) j["usage"] = nullptr;
  return j;
}

json usage_chunk(const ChunkHeader& h, const char* object, const Usage& usage) {
  return {{"id", h.id},
          {"object", object},
          {"created", h.created},
          {"model", h.model},
          {"system_fingerprint", "llmchain"},
          {"choices", json::array()},
          {"usage", usage.to_json()}};
}

std::string sse_data(const json& j) { return "data: " + json_text(j) + "\n\n"; }

std::string sse_event(std::string_view event, const json& data) {
  std::string out = "event: ";
  out += event;
  out += "\ndata: ";
  out += json_text(data);
  out += "\n\n";
  return out;
}

std::string base64_encode(const void* data, size_t n) {
  static constexpr char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += kTable[v & 63];
  }
  if (i < n) {
    uint32_t v = p[i] << 16;
    if (i + 1 < n) v |= p[i + 1] << 8;
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += i + 1 < n ? kTable[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string openai_finish_reason(engine::FinishReason r) {
  return r == engine::FinishReason::kLength ? "length" : "stop";
}

}  // namespace llmchain::server
