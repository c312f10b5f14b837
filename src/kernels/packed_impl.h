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

// Activation formats: Q8_0-style rows for Q4_0 / Q8_0 weights, Q8_K super-blocks (the x86 ActQ8K
// layout: float d; int16 bsums16[16]; int16 bsums32[8]; pad; int8 qs[256]) for Q4_K.
enum class ActKind { kQ8_0, kQ8_K };
inline ActKind act_kind(GgmlType wt) {
  return wt == GgmlType::Q4_K || wt == GgmlType::Q5_K || wt == GgmlType::Q6_K ? ActKind::kQ8_K : ActKind::kQ8_0;
}

inline size_t act_bytes(ActKind kind, int64_t K) {
  if (kind == ActKind::kQ8_K) return static_cast<size_t>(K / 256) * 320;
  return (static_cast<size_t>(K) + static_cast<size_t>(K / 32) * 8 + 63) / 64 * 64;
}
inline const float* act_d(const uint8_t* row, int64_t K) { return reinterpret_cast<const float*>(row + K); }
inline const int32_t* act_nsum(const uint8_t* row, int64_t K) {
  return reinterpret_cast<const int32_t*>(row + K) + K / 32;
}
inline int quant_offset(GgmlType wt) { return wt == GgmlType::Q4_0 ? 8 : wt == GgmlType::Q5_0 ? 16 : 128; }
inline int chunks_per_block(GgmlType wt) { return wt == GgmlType::Q4_0 || wt == GgmlType::Q5_0 ? 4 : 8; }
// Q5_0 groups: the Q4_0 layout (scales, then the nibbles) followed by the high bits,
// uint8 qh[nb][4][16]: byte (b, j, r) holds bit 4 of row r's elements 4j..4j+3 (bits 0..3) and
// 16+4j..16+4j+3 (bits 4..7) of block b, the elements whose nibbles chunk j holds.
constexpr size_t kQ5HighBytes = 4 * 16;

// Q4_K group, per 256-element super-block (2368 bytes, a multiple of 64):
//   fp16 d[16], fp16 dmin[16], uint8 sc[8][16], uint8 mins[4][16][2], uint8 qs[4][8][16][4]
// qs[k][c][r]: bytes 32k+4c..32k+4c+3 of row r's nibbles (low = sub-block 2k, high = 2k+1).
constexpr size_t kQ4KGroupBlockBytes = 32 + 32 + 128 + 128 + 2048;
// Q5_K group, per super-block (2880 bytes): the Q4_K layout (the low 4 bits in qs), then the high
// bits uint8 qh[4][8][16]: byte (k, c, r) holds bit 4 of row r's elements 4c..4c+3 of sub-block 2k
// (bits 0..3) and of sub-block 2k+1 (bits 4..7), the elements whose nibbles qs[k][c][r] holds.
constexpr size_t kQ5KGroupBlockBytes = kQ4KGroupBlockBytes + 512;
// Q6_K group, per super-block (3392 bytes): fp16 d[16], pad 32, int8 sc[16][16] (sub-block of 16,
// row), uint8 ql[4][8][16][4], uint8 qh[4][4][16][4]. Element e of pair k (64k + e, e < 64):
//   low 4 bits: ql[k][(e % 32) / 4][r][e % 4], low nibble for e < 32, high nibble otherwise;
//   high 2 bits: group g = e / 4 = m + 4s -> bits 2s..2s+1 of qh[k][m][r][e % 4].
constexpr size_t kQ6KGroupBlockBytes = 64 + 256 + 2048 + 1024;

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
void packed_act_q8k_avx2(const float* x, int64_t K, uint8_t* dst);
}  // namespace llmchain::kernels::x86
