// SentencePiece-style BPE (llama.cpp's llm_tokenizer_spm_session): start from one
// symbol per UTF-8 character, repeatedly merge the adjacent pair whose concatenation
// is the vocab token with the highest score (ties: leftmost), then emit each symbol
// as its token or, failing that, as byte-fallback tokens.
#include <algorithm>

#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

namespace llmchain::tokenizer::detail {
namespace {

struct Symbol {
  int32_t prev;
  int32_t next;
  size_t offset;  // into the (escaped) text
  size_t n;       // bytes; 0 once merged into its left neighbour
};

struct Bigram {  // 16 bytes: one per character pair of a long text
  int32_t left;
  int32_t right;
  float score;
  uint32_t size;
};

struct BigramOrder {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  }
};

}  // namespace

int32_t spm_byte_token(const Tokenizer::Impl& v, uint8_t byte) {
  static const char* kHex = "0123456789ABCDEF";
  const char buf[6] = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
  int32_t id = v.find(std::string_view(buf, 6));
  if (id != kNoToken) return id;
  const char one = static_cast<char>(byte);
  id = v.find(std::string_view(&one, 1));
  if (id != kNoToken) return id;
  return v.unk;  // llama.cpp throws here; kNoToken (dropped) when there is no unk either
}

void tokenize_spm(const Tokenizer::Impl& v, std::string_view text, std::vector<int32_t>& out) {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offs = 0; offs < text.size();) {
    size_t len = std::min(utf8_len_lead(text[offs]), text.size() - offs);
    int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{index - 1, offs + len == text.size() ? -1 : index + 1, offs, len});
    offs += len;
  }
  if (symbols.empty()) return;

  std::vector<Bigram> heap;
  heap.reserve(symbols.size());
  auto try_add = [&](int32_t left, int32_t right, bool push) {
    if (left == -1 || right == -1) return;
    const size_t size = symbols[left].n + symbols[right].n;
    int32_t id = v.find(text.substr(symbols[left].offset, size));
    if (id == kNoToken) return;
    heap.push_back(Bigram{left, right, v.tokens[id].score, static_cast<uint32_t>(size)});
    if (push) std::push_heap(heap.begin(), heap.end(), BigramOrder{});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i, false);
  std::make_heap(heap.begin(), heap.end(), BigramOrder{});

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramOrder{});
    Bigram b = heap.back();
    heap.pop_back();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    try_add(l.prev, b.left, true);
    try_add(b.left, l.next, true);
  }

  // Every merged symbol is a token; only unmerged characters can miss the vocab.
  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    int32_t id = v.find(text.substr(s.offset, s.n));
    if (id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (size_t k = 0; k < s.n; ++k) {
      int32_t b = spm_byte_token(v, static_cast<uint8_t>(text[s.offset + k]));
      if (b != kNoToken) out.push_back(b);
    }
  }
}

}  // namespace llmchain::tokenizer::detail
