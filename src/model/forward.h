#pragma once
// The forward pass over a batch of tokens that may belong to different
// sequences (continuous batching): every weight matrix is read once per batch.
#include <cstdint>
#include <memory>
#include <vector>

#include "base/error.h"
#include "base/thread_pool.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace llmchain::model {

struct BatchToken {
  int32_t token = 0;
  int32_t pos = 0;      // position within its sequence
  int32_t seq = 0;      // KV cache sequence slot
  bool logits = false;  // produce logits for this token
};

// Scratch buffers for batches of up to max_batch tokens. One Context per
// engine thread; the Model is shared.
class Context {
 public:
  Context(std::shared_ptr<const Model> model, int32_t max_batch);

  // Runs the batch: writes K/V of each token at (seq, pos) and attends over
  // positions [0, pos] of its sequence (earlier positions must be filled).
  // Afterwards logits() holds one row of n_vocab per token with logits=true, in order.
  Expected<bool> decode(const std::vector<BatchToken>& batch, KvCache& kv, ThreadPool& pool);

  const float* logits() const { return logits_.data(); }
  int32_t n_logits() const { return n_out_; }
  // Final hidden states (after output norm) of every token of the last batch: T x n_embd.
  const float* hidden() const { return xn_.data(); }
  int32_t max_batch() const { return max_batch_; }
  const Model& model() const { return *model_; }

 private:
  void check_batch(const std::vector<BatchToken>& batch, const KvCache& kv) const;
  void attention(const std::vector<BatchToken>& batch, int layer, KvCache& kv, ThreadPool& pool);

  std::shared_ptr<const Model> model_;
  int32_t max_batch_;
  // Activations, row-major [T][dim].
  std::vector<float> x_, xn_, q_, k_, v_, att_, gate_, up_, out_rows_, logits_;
  // Mixture of experts: router scores, each token's chosen experts and weights, one expert's
  // tokens gathered, its gate/up/down products, and every (token, choice)'s weighted output.
  std::vector<float> router_, moe_w_, moe_x_, moe_g_, moe_u_, moe_y_, moe_out_;
  std::vector<int32_t> moe_sel_;
  std::vector<kernels::Product> moe_prods_;  // a generated token's expert products
  std::vector<float> q16_;                   // per thread: the query rounded to f16
  std::vector<uint16_t> acc16_;              // per thread: f16 attention accumulator
  int32_t n_out_ = 0;
};

}  // namespace llmchain::model
