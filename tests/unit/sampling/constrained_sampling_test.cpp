// The sampler's constraint shortcuts (checking the best candidates one by one,
// rejection sampling, masks only where they are small) must give what masking
// the whole vocabulary first gives: the same tokens for top-k and greedy, the
// same distribution for rejection sampling.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "sampling/candidates.h"
#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"
#include "sampling/json_schema.h"
#include "sampling/sampler.h"
#include "test_vocab.h"

namespace llmchain::sampling {
namespace {

bool allowed(const std::vector<uint64_t>& mask, int32_t t) { return (mask[t >> 6] >> (t & 63)) & 1; }

// The sampler chain written out with the whole mask applied first.
class ReferenceSampler {
 public:
  ReferenceSampler(const SamplingParams& p, std::shared_ptr<const Grammar> g,
                   std::shared_ptr<const CompiledVocab> vocab)
      : p_(p), matcher_(std::move(g), vocab), rng_(static_cast<std::mt19937::result_type>(p.seed.value_or(0))) {
    if (p.top_k > 0) stages_.push_back(make_top_k(p.top_k));
    if (p.typical_p < 1.0f) stages_.push_back(make_typical_p(p.typical_p));
    if (p.top_p < 1.0f) stages_.push_back(make_top_p(p.top_p));
    if (p.min_p > 0.0f) stages_.push_back(make_min_p(p.min_p));
    if (p.temperature > 0.0f && p.temperature != 1.0f) stages_.push_back(make_temperature(p.temperature));
  }
  int32_t sample(const std::vector<float>& logits) {
    Candidates c;
    c.reset(logits.data(), static_cast<int32_t>(logits.size()));
    const std::vector<uint64_t>& mask = matcher_.allowed_tokens();
    for (auto& item : c.items) {
      if (!allowed(mask, item.id)) item.logit = -std::numeric_limits<float>::infinity();
    }
    if (p_.temperature <= 0.0f) return pick_greedy(c);
    for (auto& s : stages_) s->apply(c);
    return pick_random(c, rng_);
  }
  bool accept(int32_t token) { return matcher_.accept_token(token); }

 private:
  SamplingParams p_;
  GrammarMatcher matcher_;
  std::vector<std::unique_ptr<SamplerStage>> stages_;
  std::mt19937 rng_;
};

const char* kSchema = R"({"type":"object","properties":{
  "name":{"type":"string","maxLength":30},"age":{"type":"integer"},
  "tags":{"type":"array","items":{"type":"string"},"maxItems":3},
  "kind":{"enum":["a","bb","ccc"]}},"required":["name","age","tags","kind"],"additionalProperties":false})";

// Same logits, same seed: the sampler and the reference pick the same token at
// every step, for every way the sampler can take (best candidates checked one
// by one, budget exhausted, few allowed tokens, cached masks).
TEST(ConstrainedSampling, TopKAndGreedyGiveTheSameTokensAsMaskingEverything) {
  auto vocab = testing::realistic_vocab(5000);
  const int32_t n = vocab->size();
  Constraint c;
  c.json_schema = nlohmann::json::parse(kSchema);
  auto grammar = parse_gbnf(json_schema_to_gbnf(*c.json_schema).value()).value();
  std::vector<SamplingParams> settings(5);
  settings[0].temperature = 0.0f;  // greedy
  settings[1].top_k = 40;          // CLI defaults: top-k 40, top-p 0.95, min-p 0.05, T 0.8
  settings[2].top_k = 3, settings[2].top_p = 1.0f, settings[2].min_p = 0.0f;
  settings[3].top_k = 1000, settings[3].typical_p = 0.9f;  // more than the check budget
  settings[4].top_k = 1, settings[4].temperature = 1.5f;
  int steps = 0;
  for (size_t si = 0; si < settings.size(); ++si) {
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      SamplingParams p = settings[si];
      p.seed = seed;
      auto s = Sampler::create(p, c, vocab).value();
      ReferenceSampler ref(p, grammar, vocab);
      GrammarMatcher oracle(grammar, vocab);
      std::mt19937 rng(seed);
      std::normal_distribution<float> nd(0.0f, 1.5f);
      std::vector<float> logits(n);
      std::string text;
      for (int step = 0; step < 300; ++step) {
        // Models that favour allowed tokens (seeds 1, 4), closing characters
        // anywhere (2, 5) or disallowed tokens (3, 6: the checks run out).
        // Rounded logits: many ties.
        const std::vector<uint64_t>& mask = oracle.allowed_tokens();
        for (int32_t t = 0; t < n; ++t) {
          logits[t] = std::round(nd(rng) * 8) / 8;
          if (vocab->bytes(t).find_first_of("\"}]") != std::string::npos) logits[t] += 2.5f;
          if (vocab->is_eog(t)) logits[t] += 4;
          if (seed % 3 == 1 && allowed(mask, t)) logits[t] += 6;
          if (seed % 3 == 0 && !allowed(mask, t)) logits[t] += 6;
        }
        int32_t got = s->sample(logits.data(), n).token;
        int32_t want = ref.sample(logits);
        ASSERT_EQ(got, want) << "settings " << si << " seed " << seed << " step " << step << " after: " << text;
        ++steps;
        ASSERT_GE(got, 0);
        ASSERT_TRUE(s->accept(got));
        ASSERT_TRUE(ref.accept(got));
        ASSERT_TRUE(oracle.accept_token(got));
        if (vocab->is_eog(got)) break;
        text += vocab->bytes(got);
      }
    }
  }
  EXPECT_GT(steps, 1000);
}

