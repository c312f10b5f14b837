#include "sampling/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "sampling/grammar_matcher.h"
#include "sampling/json_schema.h"

namespace llmchain::sampling {
namespace {

constexpr int32_t kUndecided = -2;
// Checking candidates one by one is for states that allow many tokens (where
// the whole mask is expensive: GrammarMatcher::small_mask()). Past this many
// checks (beyond twice the number looked for) the step masks the whole
// vocabulary instead: a model that follows the format rarely ranks many
// disallowed tokens first, and ranking ever more candidates costs about as
// much as the mask.
constexpr size_t kMaxChecks = 256;
constexpr int kMaxDraws = 16;  // rejection-sampling draws before masking everything

void validate(const SamplingParams& p) {
  auto bad = [](const char* what, double v) { fail(ErrorCode::kInvalidArgument, "sampling: invalid {} {}", what, v); };
  if (!std::isfinite(p.temperature)) bad("temperature", p.temperature);
  if (!(p.top_p >= 0)) bad("top_p", p.top_p);
  if (!(p.min_p >= 0 && p.min_p <= 1)) bad("min_p", p.min_p);
  if (!(p.typical_p >= 0)) bad("typical_p", p.typical_p);
  if (!(p.repeat_penalty > 0) || !std::isfinite(p.repeat_penalty)) bad("repeat_penalty", p.repeat_penalty);
  if (!std::isfinite(p.frequency_penalty)) bad("frequency_penalty", p.frequency_penalty);
  if (!std::isfinite(p.presence_penalty)) bad("presence_penalty", p.presence_penalty);
  if (p.penalty_last_n < -1) bad("penalty_last_n", p.penalty_last_n);
  if (p.n_probs < 0) bad("n_probs", p.n_probs);
}

std::string constraint_grammar(const Constraint& c, const CompileBudget& budget) {
  int set = (!c.grammar.empty()) + (c.json_schema.has_value()) + (c.json_object ? 1 : 0);
  if (set > 1) fail(ErrorCode::kInvalidArgument, "sampling: at most one of grammar, json_schema, json_object");
  if (!c.grammar.empty()) return c.grammar;
  if (c.json_schema) return json_schema_to_gbnf(*c.json_schema, budget).value();
  return json_object_gbnf();
}

}  // namespace

void CompileBudget::check() const {
  if (stop.stop_requested()) fail(ErrorCode::kCancelled, "the request was cancelled while its constraint compiled");
  if (std::chrono::steady_clock::now() > deadline) {
    fail(ErrorCode::kInvalidArgument,
         "the output constraint (grammar or JSON schema) is too expensive: it did not compile within the "
         "server's time limit; simplify it");
  }
}

Sampler::~Sampler() = default;

Expected<std::unique_ptr<Sampler>> Sampler::create(const SamplingParams& p, const Constraint& c,
                                                   std::shared_ptr<const CompiledVocab> vocab,
                                                   const CompileBudget& budget) {
  return capture([&]() -> std::unique_ptr<Sampler> {
    if (!vocab) fail(ErrorCode::kInvalidArgument, "sampling: no vocabulary");
    validate(p);
    std::unique_ptr<Sampler> s(new Sampler());
    s->params_ = p;
    s->vocab_ = vocab;
    if (!c.empty()) {
      auto parsed = parse_gbnf(constraint_grammar(c, budget));
      if (!parsed.ok() && c.json_schema && parsed.error().message().find("left-recursive") != std::string::npos) {
        fail(ErrorCode::kUnsupported,
             "JSON schema: a $ref refers back to itself before anything is written (a cycle such as "
             "a -> b -> a with nothing in between); such a schema describes no finite document");
      }
      auto grammar = std::move(parsed).value();
      budget.check();
      s->matcher_ = std::make_unique<GrammarMatcher>(std::move(grammar), vocab);
      if (s->matcher_->dead()) fail(ErrorCode::kInvalidArgument, "sampling: grammar matches nothing");
      budget.check();
    }
    if (!p.logit_bias.empty()) s->bias_ = make_logit_bias(p.logit_bias);
    bool penalties = p.penalty_last_n != 0 &&
                     (p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f);
    if (penalties) {
      s->penalties_ =
          std::make_unique<PenaltyStage>(p.penalty_last_n, p.repeat_penalty, p.frequency_penalty, p.presence_penalty);
    }
    if (p.top_k > 0) s->truncation_.push_back(make_top_k(p.top_k));
    if (p.typical_p < 1.0f) s->truncation_.push_back(make_typical_p(p.typical_p));
    if (p.top_p < 1.0f) s->truncation_.push_back(make_top_p(p.top_p));
    if (p.min_p > 0.0f) s->truncation_.push_back(make_min_p(p.min_p));
    if (p.temperature > 0.0f && p.temperature != 1.0f) s->truncation_.push_back(make_temperature(p.temperature));
    s->seed_ = p.seed ? *p.seed : std::random_device{}();
    s->rng_.seed(static_cast<std::mt19937::result_type>(s->seed_));
    return s;
  });
}

SampleResult Sampler::sample(float* logits, int32_t n_vocab) {
  SampleResult r;
  if (n_vocab <= 0) return r;

  // Reported probabilities: log-softmax of the raw logits.
  float mx = -std::numeric_limits<float>::infinity();
  for (int32_t i = 0; i < n_vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - mx));
  const float log_z = mx + static_cast<float>(std::log(sum));
  if (params_.n_probs > 0) {
    size_t k = std::min<size_t>(params_.n_probs, n_vocab);
    std::vector<TokenProb> all(n_vocab);
    for (int32_t i = 0; i < n_vocab; ++i) all[i] = {i, logits[i] - log_z};
    auto better = [](const TokenProb& a, const TokenProb& b) {
      return a.logprob != b.logprob ? a.logprob > b.logprob : a.token < b.token;
    };
    std::partial_sort(all.begin(), all.begin() + k, all.end(), better);
    r.top.assign(all.begin(), all.begin() + k);
  }
  prepare(logits, n_vocab);
  int32_t token = kUndecided;
  if (matcher_ && !matcher_->small_mask()) {
    token = sample_checked();
    if (token == kUndecided) prepare(logits, n_vocab);  // the checks reordered the candidates
  }
  if (token == kUndecided) {
    if (matcher_) apply_mask(n_vocab);
    token = pick();
  }
  if (token < 0) return r;
  r.token = token;
  r.logprob = logits[token] - log_z;
  return r;
}

