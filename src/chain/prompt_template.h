#pragma once
// Prompt templates. PromptTemplate renders "{variable}" placeholders ("{{" and "}}" are literal
// braces) into a string; ChatPromptTemplate renders a list of role messages plus
// MessagesPlaceholder slots (conversation history) into a JSON array of messages.
//
// As Runnables: input is an object of variables (or a bare string when the template has exactly
// one input variable); output is a string (PromptTemplate) or a messages array (Chat...).
// Unused inputs are ignored; a missing variable throws Error(kInvalidArgument) naming it.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "chain/message.h"
#include "chain/runnable.h"

namespace llmchain::chain {

enum class TemplateFormat {
  kFString,  // {name} placeholders
  kJinja,    // {{ name }} / {% ... %} rendered by chat::Template (when the chat module is built)
};

// Common surface of string and chat prompts (what LLMChain needs).
// A prompt variable's input schema: a string (variables are not typed yet), titled as
// LangServe titles fields ("product_name" -> "Product Name").
Json variable_schema(const std::string& name);

class BasePromptTemplate : public Runnable {
 public:
  // Variables the caller must supply, in order of first appearance; partials excluded.
  virtual std::vector<std::string> input_variables() const = 0;
  virtual bool is_chat() const = 0;
  // String prompt (PromptTemplate) or array of messages (ChatPromptTemplate).
  virtual Json format_prompt(const Json& variables) const = 0;
  Json input_schema() const override;
  const char* run_type() const override { return "prompt"; }

 protected:
  using Runnable::Runnable;
  // Accepts an object, or a bare value when there is exactly one input variable.
  Json normalize_input(const Json& input) const;
  Json do_invoke(const Json& input, const RunConfig& config) override { return format_prompt(normalize_input(input)); }
};

class PromptTemplate : public BasePromptTemplate {
 public:
  // Throws Error(kInvalidArgument) on a malformed template (unbalanced braces, empty name).
  explicit PromptTemplate(std::string source, TemplateFormat format = TemplateFormat::kFString);
  static std::shared_ptr<PromptTemplate> from_template(std::string source,
                                                       TemplateFormat format = TemplateFormat::kFString) {
    return std::make_shared<PromptTemplate>(std::move(source), format);
  }

  std::vector<std::string> input_variables() const override;
  bool is_chat() const override { return false; }
  Json format_prompt(const Json& variables) const override { return format(variables); }
  Json output_schema() const override { return {{"type", "string"}}; }

  // Renders with variables (an object); partial variables fill what variables lack.
  std::string format(const Json& variables) const;
  // A copy with some variables bound (they leave input_variables()).
  std::shared_ptr<PromptTemplate> partial(const Json& variables) const;

  const std::string& source() const { return source_; }
  TemplateFormat template_format() const { return format_; }
  // Every variable the template references, partials included.
  const std::vector<std::string>& all_variables() const { return variables_; }
  const Json& partial_variables() const { return partials_; }

 private:
  struct Segment {
    bool is_variable;
    std::string text;  // literal text or variable name
  };
  std::string source_;
  TemplateFormat format_;
  std::vector<Segment> segments_;
  std::vector<std::string> variables_;
  Json partials_ = Json::object();
  std::shared_ptr<const void> jinja_;  // parsed chat::Template when format_ == kJinja
};

// Renders one value into a prompt: strings as-is, message arrays as "role: content" lines,
// anything else as compact JSON.
std::string value_to_prompt_text(const Json& value);

// A slot for a list of messages (e.g. conversation history) in a ChatPromptTemplate.
struct MessagesPlaceholder {
  std::string variable;
  bool optional = false;  // when true a missing variable renders as no messages
};

// One part of a chat prompt: {"role", "template text"} or a MessagesPlaceholder.
struct ChatPart {
  ChatPart(std::string role, std::string text, TemplateFormat format = TemplateFormat::kFString);
  ChatPart(MessagesPlaceholder placeholder);  // NOLINT: implicit by design (brace lists)

  std::string role;                      // empty for a placeholder
  std::shared_ptr<PromptTemplate> tmpl;  // null for a placeholder
  MessagesPlaceholder placeholder;
};

class ChatPromptTemplate : public BasePromptTemplate {
 public:
  explicit ChatPromptTemplate(std::vector<ChatPart> parts);
  static std::shared_ptr<ChatPromptTemplate> from_messages(std::vector<ChatPart> parts) {
    return std::make_shared<ChatPromptTemplate>(std::move(parts));
  }

  std::vector<std::string> input_variables() const override;
  bool is_chat() const override { return true; }
  Json format_prompt(const Json& variables) const override { return messages_to_json(format_messages(variables)); }
  Json output_schema() const override;

  std::vector<Message> format_messages(const Json& variables) const;
  std::shared_ptr<ChatPromptTemplate> partial(const Json& variables) const;
  const std::vector<ChatPart>& parts() const { return parts_; }
  // Names of the placeholder variables (e.g. "history").
  std::vector<std::string> placeholder_variables() const;

 private:
  std::vector<ChatPart> parts_;
};

}  // namespace llmchain::chain
