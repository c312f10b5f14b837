#pragma once
// Runs a Grammar over bytes and masks a vocabulary with it.
//
// The pushdown automaton's configuration is a set of stacks (positions in
// Grammar::elems; the top is always a kChars element, an empty stack means
// "accepted") plus a partially decoded UTF-8 character. Configurations are
// interned into numbered states and byte transitions between them are memoised
// (a lazily built DFA over the reachable configurations), so masking walks the
// vocabulary trie with one table lookup per trie edge, and the mask of a state
// seen before (e.g. "inside a JSON string") is reused outright.
//
// One matcher per sequence; not thread-safe.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sampling/grammar.h"
#include "sampling/vocab.h"

namespace llmchain::sampling {

class GrammarMatcher {
 public:
  GrammarMatcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const CompiledVocab> vocab);

  // Bit t of the result is set when token t may come next: its bytes keep the
  // grammar alive (a token may end inside a UTF-8 character when some
  // completion could still match). EOG tokens are set only when accepting();
  // other empty (control) tokens never. Valid until the next call.
  const std::vector<uint64_t>& allowed_tokens();

  // Advances over the token's bytes (an EOG token finishes the match). Returns
  // false and leaves the state unchanged when the token is not allowed.
  bool accept_token(int32_t token);
  // Whether accept_token(token) would succeed; changes nothing observable.
  bool can_accept_token(int32_t token);
  // Advances over raw bytes (tests, prompts forced into the output).
  bool accept_bytes(std::string_view bytes);
  // True when the bytes so far form a complete sentence of the grammar.
  bool accepting() const;
  // True when no continuation is possible at all (nothing can be accepted).
  bool dead() const { return state_ < 0; }
  bool finished() const { return finished_; }

  size_t num_states() const { return states_.size(); }

 private:
  using Stack = std::vector<uint32_t>;
  struct State {
    std::vector<Stack> stacks;  // sorted, unique
    uint32_t partial = 0;       // bits of the UTF-8 character decoded so far
    uint8_t remaining = 0;      // continuation bytes still expected
    uint8_t length = 0;         // total length of the pending character
    bool accepting = false;
    std::array<int32_t, 256> next;  // kUnknown, kDead or a state id
    std::vector<uint64_t> mask;     // cached allowed_tokens(); empty until computed
  };
  static constexpr int32_t kUnknown = -2;
  static constexpr int32_t kDead = -1;

  int32_t step(int32_t state, uint8_t byte);
  int32_t compute_step(int32_t state, uint8_t byte);
  int32_t intern(std::vector<Stack> stacks, uint32_t partial, uint8_t remaining, uint8_t length);
  void expand(Stack& stack, std::vector<Stack>& out) const;
  std::vector<Stack> advance(const std::vector<Stack>& stacks, uint32_t cp) const;
  bool viable(const std::vector<Stack>& stacks, uint32_t lo, uint32_t hi) const;
  void compute_mask(State& s, int32_t id);
  void maybe_trim_cache();

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const CompiledVocab> vocab_;
  std::vector<std::unique_ptr<State>> states_;
  std::unordered_map<std::string, int32_t> index_;
  size_t cached_masks_ = 0;
  int32_t state_ = kDead;
  bool finished_ = false;
  std::vector<uint64_t> none_;  // all-zero mask for dead / finished
};

}  // namespace llmchain::sampling
