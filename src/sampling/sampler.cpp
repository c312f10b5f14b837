#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sampling/grammar_matcher.h"
#include "sampling/json_schema.h"

namespace llmchain::sampling {
namespace {

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

std::string constraint_grammar(const Constraint& c) {
  int set = (!c.grammar.empty()) + (c.json_schema.has_value()) + (c.json_object ? 1 : 0);
  if (set > 1) fail(ErrorCode::kInvalidArgument, "sampling: at most one of grammar, json_schema, json_object");
  if (!c.grammar.empty()) return c.grammar;
  if (c.json_schema) return json_schema_to_gbnf(*c.json_schema).value();
  return json_object_gbnf();
}

}  // namespace

Sampler::~Sampler() = default;

Expected<std::unique_ptr<Sampler>> Sampler::create(const SamplingParams& p, const Constraint& c,
                                                   std::shared_ptr<const CompiledVocab> vocab) {
  return capture([&]() -> std::unique_ptr<Sampler> {
    if (!vocab) fail(ErrorCode::kInvalidArgument, "sampling: no vocabulary");
    validate(p);
    std::unique_ptr<Sampler> s(new Sampler());
    s->params_ = p;
    s->vocab_ = vocab;
    if (!c.empty()) {
      auto grammar = parse_gbnf(constraint_grammar(c)).value();
      s->matcher_ = std::make_unique<GrammarMatcher>(std::move(grammar), vocab);
      if (s->matcher_->dead()) fail(ErrorCode::kInvalidArgument, "sampling: grammar matches nothing");
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
    s->seed_ = p.seed == 0xFFFFFFFFu ? std::random_device{}() : p.seed;
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
  cands_.reset(logits, n_vocab);  // stages edit the copy; the caller's logits stay as they were
  if (bias_) bias_->apply(cands_);
  if (penalties_) penalties_->apply(cands_);
  if (matcher_) {
    const std::vector<uint64_t>& mask = matcher_->allowed_tokens();
    const int32_t n_known = std::min(n_vocab, vocab_->size());
    for (auto& c : cands_.items) {
      bool ok = c.id < n_known && ((mask[c.id >> 6] >> (c.id & 63)) & 1);
      if (!ok) c.logit = -std::numeric_limits<float>::infinity();
    }
  }
  int32_t token;
  if (params_.temperature <= 0.0f) {
    token = pick_greedy(cands_);
  } else {
    for (auto& stage : truncation_) stage->apply(cands_);
    token = pick_random(cands_, rng_);
  }
  if (token < 0) return r;
  r.token = token;
  r.logprob = logits[token] - log_z;
  return r;
}

bool Sampler::accept(int32_t token) {
  if (matcher_ && !matcher_->accept_token(token)) return false;
  if (penalties_) penalties_->accept(token);
  return true;
}

void Sampler::set_history(const std::vector<int32_t>& prompt) {
  if (penalties_) penalties_->reset_history(prompt);
}

bool Sampler::grammar_complete() const { return !matcher_ || matcher_->accepting() || matcher_->finished(); }

}  // namespace llmchain::sampling
