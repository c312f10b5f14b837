#pragma once
// Internal to the regex engine: compiled form shared by the compiler and the matcher.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/regex.h"

namespace llmchain::tokenizer::detail {

inline constexpr uint32_t kInf = std::numeric_limits<uint32_t>::max();

// A set of code points: ranges and property bits, possibly negated.
struct CharClass {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  uint8_t pos = 0;  // in the class when any of these properties holds
  uint8_t neg = 0;  // in the class when any of these properties does not hold (\S inside [])
  bool negated = false;

  bool test(uint32_t c, uint8_t p) const {
    bool in = (p & pos) != 0 || (static_cast<uint8_t>(~p) & neg) != 0;
    if (!in) {
      for (const auto& r : ranges) {
        if (c >= r.first && c <= r.second) {
          in = true;
          break;
        }
      }
    }
    return in != negated;
  }
};

// One character position: every part must hold (a part may be negated). Lookaheads of
// single characters followed by one character, e.g. (?=[\p{L}])[^a-z], fold into one.
struct Matcher {
  std::vector<std::pair<int, bool>> parts;  // class index, negate
};

enum class Op : uint8_t { kChar, kRepeat, kSplit, kJmp, kLook, kBol, kEol, kWordB, kNotWordB, kMatch };

struct Inst {
  Op op = Op::kMatch;
  int32_t a = 0;  // kChar/kRepeat: matcher; kSplit: preferred pc; kJmp: pc; kLook: program
  int32_t b = 0;  // kSplit: alternative pc; kLook: 1 when negative
  uint32_t min = 0, max = 0;
};

struct Node {
  enum Kind { kEmpty, kChar, kSeq, kAlt, kRepeat, kLook, kBol, kEol, kWordB, kNotWordB } kind = kEmpty;
  int matcher = -1;
  std::vector<Node> kids;
  uint32_t min = 0, max = 0;
  bool greedy = true;
  bool negate = false;
};

struct Regex::Impl {
  std::string pattern;
  std::vector<CharClass> classes;
  std::vector<Matcher> matchers;
  std::vector<std::vector<Inst>> progs;  // progs[0] is the pattern; others are lookaheads
  std::vector<size_t> memo_base;         // first memo slot of each program
  size_t memo_size = 0;

  bool matches(int m, const RegexText& t, size_t i) const {
    for (const auto& [cls, neg] : matchers[m].parts) {
      if (classes[cls].test(t.cps[i], t.props[i]) == neg) return false;
    }
    return true;
  }
};

// Parses and compiles a pattern into re (classes, matchers, programs); throws Error.
void compile_regex(std::string_view pattern, Regex::Impl& re);

}  // namespace llmchain::tokenizer::detail
