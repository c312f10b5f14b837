#pragma once
// UTF-8 helpers shared by the tokenizer, detokenizer and stop-string logic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmchain::utf8 {

// Length of the sequence introduced by lead byte c (1 for invalid leads).
inline size_t sequence_length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}

// Decodes one code point at s[i]; advances i. Invalid bytes give U+FFFD and advance by 1.
uint32_t decode(std::string_view s, size_t& i);
void append(std::string& out, uint32_t cp);
std::vector<uint32_t> to_codepoints(std::string_view s);
std::string from_codepoints(const std::vector<uint32_t>& cps);
bool is_valid(std::string_view s);
// Number of bytes at the end of s that form an incomplete (but so far valid) sequence.
size_t incomplete_tail(std::string_view s);
// Replaces invalid sequences with U+FFFD.
std::string sanitize(std::string_view s);

}  // namespace llmchain::utf8
