#pragma once
// A chat message as the chain layer sees it. In JSON: {"role": "...", "content": "..."}.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace llmchain::chain {

struct Message {
  std::string role;  // system | user | assistant (aliases human/ai are normalised on input)
  std::string content;
  bool operator==(const Message&) const = default;
};

// Maps human/ai/bot to user/assistant; other roles are kept.
std::string normalize_role(const std::string& role);

void to_json(nlohmann::json& j, const Message& m);
// Throws llmchain::Error(kInvalidArgument) when j is not {"role": string, "content": string}.
void from_json(const nlohmann::json& j, Message& m);

// Parses an array of messages (throws Error naming the bad element).
std::vector<Message> messages_from_json(const nlohmann::json& j);
nlohmann::json messages_to_json(const std::vector<Message>& messages);

}  // namespace llmchain::chain
