#include "chain/message.h"

#include "base/error.h"
#include "base/json_util.h"

namespace llmchain::chain {

std::string normalize_role(const std::string& role) {
  if (role == "human") return "user";
  if (role == "ai" || role == "bot") return "assistant";
  return role;
}

void to_json(nlohmann::json& j, const Message& m) {
  j = {{"role", m.role}, {"content", m.content}};
  if (!m.tool_calls.is_null()) j["tool_calls"] = m.tool_calls;
  if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
  if (!m.name.empty()) j["name"] = m.name;
}

void from_json(const nlohmann::json& j, Message& m) {
  if (!j.is_object() || !j.contains("role") || !j["role"].is_string()) {
    fail(ErrorCode::kInvalidArgument, "message must be an object with string 'role' and 'content', got {}",
         json_text(j));
  }
  m.role = normalize_role(j["role"].get<std::string>());
  auto it = j.find("content");
  if (it == j.end() || it->is_null()) {
    m.content.clear();
  } else if (it->is_string()) {
    m.content = it->get<std::string>();
  } else {
    fail(ErrorCode::kInvalidArgument, "message content must be a string, got {}", json_text(*it));
  }
  m.tool_calls = nullptr;
  if (auto tc = j.find("tool_calls"); tc != j.end() && !tc->is_null()) {
    if (!tc->is_array())
      fail(ErrorCode::kInvalidArgument, "message tool_calls must be an array, got {}", json_text(*tc));
    for (const auto& c : *tc) {
      if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) {
        fail(ErrorCode::kInvalidArgument, "a tool call must be {{\"id\", \"type\", \"function\": {{...}}}}, got {}",
             json_text(c));
      }
    }
    m.tool_calls = *tc;
  }
  for (auto [key, field] : {std::pair{"tool_call_id", &m.tool_call_id}, std::pair{"name", &m.name}}) {
    field->clear();
    auto f = j.find(key);
    if (f == j.end() || f->is_null()) continue;
    if (!f->is_string()) fail(ErrorCode::kInvalidArgument, "message {} must be a string, got {}", key, json_text(*f));
    *field = f->get<std::string>();
  }
}

std::vector<Message> messages_from_json(const nlohmann::json& j) {
  if (!j.is_array()) fail(ErrorCode::kInvalidArgument, "expected an array of messages, got {}", j.type_name());
  std::vector<Message> out;
  out.reserve(j.size());
  for (const auto& m : j) out.push_back(m.get<Message>());
  return out;
}

nlohmann::json messages_to_json(const std::vector<Message>& messages) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& m : messages) arr.push_back(m);
  return arr;
}

}  // namespace llmchain::chain
