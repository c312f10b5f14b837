// AVX2 + FMA + F16C kernels for F32, F16 (f16-rounded activations, f32 FMA) and BF16 (weights
// widened to f32, bf16-rounded activations).
#include <immintrin.h>

#include "kernels/matmul_kernel.h"
#include "kernels/simd/act_formats.h"
#include "kernels/simd/x86_kernels.h"

namespace llmchain::kernels::x86 {
namespace {

enum class Kind { kF32, kF16, kBF16 };

template <Kind kKind>
inline __m256 load_w(const uint8_t* row, int64_t i) {
  if constexpr (kKind == Kind::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i));
    if constexpr (kKind == Kind::kF16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <Kind kKind, int R, int C>
void tile_impl(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  constexpr int U = (R * C >= 8) ? 1 : 2;
  __m256 acc[U][R][C];
  for (int u = 0; u < U; ++u)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[u][r][c] = _mm256_setzero_ps();
  for (int64_t i = 0; i < K; i += 8 * U) {
    for (int u = 0; u < U; ++u) {
      __m256 w[R];
      for (int r = 0; r < R; ++r) w[r] = load_w<kKind>(W + r * ws, i + 8 * u);
      for (int c = 0; c < C; ++c) {
        const __m256 x = _mm256_load_ps(reinterpret_cast<const float*>(X + c * xs) + i + 8 * u);
        for (int r = 0; r < R; ++r) acc[u][r][c] = _mm256_fmadd_ps(w[r], x, acc[u][r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      __m256 v = acc[0][r][c];
      if constexpr (U == 2) v = _mm256_add_ps(v, acc[U - 1][r][c]);
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_movehdup_ps(s));
      Y[c * ldy + r] = _mm_cvtss_f32(s);
    }
}

template <Kind kKind, int R, int C>
void tile_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  if constexpr (C == 4 && R == 4) {
    tile_impl<kKind, R, 2>(K, W, ws, X, xs, Y, ldy);
    tile_impl<kKind, R, 2>(K, W, ws, X + 2 * xs, xs, Y + 2 * ldy, ldy);
  } else {
    tile_impl<kKind, R, C>(K, W, ws, X, xs, Y, ldy);
  }
}

#define LLMC_AVX2_FLOAT(name, kind)                                                                            \
  template <int R, int C>                                                                                      \
  void name##_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) { \
    tile_rc<kind, R, C>(K, W, ws, X, xs, Y, ldy);                                                              \
  }                                                                                                            \
  LLMC_DEFINE_TILE_DISPATCH(name##_tile, name##_rc)

LLMC_AVX2_FLOAT(f32, Kind::kF32)
LLMC_AVX2_FLOAT(f16, Kind::kF16)
LLMC_AVX2_FLOAT(bf16, Kind::kBF16)

}  // namespace

const MatmulKernel kAvx2F32 = {16, 1024, act_f32_bytes, pack_act_f32, f32_tile};
const MatmulKernel kAvx2F16 = {16, 1024, act_f32_bytes, pack_act_f16_as_f32, f16_tile};
const MatmulKernel kAvx2BF16 = {16, 1024, act_f32_bytes, pack_act_bf16_as_f32, bf16_tile};

}  // namespace llmchain::kernels::x86
