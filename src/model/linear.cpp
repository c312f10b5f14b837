#include "model/linear.h"

namespace llmchain::model {

void add_bias(const kernels::Backend& be, float* y, const Tensor& b, int64_t n, int64_t rows) {
  if (!b) return;
  for (int64_t t = 0; t < rows; ++t) be.add(y + t * n, b.f32(), n);
}

}  // namespace llmchain::model
