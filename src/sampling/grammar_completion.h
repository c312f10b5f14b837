#pragma once
// Shortest completions of a Grammar, in bytes: the data budget-aware
// constrained decoding needs (see GrammarMatcher::can_accept_token_within).
//
// For every element position, the fewest bytes that finish its alternative
// from there (kEnd: 0); for every rule, the fewest bytes of a sentence it
// derives and the alternative that achieves it; for every charset, its
// shortest character (the lowest code point of the shortest UTF-8 length).
// These are exact minima over byte strings, found as a least fixed point
// (Knuth's generalisation of shortest paths to grammars). The choice of
// alternative only changes on a strict improvement and the grammar has no
// left recursion (so no cycle of empty derivations), hence expanding the
// chosen alternatives always ends; append_suffix still caps its work.
#include <cstdint>
#include <string>
#include <vector>

#include "sampling/grammar.h"

namespace llmchain::sampling {

class CompletionTable {
 public:
  static constexpr uint32_t kInf = 1u << 30;  // "cannot be completed" (saturating)

  explicit CompletionTable(const Grammar& g);

  // Bytes to finish the alternative from elems[pos] on (pos may be a kEnd).
  uint32_t suffix_bytes(uint32_t pos) const { return suffix_[pos]; }
  // UTF-8 length of the charset's shortest character; kInf when it matches none.
  uint32_t char_bytes(uint32_t charset) const { return char_len_[charset]; }
  // Appends a shortest string for elems[pos..kEnd). False when it would pass
  // max_bytes (or the work cap): `out` is then unspecified.
  bool append_suffix(uint32_t pos, std::string& out, size_t max_bytes) const;
  // Appends the charset's shortest character (char_bytes() must be finite).
  void append_char(uint32_t charset, std::string& out) const;

  static uint32_t add(uint32_t a, uint32_t b) { return a + b >= kInf ? kInf : a + b; }

 private:
  const Grammar& g_;
  std::vector<uint32_t> suffix_;    // per element position
  std::vector<uint32_t> best_alt_;  // per rule: start of its shortest alternative
  std::vector<uint32_t> char_len_;  // per charset
  std::vector<uint32_t> char_cp_;   // per charset: the shortest character
};

// The first code point in [lo, hi] that `cs` matches, skipping surrogates;
// -1 when there is none.
int64_t first_match(const CharSet& cs, uint32_t lo, uint32_t hi);

// Appends the UTF-8 encoding of a code point (no validation).
void append_utf8(uint32_t cp, std::string& out);

}  // namespace llmchain::sampling