void Sampler::prepare(const float* logits, int32_t n_vocab) {
  cands_.reset(logits, n_vocab);  // stages edit the copy; the caller's logits stay as they were
  if (bias_) bias_->apply(cands_);
  if (penalties_) penalties_->apply(cands_);
}

// Keeps the allowed candidates, in id order: the list the truncation stages
// would see after banning the others (they drop banned items first).
void Sampler::apply_mask(int32_t n_vocab) {
  const std::vector<uint64_t>& mask = matcher_->allowed_tokens();
  const size_t n_known = static_cast<size_t>(std::min(n_vocab, vocab_->size()));
  picked_.clear();
  if (budget_ != kUnlimited && matcher_->budget_may_bind(budget_)) {
    matcher_->tokens_within(budget_, within_);
    for (int32_t id : within_) {
      if (static_cast<size_t>(id) < n_known) picked_.push_back(cands_.items[id]);
    }
  } else {
    for (size_t w = 0; w * 64 < n_known; ++w) {
      for (uint64_t bits = mask[w]; bits != 0; bits &= bits - 1) {
        size_t id = w * 64 + static_cast<size_t>(std::countr_zero(bits));
        if (id < n_known) picked_.push_back(cands_.items[id]);
      }
    }
  }
  cands_.items.swap(picked_);
  cands_.indexed = false;
  cands_.sorted = false;
}

int32_t Sampler::pick() {
  if (params_.temperature <= 0.0f) return pick_greedy(cands_);
  for (auto& stage : truncation_) stage->apply(cands_);
  return pick_random(cands_, rng_);
}

