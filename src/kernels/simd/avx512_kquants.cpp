// AVX-512 VNNI kernels for the K-quants (Q4_K, Q5_K, Q6_K) against Q8_K activations.
//
// Per 64-element chunk: vpmaddubsw (unsigned weight quants x signed q8 -> int16 pair sums, no
// saturation possible for <= 6-bit weights), then vpdpwssd with the sub-block scales as int16
// accumulates sum_j scale_j * dot_j exactly in int32 lanes over the whole super-block. Mins (Q4_K,
// Q5_K) and the -32 offset (Q6_K) use the activation block sums; one float FMA per super-block.
#include <immintrin.h>

#include "kernels/matmul_kernel.h"
#include "kernels/simd/act_formats.h"
#include "kernels/simd/x86_kernels.h"
#include "kernels/simd/x86_util.h"

namespace llmchain::kernels::x86 {
namespace {

enum class Kind { kQ4_K, kQ5_K, kQ6_K };

template <Kind kKind>
constexpr int kBlockBytes = kKind == Kind::kQ4_K   ? 144
                            : kKind == Kind::kQ5_K ? 176
                                                   : 210;

// int16 lane index vector selecting scale `a` for lanes 0..15 and `b` for lanes 16..31.
inline __m512i idx_pair(int a, int b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<short>(a))),
                            _mm256_set1_epi16(static_cast<short>(b)), 1);
}
// Four sub-blocks of 16 per 64-element chunk (Q6_K): lanes 8 each.
inline __m512i idx_quad(int a) {
  return _mm512_set_epi16(a + 3, a + 3, a + 3, a + 3, a + 3, a + 3, a + 3, a + 3, a + 2, a + 2, a + 2, a + 2, a + 2,
                          a + 2, a + 2, a + 2, a + 1, a + 1, a + 1, a + 1, a + 1, a + 1, a + 1, a + 1, a, a, a, a, a, a,
                          a, a);
}

// One super-block of one weight row, decoded: 4 chunks of 64 unsigned quants, per-chunk int16
// scales, and what the correction term needs.
struct Decoded {
  __m512i q[4];
  __m512i sc[4];
  __m128i mins;  // Q4_K/Q5_K: 8 x int16 mins
  __m256i sc16;  // Q6_K: 16 x int16 scales
  float d, dmin;
};

template <Kind kKind>
inline void decode(const uint8_t* b, Decoded* o) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  if constexpr (kKind == Kind::kQ4_K || kKind == Kind::kQ5_K) {
    o->d = h2f(load_u16(b));
    o->dmin = h2f(load_u16(b + 2));
    // 12 packed bytes -> bytes 0..7 scales, 8..15 mins, in SIMD (no store-forwarding stall).
    // Reads 16 bytes from b + 4: the 4 bytes past the scales belong to the same block.
    const __m128i u = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 4));  // [u0, u1, u2, *]
    const __m128i a = _mm_shuffle_epi32(u, _MM_SHUFFLE(2, 1, 2, 0));             // [u0, u2, u1, u2]
    const __m128i hb = _mm_shuffle_epi32(u, _MM_SHUFFLE(1, 1, 0, 0));            // [u0, u0, u1, u1]
    const __m128i lo = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)),
                                     _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    const __m128i hi =
        _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(hb, 6), _mm_setr_epi32(0, 0x03030303, 0, 0x03030303)), 4);
    const __m128i s = _mm_or_si128(lo, hi);
    const __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(s));
    o->mins = _mm_cvtepu8_epi16(_mm_srli_si128(s, 8));
    const uint8_t* qs = b + (kKind == Kind::kQ4_K ? 16 : 48);
    __m512i qh;
    if constexpr (kKind == Kind::kQ5_K)
      qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16)));
    for (int k = 0; k < 4; ++k) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * k));
      __m512i w = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), m4);
      if constexpr (kKind == Kind::kQ5_K) {
        const __m512i bits = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (2 * k))),
                                                _mm256_set1_epi8(static_cast<char>(1 << (2 * k + 1))), 1);
        w = _mm512_mask_add_epi8(w, _mm512_test_epi8_mask(qh, bits), w, _mm512_set1_epi8(0x10));
      }
      o->q[k] = w;
      o->sc[k] = _mm512_permutexvar_epi16(idx_pair(2 * k, 2 * k + 1), sc);
    }
  } else {
    const uint8_t* ql = b;
    const uint8_t* qhp = b + 128;
    o->d = h2f(load_u16(b + 208));
    o->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192)));
    const __m512i sc = _mm512_castsi256_si512(o->sc16);
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int h = 0; h < 2; ++h) {
      const __m512i v = _mm512_loadu_si512(ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qhp + 32 * h)));
      // high 2 bits: elements 0..31 <- bits 0-1, 32..63 <- bits 2-3, 64..95 <- 4-5, 96..127 <- 6-7
      const __m512i h_lo = _mm512_and_si512(_mm512_srlv_epi16(qh, idx_pair(0, 2)), m3);
      const __m512i h_hi = _mm512_and_si512(_mm512_srlv_epi16(qh, idx_pair(4, 6)), m3);
      o->q[2 * h] = _mm512_or_si512(_mm512_and_si512(v, m4), _mm512_slli_epi16(h_lo, 4));
      o->q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4), _mm512_slli_epi16(h_hi, 4));
      o->sc[2 * h] = _mm512_permutexvar_epi16(idx_quad(8 * h), sc);
      o->sc[2 * h + 1] = _mm512_permutexvar_epi16(idx_quad(8 * h + 4), sc);
    }
  }
}

