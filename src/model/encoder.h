#pragma once
// The forward pass of BERT-family encoders (ArchSpec::encoder): one sequence at a time, every
// token attending to every other (no causal mask, no KV cache), then pooled as the model says
// (HParams::pooling). Arithmetic as llama.cpp's bert graph with flash attention: K and V rounded
// to f16, the per-head attention of ops::attend_f16.
#include <cstdint>
#include <memory>
#include <vector>

#include "base/error.h"
#include "base/thread_pool.h"
#include "model/model.h"

namespace llmchain::model {

class Encoder {
 public:
  explicit Encoder(std::shared_ptr<const Model> model);

  // The output of one sequence pooled as `pooling` says (the model's is hparams().pooling):
  // mean / cls / last: n_embd floats (not normalised); rank: the classification head's n_cls_out
  // scores; none: every token's n_embd floats. kInvalidArgument for an empty sequence, a token
  // outside the vocabulary, or more tokens than the model's position embeddings cover.
  Expected<std::vector<float>> run(const std::vector<int32_t>& tokens, ThreadPool& pool, Pooling pooling);

 private:
  std::shared_ptr<const Model> model_;
  std::vector<float> x_, y_, q_, k_, v_, att_, ff_, gate_, q16_;
  std::vector<uint16_t> k16_, v16_, acc16_;
};

}  // namespace llmchain::model
