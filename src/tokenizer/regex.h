#pragma once
// A small backtracking regex engine over code points, for BPE pre-tokenizer patterns.
//
// Semantics follow what llama.cpp gets from std::regex (ECMAScript, leftmost-first
// alternation, greedy quantifiers) on its "collapsed" text: \p{L} \p{N} \p{P} \p{M}
// \p{S} are Unicode general categories (\p{Lu} etc. are treated as \p{L}, and ASCII
// '~' is not \p{S}, as in llama.cpp); \s is the White_Space property; \d, \w, \b are
// ASCII; literals and ranges compare code points, with non-ASCII whitespace seen as
// U+000B. Supported: | (?:) () (?=) (?!) (?i:) [...] [^...] . ^ $ \b \B, quantifiers
// ? * + {m} {m,} {m,n} (and lazy forms), escapes \r \n \t \f \v \0 \xHH \uHHHH \u{H..}.
//
// Runs of one-character items (e.g. \p{L}+) are matched without recursion or a
// backtrack entry per character, and repeated attempts inside one run reuse what an
// earlier attempt learnt, so a 1 MB input splits in linear time for the patterns in
// use. Matching state lives in a per-call context: a Regex is immutable and shareable.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llmchain::tokenizer::detail {

enum RegexProp : uint8_t {
  kPropN = 1 << 0,
  kPropL = 1 << 1,
  kPropP = 1 << 2,
  kPropM = 1 << 3,
  kPropS = 1 << 4,
  kPropSpace = 1 << 5,
  kPropDigit = 1 << 6,  // ASCII 0-9
  kPropWord = 1 << 7,   // ASCII [A-Za-z0-9_]
};

// Text prepared once for all the regexes of a pre-tokenizer.
struct RegexText {
  std::vector<uint32_t> cps;   // as compared by literals: non-ASCII whitespace -> U+000B
  std::vector<uint8_t> props;  // RegexProp bits per position
  void assign(const std::vector<uint32_t>& code_points);
};

class Regex {
 public:
  // Throws llmchain::Error (kUnsupported) for syntax outside the subset.
  explicit Regex(std::string_view pattern);

  // Splits t[begin, end) at the matches of the pattern and appends the lengths of the
  // pieces (matches, and the text between them) in order, skipping empty pieces. The
  // range is matched as a whole text: ^ and $ are its ends, lookahead stops at end.
  void split(const RegexText& t, size_t begin, size_t end, std::vector<size_t>& out) const;
  // The same over consecutive ranges of t given by their lengths (each one a text of its own).
  void split(const RegexText& t, const std::vector<size_t>& lengths, std::vector<size_t>& out) const;

  // End of the first match found at or after begin (leftmost-first), for tests:
  // returns false when there is none.
  bool search(const RegexText& t, size_t begin, size_t end, size_t* match_begin, size_t* match_end) const;

  const std::string& pattern() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace llmchain::tokenizer::detail
