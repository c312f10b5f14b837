#include "server/tool_calls.h"

#include "server/openai_request.h"

namespace llmchain::server {

ToolRequest parse_tool_request(const nlohmann::json& body) {
  engine::ToolRequestError problem;
  auto t = engine::parse_tool_request(body, &problem);
  if (!t.ok()) throw_invalid(problem.param, problem.message, problem.code);
  return std::move(*t);
}

}  // namespace llmchain::server