// Samples without the full mask when the result can be had from a few checked
// tokens; kUndecided when it cannot (then the caller masks everything).
int32_t Sampler::sample_checked() {
  const bool greedy = params_.temperature <= 0.0f;
  if (greedy || params_.top_k > 0) {
    // Greedy needs the best allowed token. Top-k needs the k best allowed, and
    // to know whether there are more than k: with k or fewer allowed, top-k
    // keeps them all in id order rather than sorted, and so must we.
    size_t k = greedy ? 1 : static_cast<size_t>(params_.top_k);
    Select found = select_allowed(greedy ? 1 : k + 1);
    if (found == Select::kBudget) return kUndecided;
    if (found == Select::kAll) {
      std::sort(picked_.begin(), picked_.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
    } else {
      picked_.resize(k);
    }
    cands_.items.swap(picked_);
    cands_.indexed = false;
    cands_.sorted = found == Select::kFound;
    return pick();
  }
  if (params_.typical_p < 1.0f || params_.top_p < 1.0f) return kUndecided;
  return sample_rejecting();
}

// Scans the candidates best first (ranks_before), checking each against the
// grammar, until `k` allowed ones are in picked_ (kFound, in rank order), or
// every candidate that is not banned was checked (kAll), or kMaxChecks + 2k
// tokens were checked (kBudget). Reorders cands_.items.
Sampler::Select Sampler::select_allowed(size_t k) {
  std::vector<Candidate>& items = cands_.items;
  const size_t n = items.size();
  picked_.clear();
  const size_t budget = kMaxChecks + 2 * k;
  size_t sorted = 0, scanned = 0, checks = 0;
  size_t want = std::min(n, std::max<size_t>(2 * k, 64));
  while (true) {
    if (sorted < want) {
      rank_range(items, sorted, want);
      sorted = want;
    }
    for (; scanned < sorted; ++scanned) {
      const Candidate& c = items[scanned];
      if (c.logit == -std::numeric_limits<float>::infinity()) return Select::kAll;  // the rest are banned too
      if (allowed(c.id)) {
        picked_.push_back(c);
        if (picked_.size() == k) return Select::kFound;
      }
      if (++checks == budget) return Select::kBudget;
    }
    if (sorted == n) return Select::kAll;
    want = std::min(n, want * 4);
  }
}

// Only min-p and temperature follow the mask. Min-p's threshold comes from
// the best allowed token; then a token drawn from the unmasked distribution
// over the candidates above it is kept when allowed. Conditioned on being
// allowed, that draw has exactly the masked distribution; after kMaxDraws
// rejections the caller draws from the masked distribution itself, which
// keeps the overall distribution exact.
int32_t Sampler::sample_rejecting() {
  float threshold = -std::numeric_limits<float>::infinity();
  if (params_.min_p > 0.0f) {
    Select found = select_allowed(1);
    if (found == Select::kBudget) return kUndecided;
    if (picked_.empty()) return -1;                          // nothing allowed
    threshold = picked_[0].logit + std::log(params_.min_p);  // as MinP computes it
  }
  const std::vector<Candidate>& items = cands_.items;
  float mx = -std::numeric_limits<float>::infinity();
  for (const auto& c : items) mx = std::max(mx, c.logit);
  if (mx == -std::numeric_limits<float>::infinity()) return -1;  // every candidate banned
  const float inv_t = params_.temperature == 1.0f ? 1.0f : 1.0f / params_.temperature;
  cum_.resize(items.size());
  double total = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].logit >= threshold) total += std::exp(static_cast<double>((items[i].logit - mx) * inv_t));
    cum_[i] = total;
  }
  for (int draw = 0; draw < kMaxDraws; ++draw) {
    double u = static_cast<double>(rng_()) / 4294967296.0 * total;  // [0, total)
    // The first item whose cumulative weight exceeds u has a positive weight.
    size_t i = static_cast<size_t>(std::upper_bound(cum_.begin(), cum_.end(), u) - cum_.begin());
    if (i == items.size()) i = items.size() - 1;
    if (allowed(items[i].id)) return items[i].id;
  }
  return kUndecided;
}

bool Sampler::accept(int32_t token) {
  if (matcher_ && !matcher_->accept_token(token)) return false;
  if (penalties_) penalties_->accept(token);
  return true;
}

void Sampler::set_history(const std::vector<int32_t>& prompt) {
  if (penalties_) penalties_->reset_history(prompt);
}

bool Sampler::allowed(int32_t token) {
  return budget_ == kUnlimited ? matcher_->can_accept_token(token) : matcher_->can_accept_token_within(token, budget_);
}

bool Sampler::grammar_done() const { return matcher_ && (matcher_->finished() || !matcher_->can_continue()); }

int32_t Sampler::min_tokens_to_complete() const { return matcher_ ? matcher_->min_tokens_to_complete() : 0; }

bool Sampler::grammar_complete() const { return !matcher_ || matcher_->accepting() || matcher_->finished(); }

}  // namespace llmchain::sampling
