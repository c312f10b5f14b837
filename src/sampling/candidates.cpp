#include "sampling/candidates.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace llmchain::sampling {

void Candidates::reset(const float* logits, int32_t n) {
  items.resize(n);
  for (int32_t i = 0; i < n; ++i) items[i] = {i, logits[i], 0.0f};
  indexed = true;
  sorted = false;
}

void Candidates::drop_banned() {
  std::erase_if(items, [](const Candidate& c) { return std::isinf(c.logit) && c.logit < 0; });
  indexed = false;
}

void Candidates::sort_desc() {
  if (sorted) return;
  std::sort(items.begin(), items.end(), ranks_before);
  sorted = true;
  indexed = false;
}

void rank_range(std::vector<Candidate>& items, size_t from, size_t to) {
  const size_t n = items.size();
  to = std::min(to, n);
  if (from >= to) return;
  auto first = items.begin() + from, mid = items.begin() + to;
  if ((to - from) * 16 < n - from) {
    std::partial_sort(first, mid, items.end(), ranks_before);  // heap select: one cheap pass over the rest
  } else {
    if (to < n) std::nth_element(first, mid, items.end(), ranks_before);
    std::sort(first, mid, ranks_before);
  }
}

void Candidates::softmax() {
  if (items.empty()) return;
  float mx = -std::numeric_limits<float>::infinity();
  for (const auto& c : items) mx = std::max(mx, c.logit);
  double sum = 0;
  for (auto& c : items) {
    c.p = std::exp(c.logit - mx);
    sum += c.p;
  }
  for (auto& c : items) c.p = static_cast<float>(c.p / sum);
}

namespace {

class LogitBias : public SamplerStage {
 public:
  explicit LogitBias(std::map<int32_t, float> bias) : bias_(std::move(bias)) {}
  const char* name() const override { return "logit_bias"; }
  void apply(Candidates& c) override {
    if (c.indexed) {
      for (auto [id, b] : bias_) {
        if (id >= 0 && id < static_cast<int32_t>(c.items.size())) c.items[id].logit += b;
      }
      return;
    }
    for (auto& item : c.items) {
      if (auto it = bias_.find(item.id); it != bias_.end()) item.logit += it->second;
    }
  }

 private:
  std::map<int32_t, float> bias_;
};

// Keeps the first n items of a sorted list (at least one).
void keep_prefix(Candidates& c, size_t n) { c.items.resize(std::max<size_t>(1, std::min(n, c.items.size()))); }

class TopK : public SamplerStage {
 public:
  explicit TopK(int32_t k) : k_(k) {}
  const char* name() const override { return "top_k"; }
  void apply(Candidates& c) override {
    c.drop_banned();
    size_t k = static_cast<size_t>(k_);
    if (k >= c.items.size()) return;
    rank_range(c.items, 0, k);
    c.items.resize(k);
    c.sorted = true;
  }

 private:
  int32_t k_;
};

class TypicalP : public SamplerStage {
 public:
  explicit TypicalP(float p) : p_(p) {}
  const char* name() const override { return "typical_p"; }
  void apply(Candidates& c) override {
    c.drop_banned();
    if (c.items.size() <= 1) return;
    c.softmax();
    double entropy = 0;
    for (const auto& item : c.items) {
      if (item.p > 0) entropy -= item.p * std::log(item.p);
    }
    // Rank by how far each token's surprise is from the expected surprise.
    std::vector<std::pair<double, size_t>> dist(c.items.size());
    for (size_t i = 0; i < c.items.size(); ++i) {
      double surprise = c.items[i].p > 0 ? -std::log(c.items[i].p) : std::numeric_limits<double>::infinity();
      dist[i] = {std::abs(surprise - entropy), i};
    }
    std::stable_sort(dist.begin(), dist.end());
    std::vector<Candidate> kept;
    double cum = 0;
    for (auto [d, i] : dist) {
      kept.push_back(c.items[i]);
      cum += c.items[i].p;
      if (cum >= p_) break;
    }
    c.items = std::move(kept);
    c.sorted = false;
  }

