#pragma once
// One choice of a /v1/chat/completions or /v1/completions request as its client sees it: the
// engine's token events and result in, OpenAI's JSON out, in either flavour (chat deltas and
// messages, or completion text) and either mode (SSE chunks as tokens come, or the whole choice
// at the end). Tool calls (engine/tool_calls.h), echo and logprobs are handled here, so the
// route only moves events from a GenerationJob to the connection.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/tool_calls.h"

namespace llmchain::server {

class ChoiceRenderer {
 public:
  // `prompt_text` is the prompt as the client sent it (echo). p and h must outlive the renderer.
  ChoiceRenderer(const CompletionParams& p, const ChunkHeader& h, int index, std::string prompt_text);

  // ---- streaming (SSE chunks) ----
  // What opens the choice before any token: chat's role delta (with a forced tool call's header),
  // a completion's echoed prompt.
  std::vector<nlohmann::json> opening();
  // The chunk of one token event; nothing when it shows nothing yet (a held-back tool call).
  std::optional<nlohmann::json> on_event(const engine::TokenEvent& ev);
  // What closes it: held-back text, the tool calls found, the chunk with the finish reason.
  std::vector<nlohmann::json> closing(const engine::GenerateResult& r);

  // ---- whole response ----
  // The choice object of a chat.completion / text_completion.
  nlohmann::json whole(const engine::GenerateResult& r) const;

 private:
  // finish_reason: "tool_calls" (or what tool_choice asks) when the reply was calls.
  std::string finish_reason(const engine::GenerateResult& r, bool calls) const;

  const CompletionParams& p_;
  const ChunkHeader& h_;
  int index_;
  std::string prompt_text_;
  const ToolSpec* direct_ = nullptr;        // a forced call: its arguments stream as they come
  std::optional<ToolStreamFilter> filter_;  // tools offered: holds back what may be a call
  size_t offset_ = 0;                       // completions' text_offset of the next token
};

}  // namespace llmchain::server
