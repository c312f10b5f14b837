// POST /v1/responses request -> validated ResponsesRequest -> /v1/chat/completions body.
// Only what the chat route cannot name in Responses terms is checked here; the rest (tool
// names, schemas, sampling ranges...) is left to the chat parser, whose error parameters are
// renamed on the way back (responses_param).
#include <fmt/format.h>

#include <limits>
#include <regex>
#include <set>

#include "server/api_error.h"
#include "server/openai_request.h"
#include "server/responses_api.h"

namespace llmchain::server {

using nlohmann::json;

namespace {

[[noreturn]] void missing(const std::string& param) {
  throw_invalid(param, fmt::format("Missing required parameter: '{}'.", param), "missing_required_parameter");
}

[[noreturn]] void unsupported(const std::string& param, const std::string& message) {
  throw_invalid(param, message, "unsupported_parameter");
}

// Tools OpenAI runs itself; this server only returns function calls to its client.
const std::set<std::string>& builtin_tools() {
  static const std::set<std::string> k = {"web_search",
                                          "web_search_preview",
                                          "web_search_preview_2025_03_11",
                                          "web_search_2025_08_26",
                                          "file_search",
                                          "computer",
                                          "computer_use",
                                          "computer_use_preview",
                                          "code_interpreter",
                                          "image_generation",
                                          "mcp",
                                          "local_shell",
                                          "shell",
                                          "apply_patch",
                                          "custom",
                                          "tool_search",
                                          "namespace"};
  return k;
}

// The text of a message's content: a string, or text parts (input_text, output_text, refusal).
std::string content_text(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw_wrong_type(param, "a string or an array of content parts", content);
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const json& part = content[j];
    const std::string p = fmt::format("{}[{}]", param, j);
    if (!part.is_object()) throw_wrong_type(p, "an object", part);
    FieldReader r(part, p + ".");
    auto type = r.string("type");
    if (!type) missing(p + ".type");
    if (*type == "input_text" || *type == "output_text" || *type == "text") {
      auto t = r.string("text");
      if (!t) missing(p + ".text");
      text += *t;
    } else if (*type == "refusal") {
      auto t = r.string("refusal");
      if (!t) missing(p + ".refusal");
      text += *t;
    } else if (*type == "input_image" || *type == "input_file" || *type == "input_audio") {
      throw_invalid(p + ".type",
                    fmt::format("Content part type '{}' is not supported by this model; only text is.", *type),
                    "unsupported_content_type");
    } else {
      throw_invalid(p + ".type", fmt::format("Invalid value for '{}.type': '{}'. Supported values are: "
                                             "'input_text', 'output_text' and 'refusal'.",
                                             p, *type));
    }
  }
  return text;
}

json tool_call_of(const std::string& call_id, const std::string& name, const std::string& arguments) {
  return {{"id", call_id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}};
}

std::vector<json> parse_tools(const FieldReader& r, json& echo) {
  std::vector<json> chat_tools;
  echo = json::array();
  const json* tools = r.get("tools");
  if (!tools) return chat_tools;
  if (!tools->is_array()) throw_wrong_type("tools", "an array", *tools);
  for (size_t i = 0; i < tools->size(); ++i) {
    const json& t = (*tools)[i];
    const std::string p = fmt::format("tools[{}]", i);
    if (!t.is_object()) throw_wrong_type(p, "an object", t);
    FieldReader tr(t, p + ".");
    auto type = tr.string("type");
    if (!type) missing(p + ".type");
    if (builtin_tools().count(*type)) {
      throw_invalid(p + ".type",
                    fmt::format("The '{}' tool is not supported by this server: it runs no built-in tools (web "
                                "search, file search, computer use, code interpreter, ...), only function tools, "
                                "whose calls it returns to you.",
                                *type),
                    "unsupported_value");
    }
    if (*type != "function") {
      throw_invalid(p + ".type",
                    fmt::format("Invalid value for '{}.type': '{}'. Supported values are: 'function'.", p, *type));
    }
    // Responses' flat shape -> chat's nested one; the chat parser checks name and parameters
    // (its errors come back as tools[i].name, tools[i].parameters).
    json fn = json::object();
    for (const char* key : {"name", "description", "parameters", "strict"}) {
      if (const json* v = tr.get(key)) fn[key] = *v;
    }
    if (!fn.contains("name")) missing(p + ".name");
    chat_tools.push_back({{"type", "function"}, {"function", fn}});
    echo.push_back({{"type", "function"},
                    {"name", fn["name"]},
                    {"description", fn.value("description", json(nullptr))},
                    {"parameters", fn.value("parameters", json(nullptr))},
                    {"strict", fn.value("strict", json(true))}});
  }
  return chat_tools;
}

// tool_choice: "none" | "auto" | "required" | {"type": "function", "name"}.
json parse_tool_choice(const FieldReader& r, bool have_tools, json& echo) {
  const json* tc = r.get("tool_choice");
  echo = tc ? *tc : json("auto");
  if (!tc) return nullptr;
  if (tc->is_string()) {
    // Without tools, "auto" and "none" mean what no tool_choice means; the chat parser
    // refuses anything else ("'tool_choice' is only allowed when 'tools' are specified").
    const std::string s = tc->get<std::string>();
    if (!have_tools && (s == "auto" || s == "none")) return nullptr;
    return *tc;
  }
  if (!tc->is_object()) throw_wrong_type("tool_choice", "a string or an object", *tc);
  FieldReader cr(*tc, "tool_choice.");
  auto type = cr.string("type");
  if (!type) missing("tool_choice.type");
  if (*type != "function") {
    throw_invalid("tool_choice.type",
                  fmt::format("tool_choice type '{}' is not supported by this server; use 'none', 'auto', "
                              "'required' or {{\"type\": \"function\", \"name\": ...}}.",
                              *type),
                  "unsupported_value");
  }
  auto name = cr.string("name");
  if (!name) missing("tool_choice.name");
  return {{"type", "function"}, {"function", {{"name", *name}}}};
}

// text.format -> response_format; `echo` gets the text config as the response repeats it.
json parse_text(const FieldReader& r, json& echo) {
  echo = {{"format", {{"type", "text"}}}, {"verbosity", "medium"}};
  const json* text = r.get("text");
  if (!text) return nullptr;
  if (!text->is_object()) throw_wrong_type("text", "an object", *text);
  FieldReader tr(*text, "text.");
  if (auto v = tr.string("verbosity")) {
    if (*v != "low" && *v != "medium" && *v != "high") {
      throw_invalid("text.verbosity", fmt::format("Invalid value for 'text.verbosity': '{}'. Supported values are: "
                                                  "'low', 'medium' and 'high'.",
                                                  *v));
    }
    echo["verbosity"] = *v;  // a hint; the server does not steer length by it
  }
  const json* f = tr.get("format");
  if (!f) return nullptr;
  if (!f->is_object()) throw_wrong_type("text.format", "an object", *f);
  FieldReader fr(*f, "text.format.");
  auto type = fr.string("type");
  if (!type) missing("text.format.type");
  if (*type == "text") return nullptr;
  if (*type == "json_object") {
    echo["format"] = {{"type", "json_object"}};
    return {{"type", "json_object"}};
  }
  if (*type != "json_schema") {
    throw_invalid("text.format.type", fmt::format("Invalid value for 'text.format.type': '{}'. Supported values "
                                                  "are: 'text', 'json_object' and 'json_schema'.",
                                                  *type));
  }
  auto name = fr.string("name");
  if (!name) missing("text.format.name");
  const json* schema = fr.get("schema");
  if (!schema) missing("text.format.schema");
  if (!schema->is_object()) throw_wrong_type("text.format.schema", "an object", *schema);
  auto strict = fr.boolean("strict");
  auto description = fr.string("description");
  json js = {{"name", *name}, {"schema", *schema}};
  if (strict) js["strict"] = *strict;
  if (description) js["description"] = *description;
  echo["format"] = {{"type", "json_schema"},
                    {"name", *name},
                    {"schema", *schema},
                    {"strict", strict ? json(*strict) : json(nullptr)},
                    {"description", description ? json(*description) : json(nullptr)}};
  return {{"type", "json_schema"}, {"json_schema", js}};
}

json parse_metadata(const FieldReader& r) {
  const json* m = r.get("metadata");
  if (!m) return json::object();
  if (!m->is_object()) throw_wrong_type("metadata", "an object", *m);
  if (m->size() > 16)
    throw_invalid("metadata", fmt::format("'metadata' has {} keys; at most 16 are allowed.", m->size()));
  for (auto it = m->begin(); it != m->end(); ++it) {
    const std::string p = "metadata." + it.key();
    if (it.key().size() > 64) throw_invalid("metadata", "Keys of 'metadata' are at most 64 characters long.");
    if (!it.value().is_string()) throw_wrong_type(p, "a string", it.value());
    if (it.value().get<std::string>().size() > 512) {
      throw_invalid(p, fmt::format("'{}' is longer than 512 characters.", p));
    }
  }
  return *m;
}

// Parameters the Responses API has that this server does not serve: a 400 rather than a
// silently different answer.
void refuse_unsupported(const FieldReader& r) {
  if (r.boolean("background").value_or(false)) {
    unsupported("background", "'background' responses are not supported by this server; use stream or a plain call.");
  }
  if (const json* reasoning = r.get("reasoning")) {
    if (!reasoning->is_object()) throw_wrong_type("reasoning", "an object", *reasoning);
    FieldReader rr(*reasoning, "reasoning.");
    auto effort = rr.string("effort");
    if (effort && *effort != "none") {
      unsupported("reasoning.effort", "Unsupported parameter: 'reasoning.effort' is not supported with this model.");
    }
    for (const char* key : {"summary", "generate_summary"}) {
      if (rr.get(key)) {
        unsupported(rr.name(key),
                    fmt::format("Unsupported parameter: 'reasoning.{}' is not supported with this model.", key));
      }
    }
  }
  if (const json* include = r.get("include")) {
    if (!include->is_array()) throw_wrong_type("include", "an array", *include);
    for (size_t i = 0; i < include->size(); ++i) {
      const json& v = (*include)[i];
      const std::string p = fmt::format("include[{}]", i);
      if (!v.is_string()) throw_wrong_type(p, "a string", v);
      // No reasoning items are ever produced, so there is nothing to encrypt.
      if (v.get<std::string>() == "reasoning.encrypted_content") continue;
      unsupported(p, fmt::format("include '{}' is not supported by this server.", v.get<std::string>()));
    }
  }
  if (auto t = r.string("truncation"); t && *t != "disabled") {
    unsupported("truncation",
                fmt::format("truncation '{}' is not supported by this server; only 'disabled' is (an input "
                            "longer than the context is a 400).",
                            *t));
  }
  for (const char* key : {"conversation", "prompt", "context_management"}) {
    if (r.get(key)) {
      unsupported(key, fmt::format("'{}' is not supported by this server; continue a conversation with "
                                   "'previous_response_id'.",
                                   key));
    }
  }
}

}  // namespace

