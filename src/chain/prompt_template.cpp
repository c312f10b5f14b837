#include "chain/prompt_template.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "base/json_util.h"
#include "chain/jinja_bridge.h"

namespace llmchain::chain {

namespace {

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

}  // namespace

std::string value_to_prompt_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  if (value.is_array() && !value.empty() &&
      std::all_of(value.begin(), value.end(), [](const Json& m) { return m.is_object() && m.contains("role"); })) {
    std::string out;
    for (const auto& m : value) {
      if (!out.empty()) out += '\n';
      out += m.value("role", "") + ": " + value_to_prompt_text(m.value("content", Json("")));
    }
    return out;
  }
  return json_text(value);
}

Json variable_schema(const std::string& name) {
  std::string title;
  bool start = true;
  for (char c : name) {
    if (c == '_' || c == '-') {
      title += ' ';
      start = true;
    } else {
      title += start ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
      start = false;
    }
  }
  return {{"title", title}, {"type", "string"}};
}

Json BasePromptTemplate::input_schema() const {
  Json props = Json::object();
  Json required = Json::array();
  for (const auto& v : input_variables()) {
    props[v] = variable_schema(v);
    required.push_back(v);
  }
  return {{"type", "object"}, {"properties", props}, {"required", required}};
}

Json BasePromptTemplate::normalize_input(const Json& input) const {
  if (input.is_object()) return input;
  auto vars = input_variables();
  if (vars.size() == 1) return Json{{vars[0], input}};
  fail(ErrorCode::kInvalidArgument, "{}: expected an object of variables ({}), got {}", name(), fmt::join(vars, ", "),
       input.type_name());
}

// ---- PromptTemplate ----

PromptTemplate::PromptTemplate(std::string source, TemplateFormat format)
    : BasePromptTemplate("prompt"), source_(std::move(source)), format_(format) {
  if (format_ == TemplateFormat::kJinja) {
    jinja_ = jinja_parse(source_);
    variables_ = jinja_variables(source_);
    return;
  }
  const std::string& s = source_;
  std::string literal;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '{') {
      if (i + 1 < s.size() && s[i + 1] == '{') {
        literal += '{';
        ++i;
        continue;
      }
      size_t close = s.find('}', i + 1);
      if (close == std::string::npos) {
        fail(ErrorCode::kInvalidArgument,
             "prompt template: unclosed '{{' at offset {} (write '{{{{' for a literal brace)", i);
      }
      std::string name = s.substr(i + 1, close - i - 1);
      // trim spaces: "{ name }" is accepted
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      if (name.empty()) fail(ErrorCode::kInvalidArgument, "prompt template: empty placeholder '{{}}' at offset {}", i);
      if (!std::all_of(name.begin(), name.end(), is_name_char)) {
        fail(ErrorCode::kInvalidArgument,
             "prompt template: invalid variable name '{}' at offset {} (write '{{{{' for a literal brace)", name, i);
      }
      if (!literal.empty()) segments_.push_back({false, std::move(literal)});
      literal.clear();
      segments_.push_back({true, name});
      add_unique(variables_, name);
      i = close;
    } else if (c == '}') {
      if (i + 1 < s.size() && s[i + 1] == '}') {
        literal += '}';
        ++i;
        continue;
      }
      fail(ErrorCode::kInvalidArgument, "prompt template: single '}}' at offset {} (write '}}}}' for a literal brace)",
           i);
    } else {
      literal += c;
    }
  }
  if (!literal.empty()) segments_.push_back({false, std::move(literal)});
}

std::vector<std::string> PromptTemplate::input_variables() const {
  std::vector<std::string> out;
  for (const auto& v : variables_) {
    if (!partials_.contains(v)) out.push_back(v);
  }
  return out;
}

