// Reading an OpenAI request's tools / tool_choice / parallel_tool_calls (engine/tool_calls.h).
#include <fmt/format.h>

#include <set>

#include "base/json_util.h"
#include "engine/tool_calls.h"

namespace llmchain::engine {

using nlohmann::json;

namespace {

constexpr size_t kMaxTools = 128;  // OpenAI's limit

// Thrown inside parse_tool_request only; it returns it as a value.
struct Problem {
  ToolRequestError e;
};

[[noreturn]] void invalid(std::string param, std::string message, std::string code = "invalid_value") {
  throw Problem{{std::move(param), std::move(message), std::move(code)}};
}

[[noreturn]] void missing(const std::string& param) {
  invalid(param, fmt::format("Missing required parameter: '{}'.", param), "missing_required_parameter");
}

[[noreturn]] void wrong_type(const std::string& param, const char* expected, const json& got) {
  invalid(param, json_wrong_type_message(param, expected, got), "invalid_type");
}

const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::string> string_field(const json& obj, const char* key, const std::string& prefix) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(prefix + key, "a string", *v);
  return v->get<std::string>();
}

bool valid_function_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

ToolSpec read_tool(const json& tool, const std::string& p, std::set<std::string>& seen) {
  if (!tool.is_object()) wrong_type(p, "an object", tool);
  auto type = string_field(tool, "type", p + ".");
  if (!type) missing(p + ".type");
  if (*type != "function") {
    invalid(p + ".type", fmt::format("Invalid value for '{}.type': '{}'. Supported values are: 'function'.", p, *type));
  }
  const json* fn = field(tool, "function");
  if (!fn) missing(p + ".function");
  if (!fn->is_object()) wrong_type(p + ".function", "an object", *fn);
  const std::string fp = p + ".function.";
  auto name = string_field(*fn, "name", fp);
  if (!name) missing(fp + "name");
  if (!valid_function_name(*name)) {
    invalid(fp + "name", fmt::format("Invalid '{}name': '{}'. Expected a string of 1 to 64 letters, digits, "
                                     "underscores or dashes.",
                                     fp, *name));
  }
  if (!seen.insert(*name).second) {
    invalid(fp + "name", fmt::format("Duplicate function name '{}' in 'tools'.", *name));
  }
  string_field(*fn, "description", fp);
  if (const json* strict = field(*fn, "strict"); strict && !strict->is_boolean()) {
    wrong_type(fp + "strict", "a boolean", *strict);
  }
  ToolSpec spec;
  spec.name = *name;
  if (const json* params = field(*fn, "parameters")) {
    if (!params->is_object()) wrong_type(fp + "parameters", "an object", *params);
    spec.parameters = *params;
  } else {
    spec.parameters = {{"type", "object"}};
  }
  return spec;
}

void read_choice(const json& tc, ToolRequest& t) {
  if (tc.is_string()) {
    std::string s = tc.get<std::string>();
    if (s == "none") {
      t.mode = ToolMode::kNone;
    } else if (s == "auto") {
      t.mode = ToolMode::kAuto;
    } else if (s == "required") {
      t.mode = ToolMode::kRequired;
    } else {
      invalid("tool_choice", fmt::format("Invalid value for 'tool_choice': '{}'. Supported values are: 'none', "
                                         "'auto', 'required' or an object naming a function.",
                                         s));
    }
    return;
  }
  if (!tc.is_object()) wrong_type("tool_choice", "a string or an object", tc);
  auto type = string_field(tc, "type", "tool_choice.");
  if (!type) missing("tool_choice.type");
  if (*type != "function") {
    invalid("tool_choice.type",
            fmt::format("Invalid value for 'tool_choice.type': '{}'. Supported values are: 'function'.", *type));
  }
  const json* fn = field(tc, "function");
  if (!fn) missing("tool_choice.function");
  if (!fn->is_object()) wrong_type("tool_choice.function", "an object", *fn);
  auto name = string_field(*fn, "name", "tool_choice.function.");
  if (!name) missing("tool_choice.function.name");
  if (!t.find(*name)) {
    invalid("tool_choice.function.name",
            fmt::format("'tool_choice' names the function '{}', which is not in 'tools'.", *name));
  }
  t.mode = ToolMode::kNamed;
  t.forced = *name;
}

ToolRequest read_request(const json& body) {
  ToolRequest t;
  for (const char* legacy : {"functions", "function_call"}) {
    if (field(body, legacy)) {
      invalid(legacy,
              fmt::format("'{}' is the deprecated form of function calling and is not supported; use 'tools' and "
                          "'tool_choice'.",
                          legacy),
              "unsupported_parameter");
    }
  }
  const json* tools = field(body, "tools");
  if (tools) {
    if (!tools->is_array()) wrong_type("tools", "an array", *tools);
    if (tools->empty()) {
      invalid("tools", "Invalid 'tools': empty array. Expected an array with at least one tool.", "empty_array");
    }
    if (tools->size() > kMaxTools) {
      invalid("tools", fmt::format("'tools' has {} entries; at most {} are allowed.", tools->size(), kMaxTools));
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < tools->size(); ++i) {
      t.specs.push_back(read_tool((*tools)[i], fmt::format("tools[{}]", i), seen));
    }
    t.tools = *tools;
    t.mode = ToolMode::kAuto;
  }
  if (const json* par = field(body, "parallel_tool_calls")) {
    if (!par->is_boolean()) wrong_type("parallel_tool_calls", "a boolean", *par);
    t.parallel = par->get<bool>();
  }
  if (const json* tc = field(body, "tool_choice")) {
    if (!tools) invalid("tool_choice", "'tool_choice' is only allowed when 'tools' are specified.");
    read_choice(*tc, t);
  }
  // "none": the model does not see the tools either.
  if (t.mode == ToolMode::kNone) t.tools = nullptr;
  return t;
}

}  // namespace

Expected<ToolRequest> parse_tool_request(const json& body, ToolRequestError* problem) {
  if (!body.is_object()) {
    if (problem) *problem = {"", "Expected an object with 'tools' and 'tool_choice'.", "invalid_type"};
    return Error(ErrorCode::kInvalidArgument, "expected an object with 'tools' and 'tool_choice'");
  }
  try {
    return read_request(body);
  } catch (const Problem& p) {
    if (problem) *problem = p.e;
    return Error(ErrorCode::kInvalidArgument, p.e.message);
  }
}

}  // namespace llmchain::engine
