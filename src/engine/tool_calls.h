#pragma once
// Tool calls of local models: what a request's tools ask of the model (the sampling
// constraint that makes a forced call valid JSON for the function's parameter schema), and
// reading calls back out of the generated text in the formats models write them
// (<tool_call>...</tool_call>, [TOOL_CALLS][...], a bare call object), also while streaming.
// The OpenAI routes parse `tools` / `tool_choice` into a ToolRequest (server/tool_calls.h);
// the rest lives here, with the engine and its chat templates.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "sampling/params.h"
#include "sampling/stop_matcher.h"

namespace llmchain::engine {

enum class ToolMode {
  kNone,      // no tools, or tool_choice "none": plain text
  kAuto,      // the model decides; calls are recognised in its reply
  kRequired,  // tool_choice "required": one call to one of the tools
  kNamed,     // tool_choice {"type":"function","function":{"name":...}}: that call
};

struct ToolSpec {
  std::string name;
  nlohmann::json parameters;  // JSON Schema of the arguments ({"type":"object"} when absent)
};

struct ToolRequest {
  nlohmann::json tools = nullptr;  // the request's tools array (for the chat template); null: none
  std::vector<ToolSpec> specs;
  ToolMode mode = ToolMode::kNone;
  std::string forced;  // kNamed: the function's name
  bool parallel = true;
  bool any() const { return mode != ToolMode::kNone; }
  const ToolSpec* find(std::string_view name) const;
  // The function whose arguments object is the whole reply (kNamed, or
  // kRequired with a single tool); nullptr otherwise.
  const ToolSpec* direct_target() const;
  // The finish_reason of a reply that made calls: OpenAI reports "stop" for a
  // call forced by name and "tool_calls" otherwise.
  const char* calls_finish_reason() const { return mode == ToolMode::kNamed ? "stop" : "tool_calls"; }
};

// A request's tools that cannot be used: the field (OpenAI's `param`, e.g. "tools[0].function.name"),
// the message, and OpenAI's error code (invalid_value, invalid_type, missing_required_parameter...).
struct ToolRequestError {
  std::string param;
  std::string message;
  std::string code;
};

// Reads the tools / tool_choice / parallel_tool_calls of an OpenAI chat request (or of a chain's
// model parameters). A bad value is an Error(kInvalidArgument) with the message; `problem`, when
// given, also gets the field and code.
Expected<ToolRequest> parse_tool_request(const nlohmann::json& body, ToolRequestError* problem = nullptr);

// kRequired / kNamed: the constraint that makes the reply a valid call
// (kNamed: the arguments object itself; kRequired: {"name", "arguments"}).
// kNone / kAuto: empty.
sampling::Constraint tool_constraint(const ToolRequest& t);

// "call_" + 24 random alphanumerics, as OpenAI's ids.
std::string new_tool_call_id();

struct ToolCall {
  std::string id;  // new_tool_call_id()
  std::string name;
  std::string arguments;  // JSON text, as OpenAI returns it
  nlohmann::json to_json() const;
  // For a stream delta: {"index", "id", "type", "function": {"name", "arguments"}}.
  nlohmann::json to_delta(int index) const;
};

struct ToolOutput {
  std::string content;  // text outside the calls (trimmed)
  std::vector<ToolCall> calls;
};

// Splits a finished reply into content and calls. kNamed: the reply is the
// arguments. kRequired: {"name","arguments"}. kAuto: <tool_call>{...}</tool_call>
// blocks (the closing tag may be cut off by the end of generation),
// [TOOL_CALLS][...], or a reply that is exactly one {"name": <known tool>,
// "arguments"|"parameters": {...}} object or an array of them. Only calls to
// declared tools count; anything else stays content.
ToolOutput parse_tool_output(const ToolRequest& t, const std::string& text);

// Streaming in kAuto mode: passes content through as it comes, holding back
// only text that may still turn out to be a tool call (a reply that starts
// like JSON, or text from a call marker on), then parses the whole reply.
class ToolStreamFilter {
 public:
  explicit ToolStreamFilter(const ToolRequest& t);
  // Appends generated text; returns the content that is safe to send now.
  std::string feed(const std::string& piece);
  // At the end: the content not sent yet, and the calls found.
  ToolOutput finish();

 private:
  const ToolRequest& t_;
  sampling::StopMatcher markers_;  // the call markers as stop strings
  std::string all_;
  size_t pushed_ = 0;           // bytes of all_ given to markers_
  size_t sent_ = 0;             // bytes of all_ returned as content
  bool held_for_good_ = false;  // a call marker (or a leading JSON value) was seen
};

}  // namespace llmchain::engine
