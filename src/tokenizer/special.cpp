// Splitting special tokens out of the input text (llama.cpp's tokenizer_st_partition):
// each special token, longest text first, cuts every remaining raw-text fragment at
// its occurrences (left to right); LSTRIP/RSTRIP tokens also eat the whitespace
// next to them. Control and unknown tokens only take part when parse_special.
#include "tokenizer/vocab.h"

namespace llmchain::tokenizer::detail {
namespace {

bool is_c_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

std::vector<Fragment> partition_special(const Tokenizer::Impl& v, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back(Fragment{kNoToken, 0, text.size()});

  // Only tokens that occur in the text can cut it; find them in one pass.
  std::vector<int32_t> present = v.special_trie.occurring(text);
  if (present.empty()) return frags;
  std::vector<bool> is_present(v.tokens.size(), false);
  for (int32_t id : present) is_present[id] = true;

  std::vector<Fragment> next;
  for (int32_t id : v.special_cache) {
    if (!is_present[id]) continue;
    const TokenData& tok = v.tokens[id];
    if (!parse_special && (tok.attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string& st = tok.text;
    next.clear();
    for (const Fragment& fr : frags) {
      if (fr.token != kNoToken) {
        next.push_back(fr);
        continue;
      }
      size_t off = fr.offset;
      size_t len = fr.length;
      while (true) {
        size_t match = text.substr(0, off + len).find(st, off);
        if (match == std::string_view::npos) {
          if (len > 0) next.push_back(Fragment{kNoToken, off, len});
          break;
        }
        if (match > off) {
          size_t left_len = match - off;
          if (tok.attr & kAttrLstrip) {
            while (left_len > 0 && is_c_space(text[off + left_len - 1])) --left_len;
          }
          if (left_len > 0) next.push_back(Fragment{kNoToken, off, left_len});
        }
        next.push_back(Fragment{id, 0, 0});
        size_t right_off = match + st.size();
        size_t right_len = off + len - right_off;
        if (right_len == 0) break;
        if (tok.attr & kAttrRstrip) {
          while (right_len > 0 && is_c_space(text[right_off])) {
            ++right_off;
            --right_len;
          }
        }
        off = right_off;
        len = right_len;
        if (len == 0) break;
      }
    }
    frags.swap(next);
  }
  return frags;
}

}  // namespace llmchain::tokenizer::detail
