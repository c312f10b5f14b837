#include "chain/output_parser.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>

#include "base/json_util.h"
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
  return parse(input.is_string() ? input.get<std::string>() : json_text(input));
}

Json StrOutputParser::parse(const std::string& text) const { return trim_ ? trim(text) : text; }

void OutputParser::stream_chunks(StreamState& st, const std::string&, const std::string&, const Json* final_value,
                                 const ChunkCallback& emit) const {
  if (!final_value) return;
  st.last = *final_value;
  st.emitted = true;
  emit(*final_value);
}

void StrOutputParser::stream_chunks(StreamState& st, const std::string&, const std::string& piece,
                                    const Json* final_value, const ChunkCallback& emit) const {
  if (final_value || piece.empty()) return;
  st.emitted = true;
  emit(Json(piece));
}

std::optional<Json> parse_partial_json(std::string_view text) {
  // Start at the document: after a ``` fence if there is one, at the first { or [.
  if (size_t fence = text.find("```"); fence != std::string_view::npos) {
    size_t nl = text.find('\n', fence);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (size_t close = text.find("```"); close != std::string_view::npos) text = text.substr(0, close);
  }
  size_t start = text.find_first_of("{[");
  if (start == std::string_view::npos) return std::nullopt;
  text = text.substr(start);
  std::string chars;
  chars.reserve(text.size() + 8);
  std::string closers;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (c == '"' && !escaped) {
        in_string = false;
      } else if (c == '\n' && !escaped) {
        chars += "\\n";
        continue;
      } else if (c == '\\') {
        escaped = !escaped;
      } else {
        escaped = false;
      }
    } else if (c == '"') {
      in_string = true;
      escaped = false;
    } else if (c == '{') {
      closers.push_back('}');
    } else if (c == '[') {
      closers.push_back(']');
    } else if (c == '}' || c == ']') {
      if (closers.empty() || closers.back() != c) return std::nullopt;
      closers.pop_back();
      if (closers.empty()) {  // the document is complete: what follows is not part of it
        chars += c;
        break;
      }
    }
    chars += c;
  }
  if (in_string) {
    if (escaped) chars.pop_back();
    chars += '"';
  }
  std::string tail(closers.rbegin(), closers.rend());
  // Drop what cannot end a value yet (a dangling key, "tru", "1.") a character at a time, a
  // bounded number of times (each try is a parse of the whole prefix).
  for (int tries = 0; tries < 48 && !chars.empty(); ++tries) {
    Json v = Json::parse(chars + tail, nullptr, false);
    if (!v.is_discarded()) return v;
    chars.pop_back();
  }
  return std::nullopt;
}

void JsonOutputParser::stream_chunks(StreamState& st, const std::string& text, const std::string&,
                                     const Json* final_value, const ChunkCallback& emit) const {
  std::optional<Json> v = final_value ? std::optional<Json>(*final_value) : parse_partial_json(text);
  if (!v || (st.emitted && *v == st.last)) return;
  st.last = *v;
  st.emitted = true;
  emit(*v);
}

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
  return "Respond with a single JSON value that conforms to this JSON Schema, and nothing else:\n" +
         json_text(*schema_);
}

// ---- list ----

void CommaSeparatedListParser::stream_chunks(StreamState& st, const std::string& text, const std::string&,
                                             const Json* final_value, const ChunkCallback& emit) const {
  Json items = Json::array();
  if (final_value) {
    items = *final_value;
  } else {
    size_t last_comma = text.rfind(',');
    if (last_comma == std::string::npos) return;
    items = parse(text.substr(0, last_comma));  // the items before the last comma are complete
  }
  for (; st.items < items.size(); ++st.items) {
    st.emitted = true;
    emit(Json::array({items[st.items]}));
  }
}

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
  // RE2 (linear time whatever the pattern and the output's length); the ECMAScript spelling
  // of named groups "(?<name>" is rewritten to RE2's "(?P<name>" outside character classes.
  std::string rewritten;
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
    if (c == '(' && pattern.compare(i, 3, "(?<") == 0 && i + 3 < pattern.size() && pattern[i + 3] != '=' &&
        pattern[i + 3] != '!') {
      rewritten += "(?P<";
      i += 2;
      continue;
    }
    rewritten += c;
  }
  re2::RE2::Options o;
  o.set_log_errors(false);
  o.set_case_sensitive(!icase);
  o.set_max_mem(8 << 20);
  re_ = std::make_shared<const re2::RE2>(rewritten, o);
  if (!re_->ok()) {
    fail(ErrorCode::kInvalidArgument, "regex parser: invalid pattern '{}' (RE2 syntax): {}", pattern, re_->error());
  }
  // Names in the order their groups open.
  std::vector<std::pair<int, std::string>> named;
  for (const auto& [name, index] : re_->NamedCapturingGroups()) named.emplace_back(index, name);
  std::sort(named.begin(), named.end());
  for (auto& [index, name] : named) {
    names_.push_back(name);
    groups_.push_back(static_cast<size_t>(index));
  }
  if (names_.empty())
    fail(ErrorCode::kInvalidArgument, "regex parser: pattern '{}' has no named groups (?<name>...)", pattern);
}

Json RegexParser::parse(const std::string& text) const {
  std::vector<re2::StringPiece> groups(static_cast<size_t>(re_->NumberOfCapturingGroups()) + 1);
  if (!re_->Match(text, 0, text.size(), re2::RE2::UNANCHORED, groups.data(), static_cast<int>(groups.size()))) {
    std::string shown = text.size() > 2000 ? text.substr(0, 2000) + "..." : text;
    fail(ErrorCode::kOutputParseFailed, "output parser (regex): output does not match /{}/: {}", pattern_, shown);
  }
  Json out = Json::object();
  for (size_t i = 0; i < names_.size(); ++i) {
    const re2::StringPiece& g = groups[groups_[i]];
    out[names_[i]] = g.data() ? std::string(g.data(), g.size()) : std::string();
  }
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
