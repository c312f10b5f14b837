#include "model/kv_cache.h"

namespace llmchain::model {

KvCache::KvCache(const HParams& hp, int32_t n_seq, int32_t n_ctx)
    : n_layer_(hp.n_layer), n_seq_(n_seq), n_ctx_(n_ctx), kv_dim_(hp.kv_dim()), used_(n_seq, 0) {
  const size_t n = static_cast<size_t>(n_layer_) * n_seq_ * n_ctx_ * kv_dim_;
  k_.resize(n);
  v_.resize(n);
}

}  // namespace llmchain::model
