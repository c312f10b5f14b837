#include "engine/tool_calls.h"

#include <fmt/format.h>

#include <optional>
#include <random>

#include "chat/chat_template.h"

namespace llmchain::engine {

using nlohmann::json;

namespace {

constexpr std::string_view kMistralCalls = "[TOOL_CALLS]";

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// {"name": <declared tool>, "arguments"|"parameters": {...} or JSON text} -> call.
std::optional<ToolCall> call_from(const ToolRequest& t, const json& j) {
  if (!j.is_object()) return std::nullopt;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || !t.find(name->get<std::string>())) return std::nullopt;
  auto args = j.find("arguments");
  if (args == j.end()) args = j.find("parameters");
  ToolCall c;
  c.id = new_tool_call_id();
  c.name = name->get<std::string>();
  if (args == j.end() || args->is_null()) {
    c.arguments = "{}";
  } else if (args->is_string()) {
    c.arguments = args->get<std::string>();
  } else if (args->is_object()) {
    c.arguments = args->dump(-1, ' ', false, json::error_handler_t::replace);
  } else {
    return std::nullopt;
  }
  return c;
}

// One call object, or an array of them (all must be calls).
std::optional<std::vector<ToolCall>> calls_from(const ToolRequest& t, std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  std::vector<ToolCall> out;
  if (j.is_array()) {
    if (j.empty()) return std::nullopt;
    for (const auto& e : j) {
      auto c = call_from(t, e);
      if (!c) return std::nullopt;
      out.push_back(std::move(*c));
    }
  } else {
    auto c = call_from(t, j);
    if (!c) return std::nullopt;
    out.push_back(std::move(*c));
  }
  return out;
}

// Hermes style: text <tool_call>{...}</tool_call> ... ; nullopt when there is
// no block or one does not hold a call to a declared tool.
std::optional<ToolOutput> tagged_calls(const ToolRequest& t, const std::string& text) {
  const std::string open(chat::kToolCallOpen), close(chat::kToolCallClose);
  size_t pos = text.find(open);
  if (pos == std::string::npos) return std::nullopt;
  ToolOutput out;
  std::string content;
  size_t from = 0;
  while (pos != std::string::npos) {
    content += text.substr(from, pos - from);
    size_t body = pos + open.size();
    size_t end = text.find(close, body);
    auto calls = calls_from(
        t, trim(std::string_view(text).substr(body, end == std::string::npos ? std::string::npos : end - body)));
    if (!calls) return std::nullopt;
    for (auto& c : *calls) out.calls.push_back(std::move(c));
    if (end == std::string::npos) {
      from = text.size();
      break;
    }
    from = end + close.size();
    pos = text.find(open, from);
  }
  content += text.substr(from);
  out.content = std::string(trim(content));
  return out;
}

// kAuto / kRequired: the calls a reply holds, with the text around them; nullopt when it holds none.
std::optional<ToolOutput> find_calls(const ToolRequest& t, const std::string& text) {
  std::string_view body = trim(text);
  if (t.mode == ToolMode::kAuto) {
    if (auto tagged = tagged_calls(t, text)) return tagged;
    if (body.substr(0, kMistralCalls.size()) == kMistralCalls) body = trim(body.substr(kMistralCalls.size()));
  }
  if (body.empty() || (body.front() != '{' && body.front() != '[')) return std::nullopt;
  auto calls = calls_from(t, body);
  if (!calls) return std::nullopt;
  ToolOutput out;
  out.calls = std::move(*calls);
  return out;
}

}  // namespace

std::string new_tool_call_id() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

const ToolSpec* ToolRequest::find(std::string_view name) const {
  for (const auto& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

const ToolSpec* ToolRequest::direct_target() const {
  if (mode == ToolMode::kNamed) return find(forced);
  if (mode == ToolMode::kRequired && specs.size() == 1) return &specs[0];
  return nullptr;
}

sampling::Constraint tool_constraint(const ToolRequest& t) {
  sampling::Constraint c;
  if (const ToolSpec* target = t.direct_target()) {
    c.json_schema = target->parameters;
  } else if (t.mode == ToolMode::kRequired) {
    json any = json::array();
    for (const auto& s : t.specs) {
      any.push_back({{"type", "object"},
                     {"properties", {{"name", {{"const", s.name}}}, {"arguments", s.parameters}}},
                     {"required", {"name", "arguments"}},
                     {"additionalProperties", false}});
    }
    c.json_schema = json{{"anyOf", any}};
  }
  return c;
}

json ToolCall::to_json() const {
  return {{"id", id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}};
}

json ToolCall::to_delta(int index) const {
  json d = to_json();
  d["index"] = index;
  return d;
}

ToolStreamFilter::ToolStreamFilter(const ToolRequest& t)
    : t_(t), markers_({std::string(chat::kToolCallOpen), std::string(kMistralCalls)}) {}

ToolOutput parse_tool_output(const ToolRequest& t, const std::string& text) {
  ToolOutput out;
  if (const ToolSpec* target = t.direct_target()) {
    ToolCall c;
    c.id = new_tool_call_id();
    c.name = target->name;
    c.arguments = std::string(trim(text));
    out.calls.push_back(std::move(c));
    return out;
  }
  if (t.mode != ToolMode::kNone) {
    if (auto found = find_calls(t, text)) {
      if (!t.parallel && found->calls.size() > 1) found->calls.resize(1);
      return *found;
    }
  }
  out.content = text;
  return out;
}

std::string ToolStreamFilter::feed(const std::string& piece) {
  all_ += piece;
  if (held_for_good_) return {};
  if (sent_ == 0) {
    size_t first = all_.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};  // only whitespace so far
    if (all_[first] == '{' || all_[first] == '[') {
      held_for_good_ = true;  // the whole reply may be a call (or [TOOL_CALLS])
      return {};
    }
  }
  // The markers work as stop strings: the text before one is content, a tail that may
  // start one is held back, and from a marker on everything is held.
  auto out = markers_.push(std::string_view(all_).substr(pushed_));
  pushed_ = all_.size();
  if (out.stopped) held_for_good_ = true;
  sent_ += out.emit.size();
  return std::move(out.emit);
}

ToolOutput ToolStreamFilter::finish() {
  ToolOutput o = parse_tool_output(t_, all_);
  if (o.calls.empty()) return {all_.substr(sent_), {}};
  if (sent_ > 0) o.content.clear();  // what preceded the first call was sent already
  return o;
}

}  // namespace llmchain::engine
