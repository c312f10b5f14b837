// Byte-level BPE (llama.cpp's llm_tokenizer_bpe_session): the pre-tokenizer regexes
// split the text into words; each word, written with the GPT-2 byte stand-ins, is
// merged pair by pair in merge-rank order (ties: leftmost) using a heap over a linked
// list of symbols, so a long word costs O(n log n).
#include <algorithm>

#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

namespace llmchain::tokenizer::detail {
namespace {

struct Symbol {
  int32_t prev;
  int32_t next;
  size_t offset;
  size_t n;  // 0 once merged into its left neighbour
};

// 16 bytes: long words keep a heap with one entry per character pair.
struct Bigram {
  int32_t left;
  int32_t right;
  int32_t rank;
  uint32_t size;  // left + right bytes when queued: stale once either side changed
};

struct BigramOrder {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
  }
};

class BpeSession {
 public:
  explicit BpeSession(const Tokenizer::Impl& v) : v_(v) {}

  void word(std::string_view w, std::vector<int32_t>& out) {
    if (w.empty()) return;
    symbols_.clear();
    if (v_.ignore_merges && v_.find(w) != kNoToken) {
      symbols_.push_back(Symbol{-1, -1, 0, w.size()});
    } else {
      for (size_t offs = 0; offs < w.size();) {
        size_t len = std::min(utf8_len_lead(w[offs]), w.size() - offs);
        int32_t index = static_cast<int32_t>(symbols_.size());
        symbols_.push_back(Symbol{index - 1, offs + len == w.size() ? -1 : index + 1, offs, len});
        offs += len;
      }
    }
    heap_.clear();
    for (int32_t i = 1; i < static_cast<int32_t>(symbols_.size()); ++i) add_bigram(w, i - 1, i, /*push=*/false);
    std::make_heap(heap_.begin(), heap_.end(), BigramOrder{});
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), BigramOrder{});
      Bigram b = heap_.back();
      heap_.pop_back();
      Symbol& l = symbols_[b.left];
      Symbol& r = symbols_[b.right];
      // Stale: a side was merged away (n == 0) or grew (l only grows by taking r).
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      add_bigram(w, l.prev, b.left);
      add_bigram(w, b.left, l.next);
    }
    for (int32_t i = 0; i != -1; i = symbols_[i].next) {
      const Symbol& s = symbols_[i];
      if (s.n == 0) continue;
      std::string_view str = w.substr(s.offset, s.n);
      int32_t id = v_.find(str);
      if (id != kNoToken) {
        out.push_back(id);
        continue;
      }
      for (char c : str) {  // as llama.cpp: single-byte texts only
        int32_t b = v_.find(std::string_view(&c, 1));
        if (b != kNoToken) out.push_back(b);
      }
    }
  }

 private:
  void add_bigram(std::string_view w, int32_t left, int32_t right, bool push = true) {
    if (left == -1 || right == -1) return;
    const Symbol& l = symbols_[left];
    const Symbol& r = symbols_[right];
    int32_t rank = v_.merge_rank(w.substr(l.offset, l.n), w.substr(r.offset, r.n), scratch_);
    if (rank < 0) return;
    heap_.push_back(Bigram{left, right, rank, static_cast<uint32_t>(l.n + r.n)});
    if (push) std::push_heap(heap_.begin(), heap_.end(), BigramOrder{});
  }

  const Tokenizer::Impl& v_;
  std::vector<Symbol> symbols_;
  std::vector<Bigram> heap_;
  std::string scratch_;
};

}  // namespace

void tokenize_bpe(const Tokenizer::Impl& v, std::string_view text, std::vector<int32_t>& out) {
  const std::vector<uint32_t> cps = decode_utf8(text);
  if (cps.empty()) return;
  RegexText rt;
  rt.assign(cps);
  std::vector<size_t> pieces{cps.size()};
  std::vector<size_t> next;
  for (const Regex& re : v.regexes) {
    next.clear();
    re.split(rt, pieces, next);
    pieces.swap(next);
  }
  BpeSession session(v);
  std::string utf8, word;
  size_t start = 0;
  for (size_t len : pieces) {
    utf8.clear();
    for (size_t i = start; i < start + len; ++i) append_utf8(utf8, cps[i]);
    start += len;
    word.clear();
    for (unsigned char c : utf8) word += byte_to_bpe_char(c);
    session.word(word, out);
  }
}

}  // namespace llmchain::tokenizer::detail
