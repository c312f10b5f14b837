#pragma once
// Helpers of the forward passes (forward.cpp, encoder.cpp) over the model's backend.
#include <cstdint>
#include <initializer_list>

#include "base/thread_pool.h"
#include "kernels/backend.h"
#include "model/model.h"

namespace llmchain::model {

// Backend::linear_multi over a braced list of products.
inline void linear_multi(const kernels::Backend& be, std::initializer_list<kernels::Product> products, const float* x,
                         int64_t rows, ThreadPool& pool) {
  be.linear_multi({products.begin(), products.size()}, x, rows, pool);
}
// y[t * n + i] += b[i] for rows rows of n (nothing when b is absent).
void add_bias(const kernels::Backend& be, float* y, const Tensor& b, int64_t n, int64_t rows);

}  // namespace llmchain::model
