#pragma once
// A GBNF grammar compiled to flat rules: the pushdown automaton's program.
//
// Each rule is a list of alternatives; each alternative is a run of elements
// in `elems` ending with kEnd. An element either matches one code point
// (kChars, a CharSet) or calls another rule (kRule). Repetition operators are
// rewritten into generated right-recursive rules at parse time, so the matcher
// only knows sequence, choice and call. Left recursion is rejected at compile
// time (it would make the automaton loop without consuming input).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace llmchain::sampling {

struct CharSet {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive code point ranges
  bool negated = false;

  bool matches(uint32_t cp) const;
  // True when some code point in [lo, hi] matches.
  bool intersects(uint32_t lo, uint32_t hi) const;
};

enum class ElemType : uint8_t { kEnd, kChars, kRule };

struct Elem {
  ElemType type;
  uint32_t arg;  // kChars: index into charsets; kRule: rule id
};

struct Grammar {
  std::vector<std::string> rule_names;
  std::vector<std::vector<uint32_t>> rule_alts;  // per rule: start positions in elems
  std::vector<Elem> elems;
  std::vector<CharSet> charsets;
  uint32_t root = 0;
};

// Parses GBNF (llama.cpp's grammar format): `name ::= alternatives`, `|`,
// grouping, `*` `+` `?` `{m}` `{m,}` `{m,n}`, "literals", [classes] with ranges
// and `^`, `.`, escapes (\n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH) and
// `#` comments. Errors (kInvalidArgument) name the line and column.
Expected<std::shared_ptr<const Grammar>> parse_gbnf(std::string_view text, std::string_view root = "root");

}  // namespace llmchain::sampling
