#pragma once
// OpenAI function calling for /v1/chat/completions: reading the `tools`, `tool_choice` and
// `parallel_tool_calls` parameters into the engine's ToolRequest (engine/tool_calls.h, which
// owns the constraint and the parsing of calls out of a model's reply).
#include <nlohmann/json.hpp>

#include "engine/tool_calls.h"

namespace llmchain::server {

using engine::parse_tool_output;
using engine::tool_constraint;
using engine::ToolCall;
using engine::ToolMode;
using engine::ToolOutput;
using engine::ToolRequest;
using engine::ToolSpec;
using engine::ToolStreamFilter;

// Reads tools / tool_choice / parallel_tool_calls of a chat request body.
// Throws ApiException (400) naming the field for malformed values.
ToolRequest parse_tool_request(const nlohmann::json& body);

}  // namespace llmchain::server
