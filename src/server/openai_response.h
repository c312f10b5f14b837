#pragma once
// Builders for OpenAI response bodies and stream chunks. Shapes follow the
// OpenAI API reference for chat.completion, chat.completion.chunk and
// text_completion objects.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "http/error.h"

namespace llmchain::server {

// "chatcmpl-" + 24 random alphanumerics, etc.
using http::make_id;
int64_t unix_now();

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
  nlohmann::json to_json() const;
};

// Chat shape: {"content":[{token, logprob, bytes, top_logprobs:[...]}], "refusal": null}.
nlohmann::json chat_logprobs(const std::vector<engine::TokenEvent>& events);
// Completions shape: {tokens, token_logprobs, top_logprobs, text_offset}; offsets start at `offset`.
nlohmann::json completion_logprobs(const std::vector<engine::TokenEvent>& events, size_t offset);

struct ChunkHeader {
  std::string id;
  int64_t created = 0;
  std::string model;
  bool include_usage = false;  // every chunk carries "usage": null, then a final usage chunk
};

nlohmann::json chat_chunk(const ChunkHeader& h, int index, const nlohmann::json& delta, const nlohmann::json& logprobs,
                          const std::optional<std::string>& finish_reason);
nlohmann::json completion_chunk(const ChunkHeader& h, int index, const std::string& text,
                                const nlohmann::json& logprobs, const std::optional<std::string>& finish_reason);
// The final chunk of include_usage: empty choices, usage set.
nlohmann::json usage_chunk(const ChunkHeader& h, const char* object, const Usage& usage);

// "data: <json>\n\n"
std::string sse_data(const nlohmann::json& j);
// "event: EVENT\ndata: <json>\n\n" (LangServe's and the Responses API's typed events).
std::string sse_event(std::string_view event, const nlohmann::json& data);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

std::string base64_encode(const void* data, size_t n);
// OpenAI finish_reason from the engine's: "length", else "stop" (a cancelled generation has
// no client left to read it).
std::string openai_finish_reason(engine::FinishReason r);

}  // namespace llmchain::server
