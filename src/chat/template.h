#pragma once
// A Jinja2 template, parsed once and rendered many times. The supported
// language is the subset that published chat templates use (see
// docs in the report / tests/unit/chat): expressions, filters, tests, if/for/
// set/macro/call/filter/with blocks, namespace(), loop controls, and HF's
// globals raise_exception() and strftime_now().
//
// Whitespace follows HF transformers' environment: trim_blocks and
// lstrip_blocks on, trailing newline of the source dropped.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"

namespace llmchain::chat {

struct Program;

struct TemplateOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
  // Resource limits for render(): hostile templates fail with kResourceExhausted.
  size_t max_output_bytes = 16u << 20;
  size_t max_list_items = 1u << 20;
  int64_t max_loop_iterations = 1'000'000;
  int max_call_depth = 64;
  uint64_t max_work = 1ull << 28;  // scans, comparisons, conversions (chat/value.h WorkBudget)
};

class Template {
 public:
  // Syntax errors read "name:line: message".
  static Expected<Template> parse(std::string source, std::string name = "template",
                                  const TemplateOptions& options = TemplateOptions());

  // context must be a JSON object; its keys are the template's variables.
  // Runtime errors read "name:line: message". Thread-safe.
  Expected<std::string> render(const nlohmann::json& context) const;
  // Same, keeping the context's key order (nlohmann::json sorts object keys;
  // HF renders dicts, e.g. tool schemas under tojson, in insertion order).
  Expected<std::string> render_ordered(const nlohmann::ordered_json& context) const;

  const std::string& name() const;
  // True when the source compares against a 'text' string literal: the
  // template handles OpenAI-style content parts ([{type: text, text}]).
  bool handles_content_parts() const;
  // True when the source reads the variable 'tools' (it renders tool definitions).
  bool handles_tools() const;

 private:
  template <typename Json>
  Expected<std::string> render_json(const Json& context) const;
  Template(std::shared_ptr<const Program> program, const TemplateOptions& options)
      : program_(std::move(program)), options_(options) {}
  std::shared_ptr<const Program> program_;
  TemplateOptions options_;
};

}  // namespace llmchain::chat
