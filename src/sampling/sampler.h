#pragma once
// Per-sequence sampler: the chain of small stages from params.h, an optional
// grammar constraint, and the seeded random choice.
//
// Chain order (fixed): logit bias -> penalties -> constraint mask -> top-k ->
// typical-p -> top-p -> min-p -> temperature -> pick. With temperature <= 0 the
// pick is the argmax after bias, penalties and the constraint (the truncation
// stages and temperature are skipped: they cannot change the argmax, except
// typical-p, which is documented as ignored for greedy decoding).
//
// The constraint gives the same result as masking the whole vocabulary
// before top-k, at a fraction of the cost:
//  - where the grammar allows few tokens (between values, keys, numbers) the
//    whole mask is cheap (GrammarMatcher::small_mask()): it is computed,
//    cached per grammar state, and only the allowed tokens are ranked;
//  - where it allows many (inside strings), the mask is not computed (see
//    sample_checked() in sampler.cpp). With top-k or greedy, the best
//    candidates are checked one by one until k are allowed: the same list,
//    so the same token for the same seed. With only min-p and temperature
//    after the mask, a token drawn from the unmasked distribution is kept
//    when allowed (rejection sampling: exactly the masked distribution,
//    though the random draws differ). Top-p and typical-p without top-k need
//    the whole mask, as do the steps whose checks run out.
//
// Token budget (set_budget): with a constraint, a token is allowed only when
// the document can still be completed within the tokens left after it
// (GrammarMatcher::can_accept_token_within). So when the budget at the start
// is at least min_tokens_to_complete(), the output ends as a complete
// document: strings, arrays and numbers close early rather than being cut.
// The caller lowers the budget by one per sampled token.
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "base/error.h"
#include "sampling/candidates.h"
#include "sampling/params.h"
#include "sampling/vocab.h"

namespace llmchain::sampling {

class GrammarMatcher;

struct TokenProb {
  int32_t token;
  float logprob;
};

struct SampleResult {
  // The chosen token, or -1 when no token is allowed (every logit banned, or
  // the constraint has no continuation the vocabulary can spell): the caller
  // must end the sequence with an error, never fall back to free text.
  int32_t token = -1;
  float logprob = 0;           // of `token` under log-softmax of the raw logits (unconstrained, un-tempered)
  std::vector<TokenProb> top;  // n_probs best of that same distribution, best first
};

class Sampler {
 public:
  // Compiles the constraint (GBNF, JSON schema or JSON mode). Errors:
  // kInvalidArgument (bad params or grammar), kUnsupported (schema keyword we
  // cannot enforce; the message names it and its JSON pointer).
  // Compiling a large constraint takes time: do it on the submitting thread, with a budget.
  static Expected<std::unique_ptr<Sampler>> create(const SamplingParams& p, const Constraint& c,
                                                   std::shared_ptr<const CompiledVocab> vocab,
                                                   const CompileBudget& budget = {});
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // logits: n_vocab raw scores of the next token.
  SampleResult sample(float* logits, int32_t n_vocab);  // logits are read, never modified
  // Records the token that was appended. Returns false when the constraint
  // rejects it (a token not produced by sample()); the sequence must then stop.
  bool accept(int32_t token);
  // Replaces the penalty history with the prompt (call before the first sample).
  void set_history(const std::vector<int32_t>& prompt);
  // The constrained output so far is a complete sentence of the grammar
  // (always true without a constraint).
  bool grammar_complete() const;
  // The document is complete and the grammar allows nothing after it: the
  // sequence should end here (without a constraint: never).
  bool grammar_done() const;
  // Tokens left for this sequence, counting the next one (max_tokens minus
  // those generated, and the context left). kUnlimited: no limit.
  void set_budget(int32_t tokens) { budget_ = tokens; }
  static constexpr int32_t kUnlimited = INT32_MAX;
  // Tokens of this vocabulary that certainly complete the document from here
  // (0 without a constraint); the shortest document at the start. An upper
  // bound on the true minimum, never below it.
  int32_t min_tokens_to_complete() const;
  static constexpr int32_t kNoCompletion = INT32_MAX;  // no document can be completed
  bool constrained() const { return matcher_ != nullptr; }
  uint64_t seed() const { return seed_; }

 private:
  Sampler() = default;
  void prepare(const float* logits, int32_t n_vocab);  // candidates after bias and penalties
  void apply_mask(int32_t n_vocab);
  int32_t pick();  // the truncation stages and the final choice
  int32_t sample_checked();
  enum class Select { kFound, kAll, kBudget };
  Select select_allowed(size_t k);
  int32_t sample_rejecting();
  bool allowed(int32_t token);  // the constraint and the budget allow it

  SamplingParams params_;
  std::shared_ptr<const CompiledVocab> vocab_;
  std::unique_ptr<SamplerStage> bias_;
  std::unique_ptr<PenaltyStage> penalties_;
  std::unique_ptr<GrammarMatcher> matcher_;
  std::vector<std::unique_ptr<SamplerStage>> truncation_;  // top-k .. temperature
  Candidates cands_;
  std::vector<Candidate> picked_;  // scratch of the constrained paths
  std::vector<double> cum_;        // scratch of sample_rejecting()
  std::vector<int32_t> within_;    // scratch of apply_mask() under a budget
  std::mt19937 rng_;
  uint64_t seed_ = 0;
  int32_t budget_ = kUnlimited;
};

}  // namespace llmchain::sampling
