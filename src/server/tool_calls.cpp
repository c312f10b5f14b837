#include "server/tool_calls.h"

#include <fmt/format.h>

#include <set>

#include "server/openai_request.h"

namespace llmchain::server {

using nlohmann::json;

namespace {

constexpr size_t kMaxTools = 128;  // OpenAI's limit

bool valid_function_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

ToolRequest parse_tool_request(const json& body) {
  ToolRequest t;
  FieldReader r(body);
  for (const char* legacy : {"functions", "function_call"}) {
    if (r.get(legacy)) {
      throw_invalid(legacy,
                    fmt::format("'{}' is the deprecated form of function calling and is not supported by this "
                                "server; use 'tools' and 'tool_choice'.",
                                legacy),
                    "unsupported_parameter");
    }
  }
  const json* tools = r.get("tools");
  if (tools) {
    if (!tools->is_array()) throw_wrong_type("tools", "an array", *tools);
    if (tools->empty()) {
      throw_invalid("tools", "Invalid 'tools': empty array. Expected an array with at least one tool.", "empty_array");
    }
    if (tools->size() > kMaxTools) {
      throw_invalid("tools", fmt::format("'tools' has {} entries; at most {} are allowed.", tools->size(), kMaxTools));
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& tool = (*tools)[i];
      std::string p = fmt::format("tools[{}]", i);
      if (!tool.is_object()) throw_wrong_type(p, "an object", tool);
      FieldReader tr(tool, p + ".");
      auto type = tr.string("type");
      if (!type) {
        throw_invalid(p + ".type", fmt::format("Missing required parameter: '{}.type'.", p),
                      "missing_required_parameter");
      }
      if (*type != "function") {
        throw_invalid(p + ".type",
                      fmt::format("Invalid value for '{}.type': '{}'. Supported values are: 'function'.", p, *type));
      }
      const json* fn = tr.get("function");
      if (!fn) {
        throw_invalid(p + ".function", fmt::format("Missing required parameter: '{}.function'.", p),
                      "missing_required_parameter");
      }
      if (!fn->is_object()) throw_wrong_type(p + ".function", "an object", *fn);
      FieldReader fr(*fn, p + ".function.");
      auto name = fr.string("name");
      if (!name) {
        throw_invalid(p + ".function.name", fmt::format("Missing required parameter: '{}.function.name'.", p),
                      "missing_required_parameter");
      }
      if (!valid_function_name(*name)) {
        throw_invalid(p + ".function.name",
                      fmt::format("Invalid '{}.function.name': '{}'. Expected a string of 1 to 64 letters, digits, "
                                  "underscores or dashes.",
                                  p, *name));
      }
      if (!seen.insert(*name).second) {
        throw_invalid(p + ".function.name", fmt::format("Duplicate function name '{}' in 'tools'.", *name));
      }
      fr.string("description");
      fr.boolean("strict");
      ToolSpec spec;
      spec.name = *name;
      if (const json* params = fr.get("parameters")) {
        if (!params->is_object()) throw_wrong_type(p + ".function.parameters", "an object", *params);
        spec.parameters = *params;
      } else {
        spec.parameters = {{"type", "object"}};
      }
      t.specs.push_back(std::move(spec));
    }
    t.tools = *tools;
    t.mode = ToolMode::kAuto;
  }
  if (auto par = r.boolean("parallel_tool_calls")) t.parallel = *par;
  const json* tc = r.get("tool_choice");
  if (tc) {
    if (!tools) throw_invalid("tool_choice", "'tool_choice' is only allowed when 'tools' are specified.");
    if (tc->is_string()) {
      std::string s = tc->get<std::string>();
      if (s == "none") {
        t.mode = ToolMode::kNone;
      } else if (s == "auto") {
        t.mode = ToolMode::kAuto;
      } else if (s == "required") {
        t.mode = ToolMode::kRequired;
      } else {
        throw_invalid("tool_choice", fmt::format("Invalid value for 'tool_choice': '{}'. Supported values are: "
                                                 "'none', 'auto', 'required' or an object naming a function.",
                                                 s));
      }
    } else if (tc->is_object()) {
      FieldReader cr(*tc, "tool_choice.");
      auto type = cr.string("type");
      if (!type) {
        throw_invalid("tool_choice.type", "Missing required parameter: 'tool_choice.type'.",
                      "missing_required_parameter");
      }
      if (*type != "function") {
        throw_invalid(
            "tool_choice.type",
            fmt::format("Invalid value for 'tool_choice.type': '{}'. Supported values are: 'function'.", *type));
      }
      const json* fn = cr.get("function");
      if (!fn) {
        throw_invalid("tool_choice.function", "Missing required parameter: 'tool_choice.function'.",
                      "missing_required_parameter");
      }
      if (!fn->is_object()) throw_wrong_type("tool_choice.function", "an object", *fn);
      auto name = FieldReader(*fn, "tool_choice.function.").string("name");
      if (!name) {
        throw_invalid("tool_choice.function.name", "Missing required parameter: 'tool_choice.function.name'.",
                      "missing_required_parameter");
      }
      if (!t.find(*name)) {
        throw_invalid("tool_choice.function.name",
                      fmt::format("'tool_choice' names the function '{}', which is not in 'tools'.", *name));
      }
      t.mode = ToolMode::kNamed;
      t.forced = *name;
    } else {
      throw_wrong_type("tool_choice", "a string or an object", *tc);
    }
  }
  // "none": the model does not see the tools either.
  if (t.mode == ToolMode::kNone) t.tools = nullptr;
  return t;
}

}  // namespace llmchain::server
