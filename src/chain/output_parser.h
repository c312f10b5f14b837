#pragma once
// Output parsers turn model text into a value. Each is a Runnable (input: the text, output:
// the parsed value) and gives format instructions to put into the prompt (LLMChain provides
// them as the {format_instructions} variable). A parse failure throws Error(kInternal) whose
// message starts with "output parser (<kind>):"; LLMChain retries the model on it.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chain/runnable.h"

namespace re2 {
class RE2;
}

namespace llmchain::chain {

class OutputParser : public Runnable {
 public:
  virtual Json parse(const std::string& text) const = 0;
  virtual std::string format_instructions() const = 0;
  // Schema to pass to the model for constrained decoding (JSON parser with a schema).
  virtual std::optional<Json> constraint_schema() const { return std::nullopt; }
  Json input_schema() const override { return {{"type", "string"}}; }
  const char* run_type() const override { return "parser"; }

  // Streaming, as LangChain's parsers transform a model's stream: called with the model's text
  // so far after each new piece, and once more at the end with `final_value` = parse(text);
  // emits this parser's chunks. Default: the parsed value once, at the end (so a stream's
  // chunks always have the type of the output).
  struct StreamState {
    Json last;  // the last chunk emitted
    bool emitted = false;
    size_t items = 0;  // list parsers: items emitted
  };
  virtual void stream_chunks(StreamState& st, const std::string& text, const std::string& piece,
                             const Json* final_value, const ChunkCallback& emit) const;

 protected:
  using Runnable::Runnable;
  // Accepts a string (or any value, which is dumped to text first).
  Json do_invoke(const Json& input, const RunConfig& config) override;
};

using OutputParserPtr = std::shared_ptr<OutputParser>;

// Returns the text unchanged (trimmed when trim is set).
class StrOutputParser : public OutputParser {
 public:
  explicit StrOutputParser(bool trim = false) : OutputParser("str_parser"), trim_(trim) {}
  Json parse(const std::string& text) const override;
  std::string format_instructions() const override { return ""; }
  Json output_schema() const override { return {{"type", "string"}}; }
  // The model's pieces as they come.
  void stream_chunks(StreamState& st, const std::string& text, const std::string& piece, const Json* final_value,
                     const ChunkCallback& emit) const override;

 private:
  bool trim_;
};

// Finds the JSON value in the text (``` fences and surrounding prose are tolerated) and, with
// a schema, validates it.
class JsonOutputParser : public OutputParser {
 public:
  explicit JsonOutputParser(std::optional<Json> schema = std::nullopt);
  Json parse(const std::string& text) const override;
  std::string format_instructions() const override;
  std::optional<Json> constraint_schema() const override { return schema_; }
  Json output_schema() const override { return schema_ ? *schema_ : Json::object(); }
  // The partial value parsed so far, each time it changes (LangChain's JsonOutputParser).
  void stream_chunks(StreamState& st, const std::string& text, const std::string& piece, const Json* final_value,
                     const ChunkCallback& emit) const override;

 private:
  std::optional<Json> schema_;
};

// "a, b, c" -> ["a", "b", "c"] (items trimmed, empty items dropped; a trailing period is removed).
class CommaSeparatedListParser : public OutputParser {
 public:
  CommaSeparatedListParser() : OutputParser("list_parser") {}
  Json parse(const std::string& text) const override;
  std::string format_instructions() const override;
  Json output_schema() const override { return {{"type", "array"}, {"items", {{"type", "string"}}}}; }
  // Each item as a one-item list once it is complete (LangChain's list parser).
  void stream_chunks(StreamState& st, const std::string& text, const std::string& piece, const Json* final_value,
                     const ChunkCallback& emit) const override;
};

// The JSON value a prefix of a document stands for, as LangChain's parse_partial_json reads
// it: open strings, arrays and objects closed, a dangling key or partial literal dropped.
// Leading prose and a ``` fence are skipped. nullopt when nothing can be made of it yet.
std::optional<Json> parse_partial_json(std::string_view text);

// Matches a regex (RE2 syntax: linear time; no lookaround or backreferences) with named
// groups "(?<name>...)" or "(?P<name>...)" and returns {"name": "match"}. Unnamed groups are
// not returned. Unmatched optional groups give "".
class RegexParser : public OutputParser {
 public:
  // Throws Error(kInvalidArgument) on an invalid pattern or one without named groups.
  explicit RegexParser(const std::string& pattern, bool icase = false);
  Json parse(const std::string& text) const override;
  std::string format_instructions() const override;
  Json output_schema() const override;
  const std::vector<std::string>& group_names() const { return names_; }

 private:
  std::string pattern_;
  std::shared_ptr<const re2::RE2> re_;
  std::vector<std::string> names_;  // names_[i] is capture group groups_[i]
  std::vector<size_t> groups_;
};

}  // namespace llmchain::chain
