#pragma once
// Weights re-laid out once at load time for the matmul kernels ("repacking", as llama.cpp's CPU
// backend does for Q4_0 / Q8_0): rows are interleaved in groups of kPackRows so that one 512-bit
// register holds 4 consecutive quants of 16 different rows, and one broadcast activation dword
// feeds 16 rows at once (vpdpbusd). Scales of a group's 16 rows sit side by side and convert with
// one instruction. The arithmetic per block is that of the unpacked kernels: the integer block dot
// product, times the product of the fp16 weight scale and the activation's block scale.
//
// Group layout (nb = K / 32 blocks, 64-byte aligned):
//   fp16 d[nb][16]                     block scales of the group's 16 rows
//   uint8 qs[nb][chunks][16][4]        chunk j of row r: quant bytes 4j..4j+3 of the block
//     Q4_0: 4 chunks of the 16 nibble bytes (low nibble = element i, high = element i + 16)
//     Q8_0: 8 chunks of the 32 quants, stored offset by +128 (unsigned)
// Rows past N in the last group are zero. Q4_K and Q6_K have their own super-block layouts
// (packed_impl.h).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/ggml_types.h"
#include "base/thread_pool.h"

namespace llmchain::kernels {

constexpr int kPackRows = 16;

class PackedWeights {
 public:
  // True for the types and shapes that have a packed layout (Q4_0, Q5_0, Q8_0 with K a multiple of 64,
  // and IQ4_NL, packed as the Q8_0 it exactly is;
  // Q4_K, Q5_K, Q6_K with K a multiple of 256).
  static bool supported(GgmlType wt, int64_t N, int64_t K);
  // Repacks N rows of K elements in ggml layout. Throws kUnsupported when !supported().
  static std::unique_ptr<PackedWeights> pack(GgmlType wt, const void* W, int64_t N, int64_t K);
  // Rows [first, first + n) of packed weights, without a copy (first a multiple of kPackRows; the
  // view must not outlive `of`): the experts of a mixture, packed as one tensor on huge pages.
  static std::unique_ptr<PackedWeights> rows_view(const PackedWeights& of, int64_t first, int64_t n);
  // Whether the running CPU has a fast kernel for packed weights (else the scalar one is used).
  static bool fast_path_available();
  // Whether products of a and b can share one matmul_packed call.
  static bool compatible(GgmlType a, GgmlType b) { return is_k(a) == is_k(b); }

  GgmlType type() const { return type_; }
  int64_t rows() const { return n_; }
  int64_t cols() const { return k_; }
  int64_t groups() const { return (n_ + kPackRows - 1) / kPackRows; }
  size_t group_bytes() const { return group_bytes_; }
  size_t bytes() const { return group_bytes_ * static_cast<size_t>(groups()); }
  const uint8_t* group(int64_t g) const { return base_ + group_bytes_ * static_cast<size_t>(g); }
  // Element (r, k) dequantized, for tests.
  float at(int64_t r, int64_t k) const;

 private:
  static bool is_k(GgmlType t) { return t == GgmlType::Q4_K || t == GgmlType::Q5_K || t == GgmlType::Q6_K; }
  struct Free {
    void operator()(uint8_t* p) const;
  };
  GgmlType type_ = GgmlType::Q4_0;
  int64_t n_ = 0, k_ = 0;
  size_t group_bytes_ = 0;
  std::unique_ptr<uint8_t, Free> data_;  // null for a rows_view
  const uint8_t* base_ = nullptr;        // the first group
};

// One product of a fused call: Y[t*ldy + r] = sum_k W[r][k] * X[t][k].
struct PackedProduct {
  const PackedWeights* w;
  float* y;
  int64_t ldy;
};

// Computes every product for the same activations X (T rows of K floats) in one pass over the pool:
// X is quantized to Q8_0 once (as llama.cpp's CPU backend does) and the groups of all products are
// shared out among the threads. All products must have K columns and the same activation format
// (compatible(): Q4_0, Q5_0 and Q8_0; Q4_K, Q5_K and Q6_K). Must not be called from inside a
// job of the same pool.
void matmul_packed(const PackedProduct* products, int n_products, const float* X, int64_t T, ThreadPool& pool);

}  // namespace llmchain::kernels
