#pragma once
// Chat-template application with HF transformers' conventions, and the
// built-in named templates (the published templates of common model families).
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "chat/template.h"

namespace llmchain::chat {

struct ChatOptions {
  bool add_generation_prompt = true;
  std::string bos_token, eos_token;
  // Extra template variables (e.g. date_string, enable_thinking); they may
  // override bos_token/eos_token/tools but not messages.
  nlohmann::json extra = nlohmann::json::object();
  // OpenAI-style tool list; null renders as `tools = none`, as HF does.
  nlohmann::json tools = nullptr;
};

// messages: [{"role": ..., "content": ...}, ...]. content may be a string, null,
// or a list of {"type": "text", "text": ...} parts. Templates that do not
// handle parts themselves (no 'text' literal in the source) get the parts'
// texts joined with "\n" as a plain string, as vLLM does.
//
// Tools: a template that reads `tools` renders them (and tool_calls / tool
// messages) itself. For one that does not, the tools are described in the
// system message (kToolCallOpen ... kToolCallClose, Hermes style), assistant
// tool_calls become such tags in the content, and tool results become user
// messages wrapped in <tool_response> tags, so any template can carry them.
Expected<std::string> apply_chat_template(const Template& t, const nlohmann::json& messages, const ChatOptions& opts);

inline constexpr std::string_view kToolCallOpen = "<tool_call>";
inline constexpr std::string_view kToolCallClose = "</tool_call>";

// The system-prompt text that describes `tools` (an OpenAI tools array).
std::string describe_tools(const nlohmann::json& tools);

// chatml, llama2, llama3, mistral, gemma, phi3, zephyr, deepseek.
std::vector<std::string> builtin_template_names();
Expected<std::string> builtin_template_source(std::string_view name);
// Parsed built-in template (kNotFound for unknown names).
Expected<Template> builtin_template(std::string_view name);

}  // namespace llmchain::chat