void items_to_chat_messages(const json& items, const std::string& param, json& messages) {
  for (size_t i = 0; i < items.size(); ++i) {
    const json& item = items[i];
    const std::string p = fmt::format("{}[{}]", param, i);
    if (!item.is_object()) throw_wrong_type(p, "an object", item);
    FieldReader r(item, p + ".");
    auto type = r.string("type");
    if (!type && !r.get("role")) missing(p + ".type");
    if (!type || *type == "message") {
      auto role = r.string("role");
      if (!role) missing(p + ".role");
      if (*role != "user" && *role != "assistant" && *role != "system" && *role != "developer") {
        throw_invalid(p + ".role", fmt::format("Invalid value for '{}.role': '{}'. Supported values are: 'user', "
                                               "'assistant', 'system' and 'developer'.",
                                               p, *role));
      }
      const json* content = r.get("content");
      if (!content) missing(p + ".content");
      messages.push_back({{"role", *role}, {"content", content_text(*content, p + ".content")}});
    } else if (*type == "function_call") {
      auto call_id = r.string("call_id");
      if (!call_id) missing(p + ".call_id");
      auto name = r.string("name");
      if (!name) missing(p + ".name");
      auto arguments = r.string("arguments");
      if (!arguments) missing(p + ".arguments");
      // Calls right after an assistant message (or after each other) are that turn's calls.
      json call = tool_call_of(*call_id, *name, *arguments);
      if (!messages.empty() && messages.back().value("role", "") == "assistant") {
        json& last = messages.back();
        if (!last.contains("tool_calls")) last["tool_calls"] = json::array();
        last["tool_calls"].push_back(std::move(call));
      } else {
        messages.push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call})}});
      }
    } else if (*type == "function_call_output") {
      auto call_id = r.string("call_id");
      if (!call_id) missing(p + ".call_id");
      const json* output = r.get("output");
      if (!output) missing(p + ".output");
      messages.push_back(
          {{"role", "tool"}, {"tool_call_id", *call_id}, {"content", content_text(*output, p + ".output")}});
    } else if (*type == "reasoning") {
      continue;  // carries nothing this server's models read (it never produces them)
    } else {
      throw_invalid(p + ".type",
                    fmt::format("Input item type '{}' is not supported by this server; supported types are "
                                "'message', 'function_call', 'function_call_output' (and 'reasoning', ignored).",
                                *type),
                    "unsupported_value");
    }
  }
}

