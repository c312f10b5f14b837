#include "model/kv_cache.h"

#include <algorithm>

namespace llmchain::model {

KvCache::KvCache(const HParams& hp, int32_t n_seq, int32_t n_ctx)
    : n_layer_(hp.n_layer), n_seq_(n_seq), n_ctx_(n_ctx), kv_dim_(hp.kv_dim()), used_(n_seq, 0) {
  const size_t n = static_cast<size_t>(n_layer_) * n_seq_ * n_ctx_ * kv_dim_;
  k_.resize(n);
  v_.resize(n);
}

void KvCache::copy(int src, int dst, int32_t begin, int32_t end) {
  if (src == dst || end <= begin) return;
  const size_t n = static_cast<size_t>(end - begin) * kv_dim_;
  for (int l = 0; l < n_layer_; ++l) {
    std::copy_n(k_.data() + offset(l, src, begin), n, k_.data() + offset(l, dst, begin));
    std::copy_n(v_.data() + offset(l, src, begin), n, v_.data() + offset(l, dst, begin));
  }
}

}  // namespace llmchain::model
