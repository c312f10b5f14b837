#pragma once
// Unicode facts the tokenizers need, with llama.cpp's conventions:
//  - lenient UTF-8 decoding (no overlong/surrogate checks; an invalid byte becomes
//    U+FFFD and consumes one byte; values above U+10FFFF are treated as invalid),
//  - general-category flags from ICU (\p{L}, \p{N}, ...) plus the White_Space set,
//  - the GPT-2 byte <-> printable code point map used by byte-level BPE.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmchain::tokenizer::detail {

enum CpFlag : uint16_t {
  kCpUndefined = 1 << 0,   // Cn (unassigned) and anything out of range
  kCpNumber = 1 << 1,      // \p{N}
  kCpLetter = 1 << 2,      // \p{L}
  kCpSeparator = 1 << 3,   // \p{Z}
  kCpMark = 1 << 4,        // \p{M}
  kCpPunct = 1 << 5,       // \p{P}
  kCpSymbol = 1 << 6,      // \p{S}
  kCpControl = 1 << 7,     // \p{C} except Cn
  kCpWhitespace = 1 << 8,  // Unicode White_Space property
};

// Flags of one code point (category bit | kCpWhitespace). O(1) table lookup.
uint16_t cp_flags(uint32_t cp);

// Byte length llama.cpp assumes for a sequence starting with byte c (by its high nibble).
inline size_t utf8_len_lead(char c) {
  static constexpr uint8_t kLookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLookup[static_cast<uint8_t>(c) >> 4];
}

// Decodes as llama.cpp's unicode_cpts_from_utf8 (see header comment).
std::vector<uint32_t> decode_utf8(std::string_view s);
void append_utf8(std::string& out, uint32_t cp);

uint32_t to_lower(uint32_t cp);
// First code point of the canonical decomposition (llama.cpp's "NFD" map); cp itself if none.
uint32_t nfd_first(uint32_t cp);

// GPT-2 byte encoder: byte -> UTF-8 of its printable stand-in code point.
const std::string& byte_to_bpe_char(uint8_t b);
// Inverse: code point -> byte, or -1 when cp is not a stand-in.
int bpe_char_to_byte(uint32_t cp);

}  // namespace llmchain::tokenizer::detail
