#pragma once
// JSON helpers every module that speaks JSON needs: the nesting of a text measured without
// parsing or recursion, so a body can be refused before anything walks it recursively (the
// server's request parser; the fuzz harnesses apply the same gate), and a value as text that
// cannot fail.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace llmchain {

// Deepest array/object nesting the API accepts in a body. Far above any real request (OpenAI
// schemas, chat messages, chain inputs), far below what recursive consumers of the value
// (schema compiler, guards, prompt formatting) could survive.
inline constexpr int kMaxJsonDepth = 128;

// Nesting depth of `text` (strings skipped); stops counting once past `limit`.
inline int json_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// A JSON value as text. Strings that are not valid UTF-8 (YAML does not check, a model's output
// may be cut mid-character, an error quotes a client's bytes) get U+FFFD instead of the
// library's exception: a message, a prompt or an answer built from a value cannot fail.
inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A JSON value's type in OpenAI's words ("integer" and "number" apart), for messages like
// "Invalid type for 'x': expected a string, but got integer."
inline const char* json_type_name(const nlohmann::json& j) {
  using T = nlohmann::json::value_t;
  switch (j.type()) {
    case T::null: return "null";
    case T::boolean: return "boolean";
    case T::string: return "string";
    case T::array: return "array";
    case T::object: return "object";
    case T::number_float: return "number";
    case T::number_integer:
    case T::number_unsigned: return "integer";
    default: return "value";
  }
}

// OpenAI's message for a field of the wrong type.
inline std::string json_wrong_type_message(const std::string& param, const char* expected, const nlohmann::json& got) {
  return "Invalid type for '" + param + "': expected " + expected + ", but got " + json_type_name(got) + ".";
}

}  // namespace llmchain