ResponsesRequest parse_responses_request(const json& body) {
  ResponsesRequest out;
  FieldReader r(body);
  refuse_unsupported(r);
  json& chat = out.chat;
  json& echo = out.skeleton;

  const json* input = r.get("input");
  if (input) {
    if (input->is_string()) {
      out.input_items.push_back({{"type", "message"}, {"role", "user"}, {"content", input->get<std::string>()}});
    } else if (input->is_array()) {
      out.input_items = *input;
      json probe = json::array();
      items_to_chat_messages(out.input_items, "input", probe);  // validates every item now
    } else {
      throw_wrong_type("input", "a string or an array of input items", *input);
    }
  }
  out.instructions = r.string("instructions");
  out.previous_response_id = r.string("previous_response_id");
  if (!input && !out.previous_response_id) missing("input");
  out.stream = r.boolean("stream").value_or(false);
  out.store = r.boolean("store").value_or(true);
  if (const json* so = r.get("stream_options")) {
    if (!so->is_object()) throw_wrong_type("stream_options", "an object", *so);
    FieldReader(*so, "stream_options.").boolean("include_obfuscation");  // no obfuscation padding is sent
  }

  auto model = r.string("model");
  if (model) chat["model"] = *model;
  auto max_output = r.integer("max_output_tokens", 1, std::numeric_limits<int32_t>::max());
  if (max_output) chat["max_tokens"] = *max_output;
  auto temperature = r.number("temperature", 0, 2);
  if (temperature) chat["temperature"] = *temperature;
  auto top_p = r.number("top_p", 0, 1);
  if (top_p) chat["top_p"] = *top_p;
  auto user = r.string("user");
  if (user) chat["user"] = *user;
  auto parallel = r.boolean("parallel_tool_calls");
  if (parallel) chat["parallel_tool_calls"] = *parallel;

  json tools_echo, choice_echo, text_echo;
  std::vector<json> tools = parse_tools(r, tools_echo);
  if (!tools.empty()) chat["tools"] = tools;
  json choice = parse_tool_choice(r, !tools.empty(), choice_echo);
  if (!choice.is_null()) chat["tool_choice"] = choice;
  json format = parse_text(r, text_echo);
  if (!format.is_null()) chat["response_format"] = format;
  json metadata = parse_metadata(r);

  // Accepted and echoed; they change nothing here.
  auto top_logprobs = r.integer("top_logprobs", 0, 20);
  auto max_tool_calls = r.integer("max_tool_calls", 1, std::numeric_limits<int32_t>::max());
  auto safety_identifier = r.string("safety_identifier");
  auto prompt_cache_key = r.string("prompt_cache_key");
  r.string("service_tier");

  echo = {{"object", "response"},
          {"status", "in_progress"},
          {"background", false},
          {"error", nullptr},
          {"incomplete_details", nullptr},
          {"instructions", out.instructions ? json(*out.instructions) : json(nullptr)},
          {"max_output_tokens", max_output ? json(*max_output) : json(nullptr)},
          {"max_tool_calls", max_tool_calls ? json(*max_tool_calls) : json(nullptr)},
          {"model", model ? json(*model) : json(nullptr)},
          {"output", json::array()},
          {"parallel_tool_calls", parallel.value_or(true)},
          {"previous_response_id", out.previous_response_id ? json(*out.previous_response_id) : json(nullptr)},
          {"prompt_cache_key", prompt_cache_key ? json(*prompt_cache_key) : json(nullptr)},
          {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}},
          {"safety_identifier", safety_identifier ? json(*safety_identifier) : json(nullptr)},
          {"service_tier", "default"},
          {"store", out.store},
          {"temperature", temperature.value_or(1.0)},
          {"text", text_echo},
          {"tool_choice", choice_echo},
          {"tools", tools_echo},
          {"top_logprobs", top_logprobs.value_or(0)},
          {"top_p", top_p.value_or(1.0)},
          {"truncation", "disabled"},
          {"usage", nullptr},
          {"user", user ? json(*user) : json(nullptr)},
          {"metadata", metadata}};
  return out;
}

