#pragma once
// Bridge to the chat module's Jinja renderer for TemplateFormat::kJinja prompts.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace llmchain::chain {

// Parses the template; throws Error(kInvalidArgument) on syntax errors.
std::shared_ptr<const void> jinja_parse(const std::string& source);
// Renders a template returned by jinja_parse with ctx (an object).
std::string jinja_render(const std::shared_ptr<const void>& tmpl, const nlohmann::json& ctx);
// Free top-level variables the template reads (loop variables, set targets, attributes,
// filters and function names excluded), in order of first appearance.
std::vector<std::string> jinja_variables(const std::string& source);

}  // namespace llmchain::chain
