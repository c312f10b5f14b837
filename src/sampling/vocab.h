#pragma once
// The vocabulary as the sampler sees it: the exact bytes each token adds to the
// text, plus the end-of-generation ids. Comes in as plain data from the
// tokenizer (sampling never depends on the tokenizer module).
//
// CompiledVocab is built once per model and shared (immutable) by every
// sequence: a byte trie over token_bytes lets the grammar mask walk shared
// prefixes once instead of once per token.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"

namespace llmchain::sampling {

struct Vocab {
  std::vector<std::string> token_bytes;  // exact bytes each token adds (empty for control tokens)
  std::vector<int32_t> eog_tokens;       // end-of-generation ids (EOS, EOT, ...)
};

// Byte trie over all non-empty token strings, laid out in depth-first
// preorder so that a walk reads it front to back. Node 0 is the root (empty
// prefix); the subtree of node i is nodes [i, subtree_end). Tokens whose bytes
// end exactly at node i are node_tokens[nodes[i].token_begin, nodes[i + 1].token_begin);
// a sentinel node at the end closes the last range.
struct TokenTrie {
  struct Node {
    uint32_t subtree_end = 0;
    uint32_t token_begin = 0;
    uint8_t byte = 0;  // the byte on the edge from the parent (0 for the root and the sentinel)
  };
  std::vector<Node> nodes;  // size() == number of trie nodes + 1 (the sentinel)
  std::vector<int32_t> node_tokens;

  uint32_t num_nodes() const { return static_cast<uint32_t>(nodes.size()) - 1; }
};

class CompiledVocab {
 public:
  int32_t size() const { return static_cast<int32_t>(token_bytes_.size()); }
  const std::string& bytes(int32_t token) const { return token_bytes_[token]; }
  bool is_eog(int32_t token) const { return token >= 0 && token < size() && is_eog_[token] != 0; }
  const std::vector<int32_t>& eog_tokens() const { return eog_tokens_; }
  const TokenTrie& trie() const { return trie_; }
  // True when every byte that can occur in UTF-8 text (all but 0xC0, 0xC1,
  // 0xF5-0xFF) is a token by itself (byte-level BPE, SPM byte fallback): then
  // any valid text of n bytes can be spelled in at most n tokens.
  bool spells_every_byte() const { return spells_every_byte_; }

 private:
  friend Expected<std::shared_ptr<const CompiledVocab>> compile_vocab(Vocab v);
  std::vector<std::string> token_bytes_;
  std::vector<int32_t> eog_tokens_;
  std::vector<uint8_t> is_eog_;
  TokenTrie trie_;
  bool spells_every_byte_ = false;
};

// Errors: kInvalidArgument for an empty vocabulary or out-of-range EOG ids.
Expected<std::shared_ptr<const CompiledVocab>> compile_vocab(Vocab v);

}  // namespace llmchain::sampling
