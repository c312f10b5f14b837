// AVX-512 VNNI kernels for the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
//
// Two blocks (A, B) are processed per 512-bit register in element order [A0..31, B0..31], so one
// vpdpbusd gives 8 int32 partial sums per block. Weights enter vpdpbusd as the unsigned operand
// (offset by 8 / 16 / 128 for the signed types); the offset times the activation block sum is
// subtracted exactly in integers by seeding the accumulator with -offset * sum(q8) (computed once
// per token). Block scales are applied per lane in float: lanes 0..7 use A's, 8..15 use B's.
#include <immintrin.h>

#include "kernels/matmul_kernel.h"
#include "kernels/simd/act_formats.h"
#include "kernels/simd/x86_kernels.h"
#include "kernels/simd/x86_util.h"

namespace llmchain::kernels::x86 {
namespace {

// [dA x8, dB x8] from two fp16 values.
inline __m512 pair_scale_f16(uint16_t a, uint16_t b) {
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(a | (static_cast<uint32_t>(b) << 16))));
  return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                               _mm512_castps128_ps512(f));
}
// [dA x8, dB x8] from two consecutive floats.
inline __m512 pair_scale_f32(const float* p) {
  const __m128 f = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p)));
  return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                               _mm512_castps128_ps512(f));
}
// [sA, 0 x7, sB, 0 x7]: adds each block's min term exactly once.
inline __m512 pair_single_f32(const float* p) {
  const __m128 f = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p)));
  return _mm512_maskz_permutexvar_ps(0x0101, _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                     _mm512_castps128_ps512(f));
}

// Expands two 16-byte nibble arrays into [A lo, A hi, B lo, B hi] = elements in order.
inline __m512i expand_nibbles_pair(const uint8_t* qa, const uint8_t* qb) {
  const __m256i ab =
      _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qa))),
                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(qb)), 1);
  const __m512i aabb = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0), _mm512_castsi256_si512(ab));
  const __m512i shifted = _mm512_srlv_epi16(aabb, _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0,
                                                                   0x0004000400040004, 0x0004000400040004, 0, 0));
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
}

// Extended ActQ8 for these kernels: after the ActQ8 row (padded to 64 bytes), per pair of blocks
// p: float dx16[16] ([dA x8, dB x8]) and int32 nsum16[16] (-(sum of each 4 consecutive quants)),
// so the per-token work per pair is two loads instead of a permute, a dpbusd and a subtract.
struct PairExtras {
  float dx[16];
  int32_t nsum[16];
};
inline size_t act_q8x_extras_offset(int64_t K) { return (act_q8_bytes(K) + 63) / 64 * 64; }
size_t act_q8x_bytes(int64_t K) { return act_q8x_extras_offset(K) + static_cast<size_t>(K / 64) * sizeof(PairExtras); }

void add_pair_extras(int64_t K, uint8_t* row) {
  const float* d = act_q8_d(row, K);
  auto* ex = reinterpret_cast<PairExtras*>(row + act_q8x_extras_offset(K));
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t p = 0; p < K / 64; ++p) {
    _mm512_store_ps(ex[p].dx, pair_scale_f32(d + 2 * p));
    const __m512i q = _mm512_load_si512(row + 64 * p);
    _mm512_store_si512(ex[p].nsum,
                       _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, q)));
  }
}
void pack_act_q8_0x(const float* x, int64_t K, void* dst) {
  pack_act_q8_0(x, K, dst);
  add_pair_extras(K, static_cast<uint8_t*>(dst));
}
void pack_act_q8_1x(const float* x, int64_t K, void* dst) {
  pack_act_q8_1(x, K, dst);
  add_pair_extras(K, static_cast<uint8_t*>(dst));
}

enum class Kind { kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0 };

template <Kind kKind>
struct Traits;
template <>
struct Traits<Kind::kQ4_0> {
  static constexpr int kBytes = 18, kOffset = 8, kShift = 3;
  static constexpr bool kHasMin = false;
};
template <>
struct Traits<Kind::kQ4_1> {
  static constexpr int kBytes = 20, kOffset = 0;  // no kShift: only offset kinds use it
  static constexpr bool kHasMin = true;
};
template <>
struct Traits<Kind::kQ5_0> {
  static constexpr int kBytes = 22, kOffset = 16, kShift = 4;
  static constexpr bool kHasMin = false;
};
template <>
struct Traits<Kind::kQ5_1> {
  static constexpr int kBytes = 24, kOffset = 0;
  static constexpr bool kHasMin = true;
};
template <>
struct Traits<Kind::kQ8_0> {
  static constexpr int kBytes = 34, kOffset = 128, kShift = 7;
  static constexpr bool kHasMin = false;
};

