#pragma once
// Key/value cache: n_seq independent sequences of n_ctx positions each, per
// layer, stored as f16 (as llama.cpp's default cache type).
// Layout: [layer][seq][pos][kv_dim] for K and for V.
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace llmchain::model {

class KvCache {
 public:
  KvCache(const HParams& hp, int32_t n_seq, int32_t n_ctx);

  int32_t n_seq() const { return n_seq_; }
  int32_t n_ctx() const { return n_ctx_; }
  int32_t kv_dim() const { return kv_dim_; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(uint16_t); }

  uint16_t* k(int layer, int seq, int pos) { return k_.data() + offset(layer, seq, pos); }
  uint16_t* v(int layer, int seq, int pos) { return v_.data() + offset(layer, seq, pos); }
  const uint16_t* k(int layer, int seq, int pos) const { return k_.data() + offset(layer, seq, pos); }
  const uint16_t* v(int layer, int seq, int pos) const { return v_.data() + offset(layer, seq, pos); }

  // Positions [0, used(seq)) hold valid entries; the engine tracks which tokens they are.
  int32_t used(int seq) const { return used_[seq]; }
  void set_used(int seq, int32_t n) { used_[seq] = n; }
  // Copies positions [begin, end) of every layer from sequence src to dst (a
  // prefix shared by two sequences is computed once).
  void copy(int src, int dst, int32_t begin, int32_t end);

 private:
  size_t offset(int layer, int seq, int pos) const {
    return ((static_cast<size_t>(layer) * n_seq_ + seq) * n_ctx_ + pos) * kv_dim_;
  }
  int32_t n_layer_, n_seq_, n_ctx_, kv_dim_;
  std::vector<uint16_t> k_, v_;
  std::vector<int32_t> used_;
};

}  // namespace llmchain::model
