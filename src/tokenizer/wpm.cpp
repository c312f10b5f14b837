// WordPiece (llama.cpp's llm_tokenizer_wpm_session): BERT-style normalisation
// (accents stripped by keeping the first code point of each canonical decomposition
// and dropping marks, lower-casing, punctuation and CJK characters as words of their
// own), then greedy longest-match of "▁word" against the vocab; a word with no full
// cover becomes the unknown token.
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

namespace llmchain::tokenizer::detail {
namespace {

bool is_chinese_char(uint32_t cpt) {
  return (cpt >= 0x04E00 && cpt <= 0x09FFF) || (cpt >= 0x03400 && cpt <= 0x04DBF) ||
         (cpt >= 0x20000 && cpt <= 0x2A6DF) || (cpt >= 0x2A700 && cpt <= 0x2B73F) ||
         (cpt >= 0x2B740 && cpt <= 0x2B81F) || (cpt >= 0x2B920 && cpt <= 0x2CEAF) ||  // as HF: not 0x2B820
         (cpt >= 0x0F900 && cpt <= 0x0FAFF) || (cpt >= 0x2F800 && cpt <= 0x2FA1F);
}

std::vector<std::string> preprocess(const Tokenizer::Impl& v, std::string_view text) {
  std::vector<uint32_t> cps = decode_utf8(text);
  std::vector<std::string> words(1);
  for (uint32_t cpt : cps) {
    if (v.strip_accents) cpt = nfd_first(cpt);
    const uint16_t flags = cp_flags(cpt);
    if (flags & kCpWhitespace) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    if (cpt == 0 || cpt == 0xFFFD || (flags & kCpControl)) continue;
    if (v.strip_accents && (flags & kCpMark)) continue;
    std::string s;
    append_utf8(s, v.lowercase ? to_lower(cpt) : cpt);
    if ((flags & kCpPunct) || (cpt < 0x7F && (flags & kCpSymbol)) || is_chinese_char(cpt)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = std::move(s);
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

}  // namespace

void tokenize_wpm(const Tokenizer::Impl& v, std::string_view text, std::vector<int32_t>& out) {
  for (const std::string& word : preprocess(v, text)) {
    if (word.empty()) continue;
    const std::string w = "\xE2\x96\x81" + word;
    const int n = static_cast<int>(w.size());
    const size_t before = out.size();
    for (int i = 0; i < n; ++i) {
      bool match = false;
      for (int j = std::min(n, i + v.max_token_len + 1); j > i; --j) {
        int32_t id = v.find(std::string_view(w).substr(i, j - i));
        if (id != kNoToken) {
          out.push_back(id);
          match = true;
          i = j - 1;
          break;
        }
      }
      if (!match) {
        out.resize(before);
        break;
      }
    }
    if (out.size() == before && v.unk != kNoToken) out.push_back(v.unk);
  }
}

}  // namespace llmchain::tokenizer::detail