 private:
  float p_;
};

class TopP : public SamplerStage {
 public:
  explicit TopP(float p) : p_(p) {}
  const char* name() const override { return "top_p"; }
  void apply(Candidates& c) override {
    c.drop_banned();
    if (c.items.size() <= 1) return;
    c.softmax();
    // Sort only as far as needed: grow a sorted prefix until it holds mass p
    // (select the next block in linear time, then sort just that block).
    size_t n = c.items.size();
    size_t sorted_n = c.sorted ? n : 0;
    size_t want = std::min<size_t>(n, 64);
    double cum = 0;
    size_t i = 0;
    while (true) {
      if (sorted_n < want) {
        rank_range(c.items, sorted_n, want);
        sorted_n = want;
      }
      for (; i < sorted_n; ++i) {
        cum += c.items[i].p;
        if (cum >= p_) {
          keep_prefix(c, i + 1);
          c.sorted = true;
          return;
        }
      }
      if (sorted_n == n) break;
      want = std::min(n, want * 4);
    }
    c.sorted = true;  // whole list sorted, mass never reached p (rounding): keep all
  }

 private:
  float p_;
};

class MinP : public SamplerStage {
 public:
  explicit MinP(float p) : p_(p) {}
  const char* name() const override { return "min_p"; }
  void apply(Candidates& c) override {
    c.drop_banned();
    if (c.items.size() <= 1) return;
    float mx = -std::numeric_limits<float>::infinity();
    for (const auto& item : c.items) mx = std::max(mx, item.logit);
    // p_i >= p * p_max  <=>  logit_i >= logit_max + log(p)
    float threshold = mx + std::log(p_);
    std::erase_if(c.items, [&](const Candidate& item) { return item.logit < threshold; });
  }

 private:
  float p_;
};

class Temperature : public SamplerStage {
 public:
  explicit Temperature(float t) : t_(t) {}
  const char* name() const override { return "temperature"; }
  void apply(Candidates& c) override {
    for (auto& item : c.items) item.logit /= t_;
  }

 private:
  float t_;
};

}  // namespace

std::unique_ptr<SamplerStage> make_logit_bias(std::map<int32_t, float> bias) {
  return std::make_unique<LogitBias>(std::move(bias));
}
std::unique_ptr<SamplerStage> make_top_k(int32_t k) { return std::make_unique<TopK>(k); }
std::unique_ptr<SamplerStage> make_typical_p(float p) { return std::make_unique<TypicalP>(p); }
std::unique_ptr<SamplerStage> make_top_p(float p) { return std::make_unique<TopP>(p); }
std::unique_ptr<SamplerStage> make_min_p(float p) { return std::make_unique<MinP>(p); }
std::unique_ptr<SamplerStage> make_temperature(float t) { return std::make_unique<Temperature>(t); }

PenaltyStage::PenaltyStage(int32_t last_n, float repeat, float frequency, float presence)
    : last_n_(last_n), repeat_(repeat), frequency_(frequency), presence_(presence) {}

void PenaltyStage::accept(int32_t token) {
  if (last_n_ == 0) return;
  window_.push_back(token);
  ++counts_[token];
  if (last_n_ > 0 && window_.size() > static_cast<size_t>(last_n_)) {
    int32_t old = window_.front();
    window_.pop_front();
    if (--counts_[old] == 0) counts_.erase(old);
  }
}

void PenaltyStage::reset_history(const std::vector<int32_t>& tokens) {
  window_.clear();
  counts_.clear();
  for (int32_t t : tokens) accept(t);
}

void PenaltyStage::apply(Candidates& c) {
  auto penalise = [&](Candidate& item, int32_t count) {
    if (repeat_ != 1.0f) item.logit = item.logit > 0 ? item.logit / repeat_ : item.logit * repeat_;
    item.logit -= static_cast<float>(count) * frequency_ + (count > 0 ? presence_ : 0.0f);
  };
  if (c.indexed) {
    for (auto [id, count] : counts_) {
      if (id >= 0 && id < static_cast<int32_t>(c.items.size())) penalise(c.items[id], count);
    }
    return;
  }
  for (auto& item : c.items) {
    if (auto it = counts_.find(item.id); it != counts_.end()) penalise(item, it->second);
  }
}

int32_t pick_greedy(const Candidates& c) {
  int32_t best = -1;
  float best_logit = -std::numeric_limits<float>::infinity();
  for (const auto& item : c.items) {
    if (item.logit > best_logit) {
      best_logit = item.logit;
      best = item.id;
    }
  }
  return best;
}

int32_t pick_random(Candidates& c, std::mt19937& rng) {
  c.drop_banned();
  if (c.items.empty()) return -1;
  c.softmax();
  double u = static_cast<double>(rng()) / 4294967296.0;  // [0, 1)
  double cum = 0;
  for (const auto& item : c.items) {
    cum += item.p;
    if (u < cum) return item.id;
  }
  return c.items.back().id;  // rounding: u landed past the last cumulative sum
}

}  // namespace llmchain::sampling
