#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "sampling/candidates.h"
#include "test_vocab.h"

namespace llmchain::sampling {
namespace {

using testing::make_vocab;

Candidates cands(std::vector<float> logits) {
  Candidates c;
  c.reset(logits.data(), static_cast<int32_t>(logits.size()));
  return c;
}

std::map<int32_t, float> probs(Candidates c) {
  c.softmax();
  std::map<int32_t, float> m;
  for (auto& i : c.items) m[i.id] = i.p;
  return m;
}

std::vector<int32_t> ids(const Candidates& c) {
  std::vector<int32_t> v;
  for (auto& i : c.items) v.push_back(i.id);
  return v;
}

std::vector<float> logits_of(std::vector<float> p) {
  for (auto& x : p) x = std::log(x);
  return p;
}

TEST(Samplers, TopKKeepsBestSorted) {
  auto c = cands({1, 5, 3, 4, 2});
  make_top_k(2)->apply(c);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3}));
  auto p = probs(c);
  EXPECT_NEAR(p[1], 1 / (1 + std::exp(-1.0)), 1e-6);
  auto all = cands({1, 2});
  make_top_k(10)->apply(all);  // k >= n: everything survives
  EXPECT_EQ(all.items.size(), 2u);
}

TEST(Samplers, TopP) {
  auto c = cands(logits_of({0.15f, 0.5f, 0.05f, 0.3f}));
  make_top_p(0.75f)->apply(c);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3}));
  auto p = probs(c);
  EXPECT_NEAR(p[1], 0.5 / 0.8, 1e-5);
  EXPECT_NEAR(p[3], 0.3 / 0.8, 1e-5);
  c = cands(logits_of({0.15f, 0.5f, 0.05f, 0.3f}));
  make_top_p(0.9f)->apply(c);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 3, 0}));
  c = cands(logits_of({0.15f, 0.5f, 0.05f, 0.3f}));
  make_top_p(0.0f)->apply(c);  // always keeps one
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1}));
}

TEST(Samplers, TopPOnLargeUnsortedList) {
  std::vector<float> l(5000, -10.0f);
  l[4321] = 10;
  l[17] = 9;
  auto c = cands(l);
  make_top_p(0.95f)->apply(c);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{4321, 17}));
}

TEST(Samplers, MinP) {
  auto c = cands(logits_of({0.15f, 0.5f, 0.05f, 0.3f}));
  make_min_p(0.2f)->apply(c);  // threshold 0.1
  auto p = probs(c);
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(p.count(2), 0u);
  EXPECT_NEAR(p[0], 0.15 / 0.95, 1e-5);
}

TEST(Samplers, TypicalP) {
  // H = 1.2799; |surprise - H|: t0 .364, t1 .076, t2 .329, t3 1.023.
  auto c = cands(logits_of({0.4f, 0.3f, 0.2f, 0.1f}));
  make_typical_p(0.45f)->apply(c);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2}));
  auto p = probs(c);
  EXPECT_NEAR(p[1], 0.6, 1e-5);
  EXPECT_NEAR(p[2], 0.4, 1e-5);
}

TEST(Samplers, Temperature) {
  auto c = cands({1, 2});
  make_temperature(0.5f)->apply(c);
  EXPECT_FLOAT_EQ(c.items[0].logit, 2);
  EXPECT_FLOAT_EQ(c.items[1].logit, 4);
}

TEST(Samplers, LogitBiasAndBan) {
  auto c = cands({1, 2, 3});
  make_logit_bias({{0, 5.0f}, {2, -INFINITY}, {99, 1.0f}})->apply(c);
  EXPECT_FLOAT_EQ(c.items[0].logit, 6);
  EXPECT_TRUE(std::isinf(c.items[2].logit));
  EXPECT_EQ(pick_greedy(c), 0);
  c.drop_banned();
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1}));
}

TEST(Samplers, Penalties) {
  PenaltyStage rep(3, 2.0f, 0.0f, 0.0f);
  rep.reset_history({0, 1, 2, 0});  // window of 3 keeps 1, 2, 0
  auto c = cands({4, -4, 1, 7});
  rep.apply(c);
  EXPECT_FLOAT_EQ(c.items[0].logit, 2);   // positive: divided
  EXPECT_FLOAT_EQ(c.items[1].logit, -8);  // negative: multiplied
  EXPECT_FLOAT_EQ(c.items[2].logit, 0.5f);
  EXPECT_FLOAT_EQ(c.items[3].logit, 7);  // not in the window

  PenaltyStage oai(-1, 1.0f, 0.5f, 1.0f);
  oai.reset_history({3, 3, 3, 1});
  c = cands({0, 0, 0, 0});
  oai.apply(c);
  EXPECT_FLOAT_EQ(c.items[3].logit, -(3 * 0.5f + 1));
  EXPECT_FLOAT_EQ(c.items[1].logit, -(0.5f + 1));
  EXPECT_FLOAT_EQ(c.items[0].logit, 0);
  oai.accept(0);
  c = cands({0, 0, 0, 0});
  oai.apply(c);
  EXPECT_FLOAT_EQ(c.items[0].logit, -1.5f);
}

