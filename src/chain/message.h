#pragma once
// A chat message as the chain layer sees it. In JSON: {"role": "...", "content": "..."}, and for
// function calling OpenAI's extra fields: an assistant message's "tool_calls" (the calls it made)
// and a "tool" message's "tool_call_id" (the call it answers), "name" on either.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace llmchain::chain {

struct Message {
  std::string role;  // system | user | assistant | tool (aliases human/ai are normalised on input)
  std::string content;
  nlohmann::json tool_calls = nullptr;  // assistant: [{"id", "type": "function", "function": {...}}]; null: none
  std::string tool_call_id;             // tool: the id of the call this message answers
  std::string name;                     // optional
  bool operator==(const Message&) const = default;
};

// Maps human/ai/bot to user/assistant; other roles are kept.
std::string normalize_role(const std::string& role);

void to_json(nlohmann::json& j, const Message& m);
// Throws llmchain::Error(kInvalidArgument) when j is not {"role": string, "content": string or null}
// (with tool_calls an array, tool_call_id and name strings, when present).
void from_json(const nlohmann::json& j, Message& m);

// Parses an array of messages (throws Error naming the bad element).
std::vector<Message> messages_from_json(const nlohmann::json& j);
nlohmann::json messages_to_json(const std::vector<Message>& messages);

}  // namespace llmchain::chain