std::string PromptTemplate::format(const Json& variables) const {
  if (!variables.is_object() && !variables.is_null()) {
    fail(ErrorCode::kInvalidArgument, "prompt template: variables must be an object, got {}", variables.type_name());
  }
  auto lookup = [&](const std::string& name) -> const Json* {
    if (variables.is_object()) {
      auto it = variables.find(name);
      if (it != variables.end()) return &*it;
    }
    auto it = partials_.find(name);
    if (it != partials_.end()) return &*it;
    return nullptr;
  };
  if (format_ == TemplateFormat::kJinja) {
    Json ctx = partials_;
    if (variables.is_object()) {
      for (auto it = variables.begin(); it != variables.end(); ++it) ctx[it.key()] = it.value();
    }
    for (const auto& v : variables_) {
      if (!ctx.contains(v)) fail(ErrorCode::kInvalidArgument, "prompt template: missing variable '{}'", v);
    }
    return jinja_render(jinja_, ctx);
  }
  std::string out;
  out.reserve(source_.size() + 64);
  for (const auto& seg : segments_) {
    if (!seg.is_variable) {
      out += seg.text;
      continue;
    }
    const Json* v = lookup(seg.text);
    if (!v) fail(ErrorCode::kInvalidArgument, "prompt template: missing variable '{}'", seg.text);
    out += value_to_prompt_text(*v);
  }
  return out;
}

std::shared_ptr<PromptTemplate> PromptTemplate::partial(const Json& variables) const {
  if (!variables.is_object()) fail(ErrorCode::kInvalidArgument, "partial: variables must be an object");
  auto copy = std::make_shared<PromptTemplate>(*this);
  for (auto it = variables.begin(); it != variables.end(); ++it) copy->partials_[it.key()] = it.value();
  return copy;
}

// ---- ChatPromptTemplate ----

ChatPart::ChatPart(std::string r, std::string text, TemplateFormat format)
    : role(normalize_role(r)), tmpl(std::make_shared<PromptTemplate>(std::move(text), format)) {}

ChatPart::ChatPart(MessagesPlaceholder p) : placeholder(std::move(p)) {
  if (placeholder.variable.empty()) fail(ErrorCode::kInvalidArgument, "messages placeholder: empty variable name");
}

ChatPromptTemplate::ChatPromptTemplate(std::vector<ChatPart> parts)
    : BasePromptTemplate("chat_prompt"), parts_(std::move(parts)) {
  if (parts_.empty()) fail(ErrorCode::kInvalidArgument, "chat prompt: no messages");
}

std::vector<std::string> ChatPromptTemplate::input_variables() const {
  std::vector<std::string> out;
  for (const auto& p : parts_) {
    if (p.tmpl) {
      for (const auto& v : p.tmpl->input_variables()) add_unique(out, v);
    } else if (!p.placeholder.optional) {
      add_unique(out, p.placeholder.variable);
    }
  }
  return out;
}

std::vector<std::string> ChatPromptTemplate::placeholder_variables() const {
  std::vector<std::string> out;
  for (const auto& p : parts_) {
    if (!p.tmpl) out.push_back(p.placeholder.variable);
  }
  return out;
}

Json ChatPromptTemplate::output_schema() const {
  return {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties", {{"role", {{"type", "string"}}}, {"content", {{"type", "string"}}}}},
            {"required", {"role", "content"}}}}};
}

std::vector<Message> ChatPromptTemplate::format_messages(const Json& variables) const {
  std::vector<Message> out;
  for (const auto& p : parts_) {
    if (p.tmpl) {
      out.push_back({p.role, p.tmpl->format(variables)});
      continue;
    }
    const Json* v = nullptr;
    if (variables.is_object()) {
      auto it = variables.find(p.placeholder.variable);
      if (it != variables.end()) v = &*it;
    }
    if (!v || v->is_null()) {
      if (p.placeholder.optional) continue;
      fail(ErrorCode::kInvalidArgument, "prompt template: missing variable '{}'", p.placeholder.variable);
    }
    try {
      for (auto& m : messages_from_json(*v)) out.push_back(std::move(m));
    } catch (const Error& e) {
      fail(ErrorCode::kInvalidArgument, "prompt template: variable '{}': {}", p.placeholder.variable, e.message());
    }
  }
  return out;
}

std::shared_ptr<ChatPromptTemplate> ChatPromptTemplate::partial(const Json& variables) const {
  auto copy = std::make_shared<ChatPromptTemplate>(*this);
  for (auto& p : copy->parts_) {
    if (p.tmpl) p.tmpl = p.tmpl->partial(variables);
  }
  return copy;
}

}  // namespace llmchain::chain
