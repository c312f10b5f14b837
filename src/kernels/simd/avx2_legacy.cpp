// AVX2 kernels for the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): one block per 256-bit
// register, vpmaddubsw + vpmaddwd for the integer dot, per-block scales applied in float.
// Offset types (Q4_0: 8, Q5_0: 16) use unsigned quants and subtract offset * sum(q8) exactly in
// int32; Q8_0 uses the abs/sign trick.
#include <immintrin.h>

#include "kernels/matmul_kernel.h"
#include "kernels/simd/act_formats.h"
#include "kernels/simd/x86_kernels.h"
#include "kernels/simd/x86_util.h"

namespace llmchain::kernels::x86 {
namespace {

enum class Kind { kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0 };

template <Kind k>
constexpr int kBytes = k == Kind::kQ4_0   ? 18
                       : k == Kind::kQ4_1 ? 20
                       : k == Kind::kQ5_0 ? 22
                       : k == Kind::kQ5_1 ? 24
                                          : 34;
template <Kind k>
constexpr int kOffset = k == Kind::kQ4_0   ? 8
                        : k == Kind::kQ5_0 ? 16
                                           : 0;
template <Kind k>
constexpr bool kHasMin = k == Kind::kQ4_1 || k == Kind::kQ5_1;

inline __m256i expand_nibbles(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m4 = _mm_set1_epi8(0x0F);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(v, m4)), _mm_and_si128(_mm_srli_epi16(v, 4), m4),
                                 1);
}

// 0x10 in byte j where bit j of qh is set.
inline __m256i high_bits(uint32_t qh) {
  const __m256i sel = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), sel);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

template <Kind kKind>
inline __m256i load_weights(const uint8_t* b, float* d, float* m) {
  *d = h2f(load_u16(b));
  if constexpr (kKind == Kind::kQ4_0) {
    return expand_nibbles(b + 2);
  } else if constexpr (kKind == Kind::kQ4_1) {
    *m = h2f(load_u16(b + 2));
    return expand_nibbles(b + 4);
  } else if constexpr (kKind == Kind::kQ5_0) {
    return _mm256_or_si256(expand_nibbles(b + 6), high_bits(load_u32(b + 2)));
  } else if constexpr (kKind == Kind::kQ5_1) {
    *m = h2f(load_u16(b + 2));
    return _mm256_or_si256(expand_nibbles(b + 8), high_bits(load_u32(b + 4)));
  } else {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2));
  }
}

template <Kind kKind, int R, int C>
void tile_impl(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i offset = _mm256_set1_epi8(static_cast<char>(kOffset<kKind>));
  const float* xd[C];
  const float* xsum[C];
  for (int c = 0; c < C; ++c) {
    xd[c] = act_q8_d(X + c * xs, K);
    xsum[c] = act_q8_s(X + c * xs, K);
  }
  for (int64_t b = 0; b < K / 32; ++b) {
    __m256i w[R];
    float dw[R], mw[R];
    for (int r = 0; r < R; ++r) {
      w[r] = load_weights<kKind>(W + r * ws + b * kBytes<kKind>, &dw[r], &mw[r]);
      if constexpr (kKind == Kind::kQ8_0) w[r] = _mm256_abs_epi8(w[r]);  // signs move to q
    }
    for (int c = 0; c < C; ++c) {
      const __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i*>(X + c * xs + 32 * b));
      const float dx = xd[c][b];
      __m256i corr = _mm256_setzero_si256();
      if constexpr (kOffset<kKind> != 0) corr = _mm256_madd_epi16(_mm256_maddubs_epi16(offset, q), ones);
      for (int r = 0; r < R; ++r) {
        __m256i dot;
        if constexpr (kKind == Kind::kQ8_0) {
          const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W + r * ws + b * 34 + 2));
          dot = _mm256_madd_epi16(_mm256_maddubs_epi16(w[r], _mm256_sign_epi8(q, raw)), ones);
        } else {
          dot = _mm256_madd_epi16(_mm256_maddubs_epi16(w[r], q), ones);
          if constexpr (kOffset<kKind> != 0) dot = _mm256_sub_epi32(dot, corr);
        }
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(dw[r] * dx), acc[r][c]);
        if constexpr (kHasMin<kKind>)
          acc[r][c] = _mm256_add_ps(acc[r][c], _mm256_zextps128_ps256(_mm_set_ss(mw[r] * xsum[c][b])));
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[r][c]), _mm256_extractf128_ps(acc[r][c], 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_movehdup_ps(s));
      Y[c * ldy + r] = _mm_cvtss_f32(s);
    }
}

// 16 ymm registers: a 4x4 tile is computed as two 4x2 halves.
template <Kind kKind, int R, int C>
void tile_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  if constexpr (C == 4) {
    tile_impl<kKind, R, 2>(K, W, ws, X, xs, Y, ldy);
    tile_impl<kKind, R, 2>(K, W, ws, X + 2 * xs, xs, Y + 2 * ldy, ldy);
  } else {
    tile_impl<kKind, R, C>(K, W, ws, X, xs, Y, ldy);
  }
}

#define LLMC_AVX2_LEGACY(name, kind)                                                                           \
  template <int R, int C>                                                                                      \
  void name##_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) { \
    tile_rc<kind, R, C>(K, W, ws, X, xs, Y, ldy);                                                              \
  }                                                                                                            \
  LLMC_DEFINE_TILE_DISPATCH(name##_tile, name##_rc)

LLMC_AVX2_LEGACY(q4_0, Kind::kQ4_0)
LLMC_AVX2_LEGACY(q4_1, Kind::kQ4_1)
LLMC_AVX2_LEGACY(q5_0, Kind::kQ5_0)
LLMC_AVX2_LEGACY(q5_1, Kind::kQ5_1)
LLMC_AVX2_LEGACY(q8_0, Kind::kQ8_0)

}  // namespace

const MatmulKernel kAvx2Q4_0 = {32, 0, act_q8_bytes, pack_act_q8_0, q4_0_tile};
const MatmulKernel kAvx2Q4_1 = {32, 0, act_q8_bytes, pack_act_q8_1, q4_1_tile};
const MatmulKernel kAvx2Q5_0 = {32, 0, act_q8_bytes, pack_act_q8_0, q5_0_tile};
const MatmulKernel kAvx2Q5_1 = {32, 0, act_q8_bytes, pack_act_q8_1, q5_1_tile};
const MatmulKernel kAvx2Q8_0 = {32, 0, act_q8_bytes, pack_act_q8_0, q8_0_tile};

}  // namespace llmchain::kernels::x86