template <Kind kKind, int R, int C>
void tile_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  constexpr bool kMins = kKind != Kind::kQ6_K;
  __m512 acc[R][C];
  // Q4_K/Q5_K min terms, -dmin * d8 * sum_j m_j * bsum_j: one register per token holds all R rows
  // (row r in lanes 4r..4r+3), so the correction costs a few ops per token, not per row and token.
  __m512 macc[C];
  for (int c = 0; c < C; ++c) {
    macc[c] = _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) acc[r][c] = _mm512_setzero_ps();
  }
  for (int64_t i = 0; i < K / 256; ++i) {
    Decoded dec[R];
    for (int r = 0; r < R; ++r) decode<kKind>(W + r * ws + i * kBlockBytes<kKind>, &dec[r]);
    __m512 dw[R];
    for (int r = 0; r < R; ++r) dw[r] = _mm512_set1_ps(dec[r].d);
    __m512i mins_all = _mm512_setzero_si512();
    __m512 dmin_all = _mm512_setzero_ps();
    if constexpr (kMins) {
      alignas(64) float dm[16] = {};
      // Lanes go through memory: _mm512_inserti32x4 needs a compile-time lane index, which a
      // loop variable is not without optimisation (e.g. sanitizer builds).
      alignas(64) int32_t mins_lanes[16] = {};
      for (int r = 0; r < R; ++r) {
        _mm_store_si128(reinterpret_cast<__m128i*>(mins_lanes + 4 * r), dec[r].mins);
        for (int l = 0; l < 4; ++l) dm[4 * r + l] = -dec[r].dmin;
      }
      mins_all = _mm512_load_si512(mins_lanes);
      dmin_all = _mm512_load_ps(dm);
    }
    for (int c = 0; c < C; ++c) {
      const auto* a = reinterpret_cast<const ActQ8KBlock*>(X + c * xs) + i;
      const __m512 dx = _mm512_set1_ps(a->d);
      __m512i xq[4];
      for (int k = 0; k < 4; ++k) xq[k] = _mm512_load_si512(a->qs + 64 * k);
      if constexpr (kMins) {
        const __m512i bs = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a->bsums32)));
        macc[c] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(mins_all, bs)), _mm512_mul_ps(dmin_all, dx), macc[c]);
      }
      for (int r = 0; r < R; ++r) {
        __m512i isum = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k)
          isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(dec[r].q[k], xq[k]), dec[r].sc[k]);
        if constexpr (!kMins) {
          const __m256i corr =
              _mm256_madd_epi16(dec[r].sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->bsums16)));
          isum = _mm512_sub_epi32(isum, _mm512_castsi256_si512(_mm256_slli_epi32(corr, 5)));
        }
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw[r], dx), acc[r][c]);
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    alignas(64) float m[16];
    _mm512_store_ps(m, macc[c]);
    for (int r = 0; r < R; ++r) {
      float v = _mm512_reduce_add_ps(acc[r][c]);
      if constexpr (kMins) v += (m[4 * r] + m[4 * r + 1]) + (m[4 * r + 2] + m[4 * r + 3]);
      Y[c * ldy + r] = v;
    }
  }
}

template <int R, int C>
void q4_k_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kQ4_K, R, C>(K, W, ws, X, xs, Y, ldy);
}
template <int R, int C>
void q5_k_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kQ5_K, R, C>(K, W, ws, X, xs, Y, ldy);
}
template <int R, int C>
void q6_k_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  tile_rc<Kind::kQ6_K, R, C>(K, W, ws, X, xs, Y, ldy);
}

LLMC_DEFINE_TILE_DISPATCH(q4_k_tile, q4_k_rc)
LLMC_DEFINE_TILE_DISPATCH(q5_k_tile, q5_k_rc)
LLMC_DEFINE_TILE_DISPATCH(q6_k_tile, q6_k_rc)

}  // namespace

const MatmulKernel kAvx512Q4_K = {256, 0, act_q8k_bytes, pack_act_q8_k, q4_k_tile};
const MatmulKernel kAvx512Q5_K = {256, 0, act_q8k_bytes, pack_act_q8_k, q5_k_tile};
const MatmulKernel kAvx512Q6_K = {256, 0, act_q8k_bytes, pack_act_q8_k, q6_k_tile};

}  // namespace llmchain::kernels::x86
