#include "sampling/vocab.h"

#include <algorithm>
#include <numeric>

namespace llmchain::sampling {
namespace {

// Builds the trie from tokens sorted by bytes: a node's children and its
// subtree are then contiguous runs of the sorted order, so one recursive pass
// lays nodes out with contiguous edge ranges.
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
    trie_.nodes.emplace_back();
    std::vector<std::pair<uint32_t, Range>> todo{{0, Range{0, order_.size(), 0}}};
    // Breadth-first: each node's edges are appended together, keeping them contiguous.
    for (size_t qi = 0; qi < todo.size(); ++qi) {
      auto [node, r] = todo[qi];
      size_t i = r.begin;
      // Tokens ending exactly here sort first (shortest).
      trie_.nodes[node].token_begin = static_cast<uint32_t>(trie_.node_tokens.size());
      while (i < r.end && bytes_[order_[i]].size() == r.depth) trie_.node_tokens.push_back(order_[i++]);
      trie_.nodes[node].token_end = static_cast<uint32_t>(trie_.node_tokens.size());
      trie_.nodes[node].edge_begin = static_cast<uint32_t>(trie_.edges.size());
      while (i < r.end) {
        uint8_t b = static_cast<uint8_t>(bytes_[order_[i]][r.depth]);
        size_t j = i;
        while (j < r.end && static_cast<uint8_t>(bytes_[order_[j]][r.depth]) == b) ++j;
        uint32_t child = static_cast<uint32_t>(trie_.nodes.size());
        trie_.nodes.emplace_back();
        trie_.edges.push_back({b, child});
        todo.push_back({child, Range{i, j, r.depth + 1}});
        i = j;
      }
      trie_.nodes[node].edge_end = static_cast<uint32_t>(trie_.edges.size());
    }
  }

 private:
  struct Range {
    size_t begin, end, depth;
  };
  const std::vector<std::string>& bytes_;
  TokenTrie& trie_;
  std::vector<int32_t> order_;
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
    return cv;
  });
}

}  // namespace llmchain::sampling
