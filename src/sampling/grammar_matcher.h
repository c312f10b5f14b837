#pragma once
// Runs a Grammar over bytes and masks a vocabulary with it.
//
// The pushdown automaton's configuration is a set of stacks (positions in
// Grammar::elems; the top is always a kChars element, an empty stack means
// "accepted") plus a partially decoded UTF-8 character. Configurations are
// interned into numbered states and byte transitions between them are memoised
// (a lazily built DFA over the reachable configurations, one flat table), so
// masking walks the preorder vocabulary trie with one table lookup per trie
// node, skipping the subtree of every dead byte, and the mask of a state seen
// before (e.g. "inside a JSON string") is reused outright. Checking a single
// token is a few lookups: the sampler checks its best candidates this way and
// needs the whole mask only when they are not allowed (see sampler.h).
//
// Budget: every state also knows a completion of the document, as bytes (the
// shortest one, exact: CompletionTable) and as tokens of this vocabulary (that
// string's fewest-token spelling, computed on demand). Either is a count of
// tokens that certainly finish the document (bytes count when every byte is a
// token, CompiledVocab::spells_every_byte()), never an underestimate, so
// can_accept_token_within() keeps the output completable: a token passes only
// when after it some known completion still fits. A token count of one
// string is not always consistent from state to state (the next state's
// shortest string may spell worse than the rest of this one), so the spelling
// a passing token came from is followed as a plan until it is left.
//
// One matcher per sequence; not thread-safe.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sampling/grammar.h"
#include "sampling/grammar_completion.h"
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
  // Whether accept_token(token) would succeed (the token's bit in
  // allowed_tokens()); changes nothing observable. Cheap: it walks the token's
  // bytes through the memoised transitions, or reads the cached mask.
  bool can_accept_token(int32_t token);
  // Whether allowed_tokens() is already computed for the current state.
  bool mask_ready() const;
  // Tokens that certainly complete a document from here (0 when accepting;
  // kNoCompletion when none can): an upper bound on the true minimum, reached
  // by a sequence of tokens that each pass can_accept_token_within().
  int32_t min_tokens_to_complete();
  static constexpr int32_t kNoCompletion = INT32_MAX;
  // Limits that keep one step's work bounded whatever the grammar: alternatives open at once
  // in a configuration, and rule calls resolved in a chain (the resolution recurses). Beyond
  // them the matcher throws kInvalidArgument (the constraint is too complex).
  static constexpr size_t kMaxStacks = 16384;
  static constexpr int kMaxCallDepth = 2048;
  // can_accept_token(token), and after it a known completion of at most
  // budget - 1 tokens remains. With budget >= min_tokens_to_complete() at
  // least one token passes, and accepting only passing tokens while the
  // budget drops by one per token ends in an accepting state (see above).
  bool can_accept_token_within(int32_t token, int32_t budget);
  // False when every allowed token passes can_accept_token_within(budget):
  // known once allowed_tokens() was computed here, and then cheap.
  bool budget_may_bind(int32_t budget) const;
  // The tokens that pass can_accept_token_within(budget), ascending. In a
  // state that allows many tokens, the first call prices every allowed token
  // once (a walk like the mask's, cached per state): later calls there, and
  // the checks of can_accept_token_within, are then lookups.
  void tokens_within(int32_t budget, std::vector<int32_t>& out);
  // Whether the grammar allows more bytes after the current ones (false once
  // a document is complete and nothing may follow it).
  bool can_continue() const;

  // Computes allowed_tokens() when the current state allows few tokens (at
  // most kSmallMaskTokens, within kSmallMaskNodes trie nodes): the mask is
  // then cheap, and so is sampling from it. Returns whether the mask is ready;
  // false when it would be large (remembered per state, so asking again is free).
  bool small_mask();
  static constexpr size_t kSmallMaskTokens = 2048;
  static constexpr size_t kSmallMaskNodes = 32768;
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
    bool large_mask = false;      // small_mask() gave up here
    std::vector<uint64_t> mask;   // cached allowed_tokens(); empty until computed
    uint32_t min_bytes = 0;       // bytes of the shortest completion (CompletionTable::kInf: none)
    uint32_t max_next_bytes = 0;  // with `mask`: the largest min_bytes an allowed token leads to
    int32_t min_tokens = -1;      // tokens spelling that completion; -1 until computed
    std::vector<int32_t> plan;    // that spelling (with min_tokens)
    // Priced tokens (tokens_within, in states with many allowed tokens): per
    // token, the tokens that certainly complete the document after it
    // (CompletionTable::kInf: not allowed, or no completion).
    std::vector<uint32_t> token_cost;
  };
  static constexpr int32_t kUnknown = -2;
  static constexpr int32_t kDead = -1;

  int32_t step(int32_t state, uint8_t byte);
  int32_t compute_step(int32_t state, uint8_t byte);
  int32_t intern(std::vector<Stack> stacks, uint32_t partial, uint8_t remaining, uint8_t length);
  void expand(Stack& stack, std::vector<Stack>& out, int depth = 0) const;
  std::vector<Stack> advance(const std::vector<Stack>& stacks, uint32_t cp) const;
  bool viable(const std::vector<Stack>& stacks, uint32_t lo, uint32_t hi) const;
  bool compute_mask(int32_t id, size_t max_tokens, size_t max_nodes);
  void maybe_trim_cache();
  uint32_t completion_bytes(const State& s, std::string* out) const;
  int32_t state_tokens(int32_t id);
  int32_t find_child(uint32_t node, uint8_t byte) const;
  bool advance(std::string_view bytes);
  void price_tokens(int32_t id);
  bool plan_step_fits(int32_t token, uint32_t limit);

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const CompiledVocab> vocab_;
  std::unique_ptr<CompletionTable> completion_;
  std::vector<std::unique_ptr<State>> states_;
  std::vector<int32_t> next_;  // [state * 256 + byte]: kUnknown, kDead or a state id
  std::unordered_map<std::string, int32_t> index_;
  size_t cached_masks_ = 0;
  size_t cached_cost_bytes_ = 0;  // of token_cost and by_cost over all states
  int32_t root_child_[256];       // trie node of each one-byte prefix, -1: none
  int32_t state_ = kDead;
  bool finished_ = false;
  std::vector<uint64_t> none_;  // all-zero mask for dead / finished
  struct Open {
    uint32_t subtree_end;  // trie nodes below this one end here
    int32_t state;         // the state after this node's bytes
  };
  std::vector<Open> walk_;  // scratch of compute_mask
  // The plan being followed: tokens plan_[plan_pos_..] complete the document
  // from the current state (empty when none is being followed).
  std::vector<int32_t> plan_;
  size_t plan_pos_ = 0;
};

}  // namespace llmchain::sampling