// Unsigned weight quants of blocks a and b (consecutive) in element order, plus scales.
template <Kind kKind>
inline __m512i load_weights(const uint8_t* a, __m512* d, __m512* m) {
  const uint8_t* b = a + Traits<kKind>::kBytes;
  *d = pair_scale_f16(load_u16(a), load_u16(b));
  if constexpr (kKind == Kind::kQ4_0) {
    return expand_nibbles_pair(a + 2, b + 2);
  } else if constexpr (kKind == Kind::kQ4_1) {
    *m = pair_scale_f16(load_u16(a + 2), load_u16(b + 2));
    return expand_nibbles_pair(a + 4, b + 4);
  } else if constexpr (kKind == Kind::kQ5_0) {
    const __m512i w = expand_nibbles_pair(a + 6, b + 6);
    const __mmask64 k = static_cast<__mmask64>(load_u32(a + 2)) | (static_cast<__mmask64>(load_u32(b + 2)) << 32);
    return _mm512_mask_add_epi8(w, k, w, _mm512_set1_epi8(0x10));  // bit 4 is clear: add == or
  } else if constexpr (kKind == Kind::kQ5_1) {
    *m = pair_scale_f16(load_u16(a + 2), load_u16(b + 2));
    const __m512i w = expand_nibbles_pair(a + 8, b + 8);
    const __mmask64 k = static_cast<__mmask64>(load_u32(a + 4)) | (static_cast<__mmask64>(load_u32(b + 4)) << 32);
    return _mm512_mask_add_epi8(w, k, w, _mm512_set1_epi8(0x10));
  } else {
    const __m512i w =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 2))),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)), 1);
    return _mm512_xor_si512(w, _mm512_set1_epi8(static_cast<char>(0x80)));
  }
}

template <Kind kKind, int R, int C>
void tile_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  using Tr = Traits<kKind>;
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  const float* xsum[C];
  const PairExtras* ex[C];
  for (int c = 0; c < C; ++c) {
    xsum[c] = act_q8_s(X + c * xs, K);
    ex[c] = reinterpret_cast<const PairExtras*>(X + c * xs + act_q8x_extras_offset(K));
  }
  for (int64_t p = 0; p < K / 64; ++p) {
    __m512i w[R];
    __m512 dw[R], mw[R];
    for (int r = 0; r < R; ++r) w[r] = load_weights<kKind>(W + r * ws + 2 * p * Tr::kBytes, &dw[r], &mw[r]);
    for (int c = 0; c < C; ++c) {
      const __m512i q = _mm512_load_si512(X + c * xs + 64 * p);
      const __m512 dx = _mm512_load_ps(ex[c][p].dx);
      __m512i seed = _mm512_setzero_si512();
      if constexpr (Tr::kOffset != 0) seed = _mm512_slli_epi32(_mm512_load_si512(ex[c][p].nsum), Tr::kShift);
      __m512 sx;
      if constexpr (Tr::kHasMin) sx = pair_single_f32(xsum[c] + 2 * p);
      for (int r = 0; r < R; ++r) {
        const __m512i dot = _mm512_dpbusd_epi32(seed, w[r], q);
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[r], dx), acc[r][c]);
        if constexpr (Tr::kHasMin) acc[r][c] = _mm512_fmadd_ps(mw[r], sx, acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) Y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]);
}

template <int R, int C>
void q4_0_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kQ4_0, R, C>(K, W, ws, X, xs, Y, ldy);
}
template <int R, int C>
void q4_1_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kQ4_1, R, C>(K, W, ws, X, xs, Y, ldy);
}
template <int R, int C>
void q5_0_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kQ5_0, R, C>(K, W, ws, X, xs, Y, ldy);
}
template <int R, int C>
void q5_1_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kQ5_1, R, C>(K, W, ws, X, xs, Y, ldy);
}
template <int R, int C>
void q8_0_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kQ8_0, R, C>(K, W, ws, X, xs, Y, ldy);
}

LLMC_DEFINE_TILE_DISPATCH(q4_0_tile, q4_0_rc)
LLMC_DEFINE_TILE_DISPATCH(q4_1_tile, q4_1_rc)
LLMC_DEFINE_TILE_DISPATCH(q5_0_tile, q5_0_rc)
LLMC_DEFINE_TILE_DISPATCH(q5_1_tile, q5_1_rc)
LLMC_DEFINE_TILE_DISPATCH(q8_0_tile, q8_0_rc)

}  // namespace

const MatmulKernel kAvx512Q4_0 = {64, 0, act_q8x_bytes, pack_act_q8_0x, q4_0_tile};
const MatmulKernel kAvx512Q4_1 = {64, 0, act_q8x_bytes, pack_act_q8_1x, q4_1_tile};
const MatmulKernel kAvx512Q5_0 = {64, 0, act_q8x_bytes, pack_act_q8_0x, q5_0_tile};
const MatmulKernel kAvx512Q5_1 = {64, 0, act_q8x_bytes, pack_act_q8_1x, q5_1_tile};
const MatmulKernel kAvx512Q8_0 = {64, 0, act_q8x_bytes, pack_act_q8_0x, q8_0_tile};

}  // namespace llmchain::kernels::x86
