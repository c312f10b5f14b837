#pragma once
// Translation of JSON Schema `pattern` (an ECMAScript regex subset) into a GBNF
// expression over the *escaped* content of a JSON string (what sits between
// the quotes), so `"` `\` and control characters are produced as escapes.
//
// Supported: literals, `.`, classes `[...]` / `[^...]` with ranges, \d \w \s
// \D \W \S, escapes (\t \n \r \f \v \0 \xHH \uHHHH and escaped punctuation),
// groups `(...)` and `(?:...)`, `|`, quantifiers `* + ? {m} {m,} {m,n}` (lazy
// forms allowed: they do not change which strings match), `^` at the start and
// `$` at the end. Without `^`/`$` any text may precede/follow (search
// semantics). Anything else (lookaround, backreferences, \b, \p{..}, anchors
// elsewhere) is an error (kUnsupported). Character classes are generated as
// safe subsets where engines differ: \s is ASCII whitespace, \D \W \S only
// produce ASCII, `.` never produces a line terminator.
#include <string>
#include <string_view>

#include "base/error.h"

namespace llmchain::sampling {

// json_char_rule: name of a rule matching one escaped JSON string character,
// used for the unanchored prefix/suffix. `where` is the JSON pointer for errors.
std::string regex_to_gbnf(std::string_view pattern, const std::string& json_char_rule, const std::string& where);

}  // namespace llmchain::sampling
