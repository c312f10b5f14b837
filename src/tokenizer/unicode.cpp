#include "tokenizer/unicode.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <array>
#include <mutex>

#include "base/utf8.h"

namespace llmchain::tokenizer::detail {
namespace {

constexpr uint32_t kMaxCp = 0x110000;

uint16_t category_flag(int8_t cat) {
  switch (cat) {
    case U_UNASSIGNED: return kCpUndefined;  // Cn
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER: return kCpLetter;
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK: return kCpMark;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER: return kCpNumber;
    case U_SPACE_SEPARATOR:
    case U_LINE_SEPARATOR:
    case U_PARAGRAPH_SEPARATOR: return kCpSeparator;
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE: return kCpControl;
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION: return kCpPunct;
    case U_MATH_SYMBOL:
    case U_CURRENCY_SYMBOL:
    case U_MODIFIER_SYMBOL:
    case U_OTHER_SYMBOL: return kCpSymbol;
    default: return kCpUndefined;
  }
}

const std::vector<uint16_t>& flags_table() {
  static const std::vector<uint16_t> table = [] {
    std::vector<uint16_t> t(kMaxCp);
    for (uint32_t cp = 0; cp < kMaxCp; ++cp) {
      uint16_t f = category_flag(u_charType(static_cast<UChar32>(cp)));
      if (u_isUWhiteSpace(static_cast<UChar32>(cp))) f |= kCpWhitespace;
      t[cp] = f;
    }
    return t;
  }();
  return table;
}

struct ByteMaps {
  std::array<std::string, 256> to_char;
  std::array<int16_t, 512> to_byte;  // stand-ins are all below U+0200
};

const ByteMaps& byte_maps() {
  static const ByteMaps maps = [] {
    ByteMaps m;
    m.to_byte.fill(-1);
    std::array<bool, 256> direct{};
    for (int b = 0x21; b <= 0x7E; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      uint32_t cp = direct[b] ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      utf8::append(m.to_char[b], cp);
      m.to_byte[cp] = static_cast<int16_t>(b);
    }
    return m;
  }();
  return maps;
}

}  // namespace

uint16_t cp_flags(uint32_t cp) { return cp < kMaxCp ? flags_table()[cp] : static_cast<uint16_t>(kCpUndefined); }

std::vector<uint32_t> decode_utf8(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  auto cont = [&](size_t k) { return i + k < n && (p[i + k] & 0xC0) == 0x80; };
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80) {
      out.push_back(c);
      i += 1;
    } else if (!(c & 0x40)) {
      out.push_back(0xFFFD);
      i += 1;
    } else if (!(c & 0x20)) {
      if (!cont(1)) {
        out.push_back(0xFFFD);
        i += 1;
        continue;
      }
      out.push_back(((c & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu));
      i += 2;
    } else if (!(c & 0x10)) {
      if (!cont(1) || !cont(2)) {
        out.push_back(0xFFFD);
        i += 1;
        continue;
      }
      out.push_back(((c & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu));
      i += 3;
    } else if (!(c & 0x08)) {
      const bool complete = cont(1) && cont(2) && cont(3);
      const uint32_t cp =
          complete ? ((c & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) | (p[i + 3] & 0x3Fu)
                   : 0;
      // llama.cpp would throw later on values above U+10FFFF; we treat them as invalid.
      if (!complete || cp >= kMaxCp) {
        out.push_back(0xFFFD);
        i += 1;
        continue;
      }
      out.push_back(cp);
      i += 4;
    } else {
      out.push_back(0xFFFD);
      i += 1;
    }
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) { utf8::append(out, cp); }

uint32_t to_lower(uint32_t cp) { return static_cast<uint32_t>(u_tolower(static_cast<UChar32>(cp))); }

uint32_t nfd_first(uint32_t cp) {
  static const icu::Normalizer2* nfd = [] {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* n = icu::Normalizer2::getNFDInstance(status);
    return U_SUCCESS(status) ? n : nullptr;
  }();
  if (!nfd || cp >= kMaxCp) return cp;
  icu::UnicodeString d;
  if (!nfd->getDecomposition(static_cast<UChar32>(cp), d) || d.isEmpty()) return cp;
  return static_cast<uint32_t>(d.char32At(0));
}

const std::string& byte_to_bpe_char(uint8_t b) { return byte_maps().to_char[b]; }

int bpe_char_to_byte(uint32_t cp) { return cp < 512 ? byte_maps().to_byte[cp] : -1; }

}  // namespace llmchain::tokenizer::detail