json chat_body_for(const ResponsesRequest& r, const json& history) {
  json messages = json::array();
  if (r.instructions) messages.push_back({{"role", "system"}, {"content", *r.instructions}});
  items_to_chat_messages(history, "previous_response_id", messages);
  items_to_chat_messages(r.input_items, "input", messages);
  json body = r.chat;
  body["messages"] = std::move(messages);
  if (r.stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

std::string responses_param(const std::string& p) {
  if (p == "messages" || p.rfind("messages[", 0) == 0) return "input";
  if (p == "max_tokens" || p == "max_completion_tokens") return "max_output_tokens";
  static const std::string kSchema = "response_format.json_schema";
  if (p.rfind(kSchema, 0) == 0) return "text.format" + p.substr(kSchema.size());
  if (p.rfind("response_format", 0) == 0) return "text.format" + p.substr(std::string("response_format").size());
  static const std::regex kToolFn(R"(^tools\[(\d+)\]\.function(.*)$)");
  std::smatch m;
  if (std::regex_match(p, m, kToolFn)) return "tools[" + m[1].str() + "]" + m[2].str();
  static const std::string kChoiceFn = "tool_choice.function";
  if (p.rfind(kChoiceFn, 0) == 0) return "tool_choice" + p.substr(kChoiceFn.size());
  return p;
}

}  // namespace llmchain::server
