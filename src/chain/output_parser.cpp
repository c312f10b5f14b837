#include "chain/output_parser.h"

#include <fmt/format.h>

#include "chain/json_schema.h"

namespace llmchain::chain {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace

Json OutputParser::do_invoke(const Json& input, const RunConfig&) {
  return parse(input.is_string() ? input.get<std::string>() : input.dump());
}

Json StrOutputParser::parse(const std::string& text) const { return trim_ ? trim(text) : text; }

// ---- JSON ----

JsonOutputParser::JsonOutputParser(std::optional<Json> schema)
    : OutputParser("json_parser"), schema_(std::move(schema)) {
  if (schema_ && !schema_->is_object()) fail(ErrorCode::kInvalidArgument, "json parser: schema must be an object");
}

Json JsonOutputParser::parse(const std::string& text) const {
  Json value = extract_json(text);
  if (schema_) {
    if (auto err = validate_json_schema(value, *schema_)) {
      std::string shown = text.size() > 2000 ? text.substr(0, 2000) + "..." : text;
      fail(ErrorCode::kOutputParseFailed,
           "output parser (json): output does not match the schema: {}; model output: {}", *err, shown);
    }
  }
  return value;
}

std::string JsonOutputParser::format_instructions() const {
  if (!schema_) return "Respond with a single valid JSON value and nothing else.";
  return "Respond with a single JSON value that conforms to this JSON Schema, and nothing else:\n" + schema_->dump();
}

// ---- list ----

Json CommaSeparatedListParser::parse(const std::string& text) const {
  std::string s = trim(text);
  if (!s.empty() && s.back() == '.') s.pop_back();
  Json out = Json::array();
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = trim(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string CommaSeparatedListParser::format_instructions() const {
  return "Your response should be a list of comma separated values, eg: `foo, bar, baz`";
}

// ---- regex ----

RegexParser::RegexParser(const std::string& pattern, bool icase) : OutputParser("regex_parser"), pattern_(pattern) {
  // std::regex has no named groups: rewrite "(?<name>" to "(" and remember which capture
  // group each name is, counting every capturing '(' outside character classes.
  std::string rewritten;
  size_t group = 0;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      rewritten += c;
      rewritten += pattern[++i];
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      rewritten += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      rewritten += c;
      continue;
    }
    if (c == '(') {
      if (pattern.compare(i, 3, "(?<") == 0 && i + 3 < pattern.size() && pattern[i + 3] != '=' &&
          pattern[i + 3] != '!') {
        size_t close = pattern.find('>', i + 3);
        if (close == std::string::npos)
          fail(ErrorCode::kInvalidArgument, "regex parser: unterminated group name in '{}'", pattern);
        names_.push_back(pattern.substr(i + 3, close - i - 3));
        groups_.push_back(++group);
        rewritten += '(';
        i = close;
        continue;
      }
      if (i + 1 >= pattern.size() || pattern[i + 1] != '?') ++group;
    }
    rewritten += c;
  }
  if (names_.empty())
    fail(ErrorCode::kInvalidArgument, "regex parser: pattern '{}' has no named groups (?<name>...)", pattern);
  try {
    auto flags = std::regex::ECMAScript;
    if (icase) flags |= std::regex::icase;
    re_ = std::regex(rewritten, flags);
  } catch (const std::regex_error& e) {
    fail(ErrorCode::kInvalidArgument, "regex parser: invalid pattern '{}': {}", pattern, e.what());
  }
}

Json RegexParser::parse(const std::string& text) const {
  std::smatch m;
  if (!std::regex_search(text, m, re_)) {
    std::string shown = text.size() > 2000 ? text.substr(0, 2000) + "..." : text;
    fail(ErrorCode::kOutputParseFailed, "output parser (regex): output does not match /{}/: {}", pattern_, shown);
  }
  Json out = Json::object();
  for (size_t i = 0; i < names_.size(); ++i) out[names_[i]] = m[groups_[i]].matched ? m[groups_[i]].str() : "";
  return out;
}

std::string RegexParser::format_instructions() const {
  return fmt::format("Your response must match the regular expression /{}/.", pattern_);
}

Json RegexParser::output_schema() const {
  Json props = Json::object();
  for (const auto& n : names_) props[n] = {{"type", "string"}};
  return {{"type", "object"}, {"properties", props}, {"required", names_}};
}

}  // namespace llmchain::chain