// Rejection sampling (no top-k, top-p or typical-p): the frequencies of a
// first token over many seeds match the masked distribution, both where the
// draws are mostly allowed and where nearly all are rejected (then the full
// mask decides).
TEST(ConstrainedSampling, RejectionSamplingHasTheMaskedDistribution) {
  // 3000 plain tokens (allowed: many, so the sampler does not mask everything)
  // and `n_bad` tokens containing '!' that the grammar forbids, ranked high.
  for (int n_bad : {20, 600}) {
    std::vector<std::string> pieces;
    for (int i = 0; i < 3000; ++i) pieces.push_back(std::to_string(i) + "t");
    for (int i = 0; i < n_bad; ++i) pieces.push_back(std::to_string(i) + "!");
    auto vocab = testing::make_vocab(pieces);
    std::vector<float> logits(vocab->size(), -4.0f);
    logits[0] = 3.0f, logits[1] = 2.5f, logits[2] = 2.0f, logits[3] = 0.5f;
    for (int i = 0; i < n_bad; ++i) logits[3000 + i] = 2.8f;
    for (float min_p : {0.0f, 0.1f}) {
      SamplingParams p;
      p.top_k = 0, p.top_p = 1.0f, p.typical_p = 1.0f, p.min_p = min_p, p.temperature = 0.7f;
      // Expected: the masked chain's distribution (min-p against the best allowed token).
      std::map<int32_t, double> want;
      double z = 0;
      const float threshold = logits[0] + std::log(min_p);
      for (int32_t t = 0; t < 3000; ++t) {
        if (min_p > 0 && logits[t] < threshold) continue;
        want[t] = std::exp(logits[t] / p.temperature);
        z += want[t];
      }
      for (auto& [t, w] : want) w /= z;
      const int kSeeds = 6000;
      std::map<int32_t, int> got;
      Constraint c;
      c.grammar = "root ::= [^!]+";
      for (int seed = 1; seed <= kSeeds; ++seed) {
        p.seed = seed;
        auto s = Sampler::create(p, c, vocab).value();
        int32_t t = s->sample(logits.data(), vocab->size()).token;
        ASSERT_TRUE(want.count(t)) << "token " << t << " n_bad " << n_bad << " min_p " << min_p;
        ++got[t];
      }
      for (int32_t t = 0; t < 4; ++t) {
        double pw = want.count(t) ? want[t] : 0.0;
        double sigma = std::sqrt(std::max(pw * (1 - pw), 1e-4) / kSeeds);
        EXPECT_NEAR(got[t] / double(kSeeds), pw, 5 * sigma)
            << "token " << t << " n_bad " << n_bad << " min_p " << min_p;
      }
    }
  }
}

TEST(ConstrainedSampling, SmallMaskOnlyWhereFewTokensAreAllowed) {
  auto vocab = testing::realistic_vocab(5000);
  auto g = parse_gbnf(R"(root ::= "{\"k\": \"" [^"\\]* "\"}")").value();
  GrammarMatcher m(g, vocab);
  EXPECT_TRUE(m.small_mask());  // only prefixes of {"k": " are allowed
  EXPECT_TRUE(m.mask_ready());
  ASSERT_TRUE(m.accept_bytes("{\"k\": \"ab"));
  EXPECT_FALSE(m.small_mask());  // inside the string nearly everything is allowed
  EXPECT_FALSE(m.mask_ready());
  EXPECT_FALSE(m.small_mask());                            // remembered
  const std::vector<uint64_t>& mask = m.allowed_tokens();  // the full mask still works
  EXPECT_TRUE(m.mask_ready());
  int n_allowed = 0;
  for (int32_t t = 0; t < vocab->size(); ++t) {
    ASSERT_EQ(allowed(mask, t), m.can_accept_token(t)) << vocab->bytes(t);
    n_allowed += allowed(mask, t);
  }
  EXPECT_GT(n_allowed, static_cast<int>(GrammarMatcher::kSmallMaskTokens));
}

TEST(ConstrainedSampling, TokensWithTheSameBytesAreAllAllowed) {
  //                               0    1     2    3     4
  auto vocab = testing::make_vocab({"a", "ab", "a", "abc", "b"});
  GrammarMatcher m(parse_gbnf("root ::= \"ab\" \"c\"?").value(), vocab);
  const std::vector<uint64_t>& mask = m.allowed_tokens();
  std::vector<int32_t> ok;
  for (int32_t t = 0; t < vocab->size(); ++t) {
    if (allowed(mask, t)) ok.push_back(t);
  }
  EXPECT_EQ(ok, (std::vector<int32_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace llmchain::sampling
