#include "chat/chat_template.h"

namespace llmchain::chat {

namespace {

nlohmann::json normalize_messages(const nlohmann::json& messages, bool keep_parts) {
  if (!messages.is_array()) fail(ErrorCode::kInvalidArgument, "messages must be a JSON array");
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (!m.is_object()) fail(ErrorCode::kInvalidArgument, "messages[{}] must be an object", i);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      fail(ErrorCode::kInvalidArgument, "messages[{}].role must be a string", i);
    nlohmann::json msg = m;
    auto content = m.find("content");
    if (content != m.end() && content->is_array()) {
      std::string joined;
      for (size_t p = 0; p < content->size(); ++p) {
        const auto& part = (*content)[p];
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
          fail(ErrorCode::kInvalidArgument, "messages[{}].content[{}] must be an object with a string 'type'", i, p);
        if (part["type"] != "text") {
          if (keep_parts) continue;
          fail(ErrorCode::kUnsupported,
               "messages[{}].content[{}]: content part type '{}' is not supported by this template", i, p,
               part["type"].get<std::string>());
        }
        if (!part.contains("text") || !part["text"].is_string())
          fail(ErrorCode::kInvalidArgument, "messages[{}].content[{}].text must be a string", i, p);
        if (p) joined += "\n";
        joined += part["text"].get<std::string>();
      }
      if (!keep_parts) msg["content"] = joined;
    } else if (content != m.end() && !content->is_string() && !content->is_null()) {
      fail(ErrorCode::kInvalidArgument, "messages[{}].content must be a string, null or a list of parts", i);
    }
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace

Expected<std::string> apply_chat_template(const Template& t, const nlohmann::json& messages, const ChatOptions& opts) {
  nlohmann::json ctx = nlohmann::json::object();
  try {
    ctx["messages"] = normalize_messages(messages, t.handles_content_parts());
    if (!opts.extra.is_null() && !opts.extra.is_object())
      fail(ErrorCode::kInvalidArgument, "ChatOptions.extra must be a JSON object");
    if (opts.extra.is_object() && opts.extra.contains("messages"))
      fail(ErrorCode::kInvalidArgument, "ChatOptions.extra must not contain 'messages'");
  } catch (const Error& e) {
    return e;
  }
  ctx["tools"] = opts.tools;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = opts.add_generation_prompt;
  ctx["bos_token"] = opts.bos_token;
  ctx["eos_token"] = opts.eos_token;
  if (opts.extra.is_object())
    for (auto it = opts.extra.begin(); it != opts.extra.end(); ++it) ctx[it.key()] = it.value();
  return t.render(ctx);
}

}  // namespace llmchain::chat