TEST(Samplers, PickRandomFollowsDistribution) {
  std::mt19937 rng(7);
  std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.4f};
  std::vector<int> hits(4, 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    auto c = cands(logits_of(p));
    ++hits[pick_random(c, rng)];
  }
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(hits[i] / double(n), p[i], 0.01) << i;
}

SamplingParams plain() {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1;
  p.min_p = 0;
  p.temperature = 1;
  p.seed = 42;
  return p;
}

TEST(Sampler, GreedyPicksArgmaxAfterBiasAndReportsLogprobs) {
  auto vocab = make_vocab({"a", "b", "c", "d"});
  SamplingParams p = plain();
  p.temperature = 0;
  p.n_probs = 2;
  p.logit_bias = {{2, 3.0f}};
  auto s = Sampler::create(p, {}, vocab).value();
  std::vector<float> logits = {1, 2, 0, 1.5f, -1};
  auto r = s->sample(logits.data(), 5);
  EXPECT_EQ(r.token, 2);
  double z = 0;
  for (float l : {1.f, 2.f, 0.f, 1.5f, -1.f}) z += std::exp(l);
  // Reported logprobs are of the raw (un-biased) distribution.
  EXPECT_NEAR(r.logprob, 0 - std::log(z), 1e-5);
  ASSERT_EQ(r.top.size(), 2u);
  EXPECT_EQ(r.top[0].token, 1);
  EXPECT_NEAR(r.top[0].logprob, 2 - std::log(z), 1e-5);
  EXPECT_EQ(r.top[1].token, 3);
  EXPECT_EQ(logits[2], 0);  // caller's logits untouched
}

TEST(Sampler, SameSeedSameTokens) {
  auto vocab = make_vocab(std::vector<std::string>(100, "x"));
  auto run = [&](uint64_t seed) {
    SamplingParams p;
    p.seed = seed;
    auto s = Sampler::create(p, {}, vocab).value();
    std::mt19937 gen(99);  // same logits sequence
    std::vector<int32_t> out;
    for (int step = 0; step < 50; ++step) {
      std::vector<float> l(101);
      for (auto& x : l) x = std::normal_distribution<float>(0, 2)(gen);
      auto r = s->sample(l.data(), 101);
      s->accept(r.token);
      out.push_back(r.token);
    }
    return out;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

TEST(Sampler, RepetitionPenaltyUsesPromptHistory) {
  auto vocab = make_vocab({"a", "b"});
  SamplingParams p = plain();
  p.temperature = 0;
  p.presence_penalty = 2;
  auto s = Sampler::create(p, {}, vocab).value();
  s->set_history({0});
  std::vector<float> l = {1, 0, -5};
  EXPECT_EQ(s->sample(l.data(), 3).token, 1);
  s->set_history({1});
  EXPECT_EQ(s->sample(l.data(), 3).token, 0);
}

TEST(Sampler, AllBannedGivesNoToken) {
  auto vocab = make_vocab({"a"}, 0);
  SamplingParams p = plain();
  p.logit_bias = {{0, -INFINITY}};
  auto s = Sampler::create(p, {}, vocab).value();
  std::vector<float> l = {1};
  EXPECT_EQ(s->sample(l.data(), 1).token, -1);
}

TEST(Sampler, RejectsBadParams) {
  auto vocab = make_vocab({"a"});
  SamplingParams p;
  p.min_p = 2;
  EXPECT_FALSE(Sampler::create(p, {}, vocab).ok());
  Constraint c;
  c.grammar = "root ::= \"a\"";
  c.json_object = true;
  EXPECT_FALSE(Sampler::create(SamplingParams{}, c, vocab).ok());
}

TEST(Sampler, GrammarConstrainsChoice) {
  auto vocab = make_vocab({"yes", "no", "maybe", "y", "es"});
  SamplingParams p = plain();
  p.temperature = 0;
  Constraint c;
  c.grammar = "root ::= \"yes\" | \"no\"";
  auto s = Sampler::create(p, c, vocab).value();
  std::vector<float> l = {0, 1, 9, 5, 3, 8};  // maybe and EOG score highest, both disallowed
  auto r = s->sample(l.data(), 6);
  EXPECT_EQ(r.token, 3);  // "y"
  EXPECT_FALSE(s->grammar_complete());
  ASSERT_TRUE(s->accept(3));
  r = s->sample(l.data(), 6);
  EXPECT_EQ(r.token, 4);  // "es"
  ASSERT_TRUE(s->accept(4));
  EXPECT_TRUE(s->grammar_complete());
  r = s->sample(l.data(), 6);
  EXPECT_EQ(r.token, 5);       // only EOG left
  EXPECT_FALSE(s->accept(2));  // not allowed by the grammar
}

}  // namespace
}  // namespace llmchain::sampling
