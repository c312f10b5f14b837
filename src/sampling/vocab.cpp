#include "sampling/vocab.h"

#include <algorithm>

namespace llmchain::sampling {
namespace {

// Builds the trie from tokens sorted by bytes: a node's subtree is then a
// contiguous run of the sorted order, and visiting runs in order emits nodes in
// preorder. An explicit stack keeps very long tokens from deep recursion.
class TrieBuilder {
 public:
  TrieBuilder(const std::vector<std::string>& bytes, TokenTrie& trie) : bytes_(bytes), trie_(trie) {
    for (int32_t i = 0; i < static_cast<int32_t>(bytes.size()); ++i) {
      if (!bytes[i].empty()) order_.push_back(i);
    }
    std::sort(order_.begin(), order_.end(),
              [&](int32_t a, int32_t b) { return bytes[a] != bytes[b] ? bytes[a] < bytes[b] : a < b; });
  }

  void build() {
    open(0, 0, order_.size(), 0);
    while (!stack_.empty()) {
      Frame& f = stack_.back();
      if (f.next == f.end) {
        trie_.nodes[f.node].subtree_end = static_cast<uint32_t>(trie_.nodes.size());
        stack_.pop_back();
        continue;
      }
      uint8_t b = byte_at(f.next, f.depth);
      size_t begin = f.next, j = f.next, depth = f.depth + 1;
      while (j < f.end && byte_at(j, f.depth) == b) ++j;
      f.next = j;
      open(b, begin, j, depth);  // may reallocate stack_: f is not used after this
    }
    TokenTrie::Node sentinel;
    sentinel.subtree_end = static_cast<uint32_t>(trie_.nodes.size());
    sentinel.token_begin = static_cast<uint32_t>(trie_.node_tokens.size());
    trie_.nodes.push_back(sentinel);
  }

 private:
  struct Frame {
    uint32_t node;
    size_t next, end, depth;  // children still to emit: order_[next, end), bytes at `depth`
  };

  uint8_t byte_at(size_t i, size_t depth) const { return static_cast<uint8_t>(bytes_[order_[i]][depth]); }

  // Emits the node for order_[begin, end) (all sharing `depth` bytes) and the
  // tokens ending there (they sort first: shortest).
  void open(uint8_t byte, size_t begin, size_t end, size_t depth) {
    TokenTrie::Node n;
    n.byte = byte;
    n.token_begin = static_cast<uint32_t>(trie_.node_tokens.size());
    while (begin < end && bytes_[order_[begin]].size() == depth) trie_.node_tokens.push_back(order_[begin++]);
    stack_.push_back({static_cast<uint32_t>(trie_.nodes.size()), begin, end, depth});
    trie_.nodes.push_back(n);
  }

  const std::vector<std::string>& bytes_;
  TokenTrie& trie_;
  std::vector<int32_t> order_;
  std::vector<Frame> stack_;
};

}  // namespace

Expected<std::shared_ptr<const CompiledVocab>> compile_vocab(Vocab v) {
  return capture([&]() -> std::shared_ptr<const CompiledVocab> {
    if (v.token_bytes.empty()) fail(ErrorCode::kInvalidArgument, "vocabulary is empty");
    auto cv = std::make_shared<CompiledVocab>();
    cv->token_bytes_ = std::move(v.token_bytes);
    cv->is_eog_.assign(cv->token_bytes_.size(), 0);
    for (int32_t t : v.eog_tokens) {
      if (t < 0 || t >= cv->size()) fail(ErrorCode::kInvalidArgument, "end-of-generation token {} out of range", t);
      if (!cv->is_eog_[t]) cv->eog_tokens_.push_back(t);
      cv->is_eog_[t] = 1;
    }
    TrieBuilder(cv->token_bytes_, cv->trie_).build();
    std::vector<bool> single(256, false);
    for (const std::string& b : cv->token_bytes_) {
      if (b.size() == 1) single[static_cast<uint8_t>(b[0])] = true;
    }
    cv->spells_every_byte_ = true;
    for (int b = 0; b < 0xF5; ++b) {
      if (b != 0xC0 && b != 0xC1 && !single[b]) cv->spells_every_byte_ = false;
    }
    return cv;
  });
}

}  // namespace llmchain::sampling
