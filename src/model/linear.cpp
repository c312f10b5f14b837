#include "model/linear.h"

#include "base/error.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace llmchain::model {

void linear(const Tensor& w, const float* x, float* y, int64_t rows, ThreadPool& pool) {
  if (w.packed) {
    const kernels::PackedProduct p{w.packed, y, w.n_rows};
    kernels::matmul_packed(&p, 1, x, rows, pool);
    return;
  }
  kernels::matmul(w.type, w.data, w.n_rows, w.n_cols, x, rows, y, w.n_rows, pool);
}

void linear_multi(std::initializer_list<std::pair<const Tensor*, float*>> prods, const float* x, int64_t rows,
                  ThreadPool& pool) {
  if (prods.size() > 4) fail(ErrorCode::kInternal, "linear_multi: {} products, at most 4", prods.size());
  kernels::PackedProduct ps[4];
  int n = 0;
  for (const auto& [w, out] : prods) {
    if (!w->packed || !kernels::PackedWeights::compatible(w->type, prods.begin()->first->type)) {
      for (const auto& [w2, out2] : prods) linear(*w2, x, out2, rows, pool);
      return;
    }
    ps[n++] = {w->packed, out, w->n_rows};
  }
  kernels::matmul_packed(ps, n, x, rows, pool);
}

void add_bias(float* y, const Tensor& b, int64_t n, int64_t rows) {
  if (!b) return;
  for (int64_t t = 0; t < rows; ++t) kernels::ops::add(y + t * n, b.f32(), n);
}

}  // namespace llmchain::model
