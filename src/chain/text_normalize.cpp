#include "chain/text_normalize.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <unordered_map>

namespace llmchain::chain {
namespace {

// Lookalikes of Latin letters from other scripts, after case folding (lower case).
const std::unordered_map<UChar32, char>& homoglyphs() {
  static const std::unordered_map<UChar32, char> m = {
      // Cyrillic
      {0x0430, 'a'},
      {0x0435, 'e'},
      {0x043E, 'o'},
      {0x0440, 'p'},
      {0x0441, 'c'},
      {0x0443, 'y'},
      {0x0445, 'x'},
      {0x0456, 'i'},
      {0x0458, 'j'},
      {0x0455, 's'},
      {0x0501, 'd'},
      {0x04BB, 'h'},
      {0x04CF, 'l'},
      {0x0432, 'b'},
      {0x043A, 'k'},
      {0x043C, 'm'},
      {0x043D, 'h'},
      {0x0442, 't'},
      {0x0433, 'r'},
      {0x0491, 'r'},
      {0x051B, 'q'},
      {0x051D, 'w'},
      // Greek
      {0x03BF, 'o'},
      {0x03B1, 'a'},
      {0x03BD, 'v'},
      {0x03BA, 'k'},
      {0x03B9, 'i'},
      {0x03C1, 'p'},
      {0x03C4, 't'},
      {0x03C5, 'u'},
      {0x03C7, 'x'},
      {0x03B5, 'e'},
      {0x03B7, 'n'},
      {0x03C9, 'w'},
      // Latin lookalikes outside ASCII
      {0x0131, 'i'},
      {0x0261, 'g'},
      {0x0251, 'a'},
  };
  return m;
}

bool is_separator(UChar32 c) {
  return c == '_' || u_isUWhiteSpace(c) || u_charType(c) == U_SPACE_SEPARATOR || c == 0x00A0 || c == 0x2007 ||
         c == 0x202F;
}

void append_utf8(std::string& out, UChar32 c) {
  char buf[4];
  int32_t n = 0;
  UBool err = false;
  U8_APPEND(reinterpret_cast<uint8_t*>(buf), n, 4, c, err);
  if (!err) out.append(buf, static_cast<size_t>(n));
}

// Appends the normalized form of one code point (possibly nothing, possibly several).
template <typename Emit>
void normalize_code_point(UChar32 c, const icu::Normalizer2* nfkc_cf, Emit&& emit) {
  if (is_separator(c)) {
    emit(' ');
    return;
  }
  int32_t digit = u_charDigitValue(c);
  if (digit >= 0 && digit <= 9 && u_charType(c) == U_DECIMAL_DIGIT_NUMBER) {
    emit(static_cast<UChar32>('0' + digit));
    return;
  }
  if (c < 0x80) {
    emit(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString in(c), out;
  if (nfkc_cf) nfkc_cf->normalize(in, out, status);
  if (!nfkc_cf || U_FAILURE(status)) out = in;
  for (int32_t i = 0; i < out.length();) {
    UChar32 d = out.char32At(i);
    i += U16_LENGTH(d);
    if (is_separator(d)) {
      emit(' ');
      continue;
    }
    int32_t dv = u_charDigitValue(d);
    if (dv >= 0 && dv <= 9 && u_charType(d) == U_DECIMAL_DIGIT_NUMBER) d = '0' + dv;
    if (auto h = homoglyphs().find(d); h != homoglyphs().end()) d = static_cast<unsigned char>(h->second);
    emit(d);
  }
}

const icu::Normalizer2* nfkc_casefold() {
  static const icu::Normalizer2* n = [] {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* p = icu::Normalizer2::getNFKCCasefoldInstance(status);
    return U_SUCCESS(status) ? p : nullptr;
  }();
  return n;
}

}  // namespace

NormalizedText normalize_for_matching(const std::string& original) {
  NormalizedText out;
  out.text.reserve(original.size());
  out.begin.reserve(original.size());
  out.end.reserve(original.size());
  const auto* nfkc_cf = nfkc_casefold();
  const auto* s = reinterpret_cast<const uint8_t*>(original.data());
  const int32_t n = static_cast<int32_t>(original.size());
  bool last_space = true;  // no leading separator
  for (int32_t i = 0; i < n;) {
    const size_t b = static_cast<size_t>(i);
    UChar32 c;
    U8_NEXT(s, i, n, c);
    const size_t e = static_cast<size_t>(i);
    if (c < 0) {  // an invalid byte: kept as it is
      out.text.push_back(static_cast<char>(s[b]));
      out.begin.push_back(b);
      out.end.push_back(e);
      last_space = false;
      continue;
    }
    normalize_code_point(c, nfkc_cf, [&](UChar32 d) {
      if (d == ' ') {
        if (last_space) {
          if (!out.end.empty() && out.text.back() == ' ') out.end.back() = e;  // the run is one space
          return;
        }
        last_space = true;
      } else {
        last_space = false;
      }
      size_t before = out.text.size();
      append_utf8(out.text, d);
      for (size_t k = before; k < out.text.size(); ++k) {
        out.begin.push_back(b);
        out.end.push_back(e);
      }
    });
  }
  return out;
}

std::string normalize_term(const std::string& term) {
  std::string t = normalize_for_matching(term).text;
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t;
}

}  // namespace llmchain::chain
