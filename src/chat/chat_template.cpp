#include "chat/chat_template.h"

#include "base/json_util.h"

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

bool has_tool_traffic(const nlohmann::json& messages) {
  for (const auto& m : messages) {
    if (!m.is_object()) continue;
    auto role = m.find("role");
    if (role != m.end() && role->is_string() && *role == "tool") return true;
    auto tc = m.find("tool_calls");
    if (tc != m.end() && tc->is_array() && !tc->empty()) return true;
  }
  return false;
}

std::string text_of(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string()) {
        if (!out.empty()) out += "\n";
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

// Rewrites tool definitions, tool calls and tool results into plain system /
// assistant / user text for a template that does not know about tools.
nlohmann::json lower_tools(const nlohmann::json& messages, const nlohmann::json& tools) {
  nlohmann::json out = nlohmann::json::array();
  const bool describe = tools.is_array() && !tools.empty();
  bool described = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    nlohmann::json m = messages[i];
    if (!m.is_object()) {
      out.push_back(std::move(m));
      continue;
    }
    std::string role = m.value("role", "");
    if (describe && !described && (role == "system" || role == "developer")) {
      std::string text = text_of(m.value("content", nlohmann::json()));
      m["content"] = text + (text.empty() ? "" : "\n\n") + describe_tools(tools);
      described = true;
    } else if (role == "assistant" && m.contains("tool_calls") && m["tool_calls"].is_array()) {
      std::string text = text_of(m.value("content", nlohmann::json()));
      for (const auto& call : m["tool_calls"]) {
        nlohmann::json fn = call.is_object() ? call.value("function", nlohmann::json::object()) : nlohmann::json();
        nlohmann::json args = fn.value("arguments", nlohmann::json::object());
        if (args.is_string()) {
          auto parsed = nlohmann::json::parse(args.get<std::string>(), nullptr, false);
          if (!parsed.is_discarded()) args = parsed;
        }
        nlohmann::json c = {{"name", fn.value("name", "")}, {"arguments", args}};
        if (!text.empty()) text += "\n";
        text += std::string(kToolCallOpen) + "\n" + json_text(c) + "\n" + std::string(kToolCallClose);
      }
      m.erase("tool_calls");
      m["content"] = text;
    } else if (role == "tool") {
      m["role"] = "user";
      m["content"] = "<tool_response>\n" + text_of(m.value("content", nlohmann::json())) + "\n</tool_response>";
      m.erase("tool_call_id");
      // Consecutive tool results form one user turn (templates insist on alternation).
      if (!out.empty() && out.back().value("role", "") == "user" && i > 0 && messages[i - 1].is_object() &&
          messages[i - 1].value("role", "") == "tool") {
        out.back()["content"] = out.back()["content"].get<std::string>() + "\n" + m["content"].get<std::string>();
        continue;
      }
    }
    out.push_back(std::move(m));
  }
  if (describe && !described) {
    out.insert(out.begin(), nlohmann::json{{"role", "system"}, {"content", describe_tools(tools)}});
  }
  return out;
}

}  // namespace

std::string describe_tools(const nlohmann::json& tools) {
  std::string s =
      "You may call functions to help with the user's request. The available functions, as JSON schemas, are:\n"
      "<tools>\n";
  for (const auto& t : tools) s += json_text(t.is_object() && t.contains("function") ? t["function"] : t) + "\n";
  s += "</tools>\n"
       "To call a function, reply with a JSON object holding its name and arguments inside tags, one per call:\n";
  s += std::string(kToolCallOpen) + "\n{\"name\": <function-name>, \"arguments\": <arguments-object>}\n" +
       std::string(kToolCallClose);
  return s;
}

Expected<std::string> apply_chat_template(const Template& t, const nlohmann::json& messages, const ChatOptions& opts) {
  nlohmann::json ctx = nlohmann::json::object();
  try {
    const bool lower = !t.handles_tools() && messages.is_array() &&
                       ((opts.tools.is_array() && !opts.tools.empty()) || has_tool_traffic(messages));
    ctx["messages"] =
        normalize_messages(lower ? lower_tools(messages, opts.tools) : messages, t.handles_content_parts());
    if (!opts.extra.is_null() && !opts.extra.is_object())
      fail(ErrorCode::kInvalidArgument, "ChatOptions.extra must be a JSON object");
    if (opts.extra.is_object() && opts.extra.contains("messages"))
      fail(ErrorCode::kInvalidArgument, "ChatOptions.extra must not contain 'messages'");
  } catch (const Error& e) {
    return e;
  } catch (const nlohmann::json::exception&) {  // a value of the wrong type somewhere in a message
    return Error(ErrorCode::kInvalidArgument,
                 "messages: a field has the wrong type (role and content must be strings "
                 "or content parts)");
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
