#pragma once
// Products of activations with a model's weight matrices, for the forward passes (forward.cpp,
// encoder.cpp): the packed kernels where the matrix was repacked, else its type's kernel.
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "base/thread_pool.h"
#include "model/model.h"

namespace llmchain::model {

// y[rows x w.n_rows] = x[rows x w.n_cols] * w^T
void linear(const Tensor& w, const float* x, float* y, int64_t rows, ThreadPool& pool);
// Products of the same input in one pass (one activation quantization, one fork-join) when every
// matrix is packed with a compatible activation format; otherwise one linear() each. At most 4.
void linear_multi(std::initializer_list<std::pair<const Tensor*, float*>> prods, const float* x, int64_t rows,
                  ThreadPool& pool);
// y[t * n + i] += b[i] for rows rows of n (nothing when b is absent).
void add_bias(float* y, const Tensor& b, int64_t n, int64_t rows);

}  // namespace llmchain::model
