#pragma once
// The seam between the model and the hardware. model/ holds its weights as Weight values and runs
// every product and row op of its forward passes through a Backend: a backend prepares each weight
// matrix once at load (the CPU backend repacks the types it has fast kernels for; a GPU backend
// would upload them) and runs the layer ops on prepared weights and f32 activations. model/ never
// asks for an ISA or a layout. A new backend is a new implementation of this class plus its name
// in find_backend().
//
// Backends:
//   cpu        the SIMD kernels of the running CPU (chosen at start-up), packed weights
//   reference  the scalar twin of every kernel, weights read as stored: the oracle the cpu
//              backend is tested against, and proof that the model needs nothing else
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "base/ggml_types.h"
#include "base/thread_pool.h"
#include "kernels/ops.h"

namespace llmchain::kernels {

// A backend's own form of a weight matrix; opaque to everything but the backend that made it.
class PreparedWeight {
 public:
  virtual ~PreparedWeight() = default;
};

// A weight: n_rows rows of n_cols elements in ggml layout (a vector when n_rows == 1), with the
// form its backend prepared (null: the backend reads it as stored).
struct Weight {
  GgmlType type = GgmlType::F32;
  const void* data = nullptr;
  int64_t n_cols = 0;
  int64_t n_rows = 0;
  const PreparedWeight* prepared = nullptr;
  size_t row_bytes() const { return ggml_row_bytes(type, n_cols); }
  const float* f32() const { return static_cast<const float*>(data); }
  explicit operator bool() const { return data != nullptr; }
};

// One product of Backend::linear_multi: y[t * w->n_rows + r] = sum_k w[r][k] * x[t][k].
struct Product {
  const Weight* w;
  float* y;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // ---- weights, once at load ----
  // The backend's form of matrix w, or null to read it as stored. Once prepared, the backend
  // reads w only through the prepared form (the caller may let the stored pages go).
  virtual std::shared_ptr<const PreparedWeight> prepare(const Weight& w) const = 0;
  // Rows [first, first + n) of a prepared matrix without a copy, keeping `of` alive (a mixture's
  // experts, prepared as the one tensor they are stored in); null when the backend cannot split
  // it there (then prepare each part on its own).
  virtual std::shared_ptr<const PreparedWeight> rows_of(std::shared_ptr<const PreparedWeight> of, int64_t first,
                                                        int64_t n) const = 0;

  // ---- products (throw kUnsupported for a weight type without a kernel) ----
  // y[t * w.n_rows + r] = sum_k w[r][k] * x[t * w.n_cols + k] for t < rows, activations quantized
  // as llama.cpp's CPU backend does for the weight type. Must not be called from a job of `pool`.
  virtual void linear(const Weight& w, const float* x, float* y, int64_t rows, ThreadPool& pool) const = 0;
  // Products of the same activations (equal n_cols), in one pass where the backend can.
  virtual void linear_multi(std::span<const Product> products, const float* x, int64_t rows,
                            ThreadPool& pool) const = 0;

  // ---- row ops (arithmetic as documented in ops.h) ----
  // Row `row` of w dequantized to f32 (embedding lookups).
  virtual void get_row(const Weight& w, int64_t row, float* y) const = 0;
  virtual void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) const = 0;
  virtual void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps) const = 0;
  virtual void rope(float* x, int n_heads, int head_dim, int n_rot, int32_t pos, float freq_base, float freq_scale,
                    ops::RopeOrder order, const float* freq_factors) const = 0;
  virtual void silu_mul(const float* g, const float* u, float* y, int64_t n) const = 0;
  virtual void gelu_mul(const float* g, const float* u, float* y, int64_t n) const = 0;
  virtual void gelu(const float* x, float* y, int64_t n) const = 0;
  virtual void add(float* y, const float* x, int64_t n) const = 0;
  // f32 -> f16 (round to nearest even): K/V cache stores.
  virtual void to_f16(const float* x, uint16_t* y, int64_t n) const = 0;
  // One query against an f16 K/V cache (ops::attend_f16); q16 and acc16 are the caller's scratch.
  virtual void attend_f16(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_pos, int head_dim,
                          float scale, float softcap, float* out, float* q16, uint16_t* acc16) const = 0;
};

const Backend& cpu_backend();
const Backend& reference_backend();
// The backend of that name ("cpu", "reference"); null when there is none.
const Backend* find_backend(std::string_view name);
// Every backend's name, for usage messages.
std::vector<std::string_view> backend_names();

}  // namespace llmchain::kernels
