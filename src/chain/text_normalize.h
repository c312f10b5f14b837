#pragma once
// The text guards match against: what a reader sees, not the bytes. Rules, per code point:
//   * NFKC with case folding (ICU's NFKC_Casefold): fullwidth and other compatibility forms
//     become their plain letters and digits (＠ -> @, ｆｏｏ -> foo, ﬁ -> fi), case is folded,
//     and default-ignorable code points (zero-width space/joiners, soft hyphen, BOM, word
//     joiner, variation selectors) are dropped;
//   * decimal digits of every script become ASCII digits (Arabic-Indic ٣ -> 3);
//   * common homoglyphs of Latin letters (Cyrillic а е о р с у х і ј ѕ ԁ һ ӏ, Greek ο α ν
//     κ ι ρ τ υ χ) become those letters;
//   * whitespace of any kind (spaces, NBSP, tabs, newlines) and '_' are separators, and a
//     run of separators becomes one space.
// Every byte of the result remembers the span of the original text it came from, so a match
// in the normalized text can be redacted in the original.
#include <cstddef>
#include <string>
#include <vector>

namespace llmchain::chain {

struct NormalizedText {
  std::string text;                // UTF-8
  std::vector<size_t> begin, end;  // per byte of text: the original byte span it came from

  // The original span of text[b, e) (e > b).
  size_t original_begin(size_t b) const { return begin[b]; }
  size_t original_end(size_t e) const { return end[e - 1]; }
};

// Invalid UTF-8 bytes pass through as they are.
NormalizedText normalize_for_matching(const std::string& original);
// The same rules on a term or pattern literal (no offsets).
std::string normalize_term(const std::string& term);

}  // namespace llmchain::chain
