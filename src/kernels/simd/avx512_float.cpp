// AVX-512 kernels for F32, F16 (activations rounded through f16, computed in f32 FMA) and
// BF16 (vdpbf16ps on bf16 activations; needs AVX512-BF16, checked by the table).
#include <immintrin.h>

#include "kernels/matmul_kernel.h"
#include "kernels/simd/act_formats.h"
#include "kernels/simd/x86_kernels.h"

namespace llmchain::kernels::x86 {
namespace {

enum class Kind { kF32, kF16 };

template <Kind kKind>
inline __m512 load_w(const uint8_t* row, int64_t i) {
  if constexpr (kKind == Kind::kF32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
  } else {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(row) + i)));
  }
}

template <Kind kKind, int R, int C>
void tile_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  // Two partial accumulators per output when the tile is small keep the FMA pipes busy.
  constexpr int U = (R * C >= 8) ? 1 : 2;
  __m512 acc[U][R][C];
  for (int u = 0; u < U; ++u)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[u][r][c] = _mm512_setzero_ps();
  constexpr int64_t kElem = kKind == Kind::kF32 ? 4 : 2;
  for (int64_t i = 0; i < K; i += 16 * U) {
    // The next tile's rows (they follow these R rows), at the same pace: memory traffic
    // overlaps the arithmetic. Past the matrix's end these are harmless hints.
    for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(W + (R + r) * ws + i * kElem), _MM_HINT_T0);
    for (int u = 0; u < U; ++u) {
      __m512 w[R];
      for (int r = 0; r < R; ++r) w[r] = load_w<kKind>(W + r * ws, i + 16 * u);
      for (int c = 0; c < C; ++c) {
        const __m512 x = _mm512_load_ps(reinterpret_cast<const float*>(X + c * xs) + i + 16 * u);
        for (int r = 0; r < R; ++r) acc[u][r][c] = _mm512_fmadd_ps(w[r], x, acc[u][r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      __m512 s = acc[0][r][c];
      if constexpr (U == 2) s = _mm512_add_ps(s, acc[U - 1][r][c]);
      Y[c * ldy + r] = _mm512_reduce_add_ps(s);
    }
}

template <int R, int C>
void bf16_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t i = 0; i < K; i += 32) {
    __m512bh w[R];
    for (int r = 0; r < R; ++r) w[r] = (__m512bh)_mm512_loadu_si512(reinterpret_cast<const uint16_t*>(W + r * ws) + i);
    for (int c = 0; c < C; ++c) {
      const __m512bh x = (__m512bh)_mm512_load_si512(reinterpret_cast<const uint16_t*>(X + c * xs) + i);
      for (int r = 0; r < R; ++r) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], w[r], x);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) Y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]);
}

template <int R, int C>
void f32_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kF32, R, C>(K, W, ws, X, xs, Y, ldy);
}
template <int R, int C>
void f16_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kF16, R, C>(K, W, ws, X, xs, Y, ldy);
}

LLMC_DEFINE_TILE_DISPATCH(f32_tile, f32_rc)
LLMC_DEFINE_TILE_DISPATCH(f16_tile, f16_rc)
LLMC_DEFINE_TILE_DISPATCH(bf16_tile, bf16_rc)

}  // namespace

const MatmulKernel kAvx512F32 = {32, 1024, act_f32_bytes, pack_act_f32, f32_tile};
const MatmulKernel kAvx512F16 = {32, 1024, act_f32_bytes, pack_act_f16_as_f32, f16_tile};
const MatmulKernel kAvx512BF16 = {32, 1024, act_bf16_bytes, pack_act_bf16, bf16_tile};

}  // namespace llmchain::kernels::x86
