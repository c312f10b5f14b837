#pragma once
// Internal interface between the packed-weights driver (packed.cpp) and its per-ISA kernels.
//
// Packed activation row (K floats -> act_bytes(K) bytes, 64-byte aligned):
//   int8 qs[K] | float d[K/32] | int32 nsum[K/32]
// d is the fp16-rounded Q8_0 block scale and nsum the negated sum of the block's quants, so a kernel
// folds the weights' unsigned offset (8 for Q4_0, 128 for Q8_0) in exactly: seed = offset * nsum.
#include <cstddef>
#include <cstdint>

#include "base/ggml_types.h"

namespace llmchain::kernels::packed_detail {

inline size_t act_bytes(int64_t K) { return (static_cast<size_t>(K) + static_cast<size_t>(K / 32) * 8 + 63) / 64 * 64; }
inline const float* act_d(const uint8_t* row, int64_t K) { return reinterpret_cast<const float*>(row + K); }
inline const int32_t* act_nsum(const uint8_t* row, int64_t K) {
  return reinterpret_cast<const int32_t*>(row + K) + K / 32;
}
inline int quant_offset(GgmlType wt) { return wt == GgmlType::Q4_0 ? 8 : 128; }
inline int chunks_per_block(GgmlType wt) { return wt == GgmlType::Q4_0 ? 4 : 8; }

// Y[c*ldy + r] for r < nrows (<= 16), c < ncols (<= kMaxCols) from one weight group.
constexpr int kMaxCols = 8;
using GroupFn = void (*)(GgmlType wt, const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, int ncols, float* Y,
                         int64_t ldy, int nrows);
using PackActFn = void (*)(const float* x, int64_t K, uint8_t* dst);

}  // namespace llmchain::kernels::packed_detail

namespace llmchain::kernels::x86 {
// AVX-512 VNNI kernels (simd/avx512_packed.cpp); activation packing uses the AVX2 quantizer.
void packed_group_avx512(GgmlType wt, const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, int ncols, float* Y,
                         int64_t ldy, int nrows);
void packed_act_avx2(const float* x, int64_t K, uint8_t* dst);
}  // namespace llmchain::kernels::x86
