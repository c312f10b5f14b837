#pragma once
// The token candidates one sampling step works on, and the small stages of the
// sampler chain that transform them (llama.cpp's "sampler chain" idea).
//
// Invariants of Candidates:
//  - while `indexed` is true, items[i].id == i for every i (nothing removed or
//    reordered yet); stages that edit logits by token id rely on it.
//  - `sorted` means items are in descending logit order.
//  - a logit of -inf means "banned"; filtering stages drop such items.
// Probabilities are recomputed by each stage that needs them, over the items
// that survive so far (filters compose on renormalised distributions).
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

namespace llmchain::sampling {

struct Candidate {
  int32_t id;
  float logit;
  float p;
};

// The order of every ranking stage: higher logit first, lower id among equal
// logits (so results never depend on the sort algorithm). A function object,
// so that the sorting algorithms inline it.
inline constexpr auto ranks_before = [](const Candidate& a, const Candidate& b) {
  return a.logit != b.logit ? a.logit > b.logit : a.id < b.id;
};

// Puts the best items of items[from, end) into items[from, to), in
// ranks_before order (the rest in unspecified order after them).
void rank_range(std::vector<Candidate>& items, size_t from, size_t to);

struct Candidates {
  std::vector<Candidate> items;
  bool indexed = true;
  bool sorted = false;

  void reset(const float* logits, int32_t n);
  void drop_banned();  // removes -inf items (clears indexed)
  void sort_desc();
  void softmax();  // fills p from logit over current items
};

class SamplerStage {
 public:
  virtual ~SamplerStage() = default;
  virtual const char* name() const = 0;
  virtual void apply(Candidates& c) = 0;
  virtual void accept(int32_t token) {}
};

// Adds bias[token] to the logit; -inf bans the token.
std::unique_ptr<SamplerStage> make_logit_bias(std::map<int32_t, float> bias);

// Penalises tokens seen in the last `last_n` accepted tokens (-1: all, 0: none).
// repeat: llama.cpp style (positive logits divided, negative multiplied);
// frequency/presence: OpenAI style (logit -= count * freq + (count > 0) * presence).
class PenaltyStage : public SamplerStage {
 public:
  PenaltyStage(int32_t last_n, float repeat, float frequency, float presence);
  const char* name() const override { return "penalties"; }
  void apply(Candidates& c) override;
  void accept(int32_t token) override;
  void reset_history(const std::vector<int32_t>& tokens);

 private:
  int32_t last_n_;
  float repeat_, frequency_, presence_;
  std::deque<int32_t> window_;
  std::unordered_map<int32_t, int32_t> counts_;
};

std::unique_ptr<SamplerStage> make_top_k(int32_t k);      // keeps the k best
std::unique_ptr<SamplerStage> make_typical_p(float p);    // locally typical sampling
std::unique_ptr<SamplerStage> make_top_p(float p);        // nucleus: smallest set with mass >= p
std::unique_ptr<SamplerStage> make_min_p(float p);        // keeps p_i >= p * p_max
std::unique_ptr<SamplerStage> make_temperature(float t);  // logit /= t (t > 0)

// Final choice. Both return the chosen id, or -1 when every candidate is banned.
int32_t pick_greedy(const Candidates& c);
// Draws from softmax(logits) with one 32-bit draw of rng: same rng state and
// same candidates give the same token on every platform.
int32_t pick_random(Candidates& c, std::mt19937& rng);

}  // namespace llmchain::sampling
