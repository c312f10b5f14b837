#pragma once
// Pieces shared by the JSON Schema converter's files: which keywords are
// known, JSON pointer escaping, and the two kinds of error (a keyword we cannot
// enforce: kUnsupported; a schema that is wrong: kInvalidArgument), both naming
// the JSON pointer.
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "base/error.h"

namespace llmchain::sampling::schema {

inline const std::set<std::string> kAnnotations = {"title",    "description", "examples",   "$schema",  "$id",
                                                   "$comment", "default",     "deprecated", "readOnly", "writeOnly"};
inline const std::set<std::string> kSupported = {"type",
                                                 "properties",
                                                 "required",
                                                 "additionalProperties",
                                                 "enum",
                                                 "const",
                                                 "items",
                                                 "minItems",
                                                 "maxItems",
                                                 "anyOf",
                                                 "oneOf",
                                                 "allOf",
                                                 "$ref",
                                                 "$defs",
                                                 "definitions",
                                                 "minLength",
                                                 "maxLength",
                                                 "pattern",
                                                 "format",
                                                 "minimum",
                                                 "maximum",
                                                 "exclusiveMinimum",
                                                 "exclusiveMaximum",
                                                 "minProperties",
                                                 "maxProperties"};
// Keywords that bound numbers.
inline const std::set<std::string> kNumberBounds = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};

inline std::string pointer_escape(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

[[noreturn]] inline void unsupported(const std::string& ptr, const std::string& what) {
  fail(ErrorCode::kUnsupported, "JSON schema: unsupported {} at '{}'", what, ptr.empty() ? "/" : ptr);
}
[[noreturn]] inline void bad(const std::string& ptr, const std::string& what) {
  fail(ErrorCode::kInvalidArgument, "JSON schema: '{}' {}", ptr.empty() ? "/" : ptr, what);
}

// Every keyword of schema object `s` (at `ptr`) is supported or an annotation.
inline void check_keywords(const nlohmann::json& s, const std::string& ptr) {
  for (auto it = s.begin(); it != s.end(); ++it) {
    if (!kAnnotations.count(it.key()) && !kSupported.count(it.key())) {
      unsupported(ptr + "/" + pointer_escape(it.key()), fmt::format("keyword '{}'", it.key()));
    }
  }
}

}  // namespace llmchain::sampling::schema
