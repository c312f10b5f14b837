// AVX2 kernels for the K-quants (Q2_K to Q6_K) and IQ4_XS against Q8_K activations. Each weight super-block is
// decoded once per tile into unsigned quants in element order plus one int16 scale vector per 32
// elements, then reused for every token of the tile: vpmaddubsw, vpmaddwd with the scales, int32
// accumulation. IQ4_XS's grid values are signed: their magnitudes are stored and their signs moved
// onto the activations (vpsignb), as for Q8_0.
#include <immintrin.h>

#include "kernels/blocks.h"
#include "kernels/matmul_kernel.h"
#include "kernels/quant.h"
#include "kernels/simd/act_formats.h"
#include "kernels/simd/x86_kernels.h"
#include "kernels/simd/x86_util.h"

namespace llmchain::kernels::x86 {
namespace {

enum class Kind { kQ2_K, kQ3_K, kQ4_K, kQ5_K, kQ6_K, kIQ4_XS };

template <Kind k>
constexpr int kBlockBytes = k == Kind::kQ2_K     ? 84
                            : k == Kind::kQ3_K   ? 110
                            : k == Kind::kQ4_K   ? 144
                            : k == Kind::kQ5_K   ? 176
                            : k == Kind::kIQ4_XS ? 136
                                                 : 210;

struct alignas(32) Decoded {
  uint8_t q[256];
  int8_t w[256];  // IQ4_XS: the signed grid values (q holds their magnitudes)
  __m256i sc[8];  // int16 scales for elements 32g..32g+31
  __m128i mins;   // Q4_K/Q5_K: 8 x int16
  __m256i sc16;   // Q3_K, Q6_K: 16 x int16 scales; Q2_K: 16 x int16 mins
  float d, dmin;
};

// Per-16-element scales (16 x int16, element k for elements 16k..16k+15) as the per-group
// vectors of the dot: sc[g]'s low half holds scale 2g, its high half scale 2g + 1.
inline void spread_scales16(__m256i s16, __m256i* sc) {
  const __m256i lanes[2] = {_mm256_permute2x128_si256(s16, s16, 0x00), _mm256_permute2x128_si256(s16, s16, 0x11)};
  const __m256i base =
      _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
  for (int g = 0; g < 8; ++g)
    sc[g] = _mm256_shuffle_epi8(lanes[g / 4], _mm256_add_epi8(base, _mm256_set1_epi8(static_cast<char>(4 * (g % 4)))));
}

// Q2_K, Q3_K, IQ4_XS: the block's scales (and d, dmin, Q2_K's mins, Q3_K's scales as sc16).
template <Kind kKind>
inline void decode_scales(const uint8_t* b, Decoded* o) {
  if constexpr (kKind == Kind::kQ2_K) {
    o->d = h2f(load_u16(b + 80));
    o->dmin = h2f(load_u16(b + 82));
    const __m128i s8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    o->sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), m4));  // the mins
    spread_scales16(_mm256_cvtepu8_epi16(_mm_and_si128(s8, m4)), o->sc);
  } else if constexpr (kKind == Kind::kQ3_K) {
    o->d = h2f(load_u16(b + 108));
    int8_t s[16];
    unpack_q3_k_scales(b + 96, s);
    o->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
    spread_scales16(o->sc16, o->sc);
  } else {
    // Scale g = (nibble g of scales_l | bits 2g..2g+1 of scales_h << 4) - 32, all 8 at once:
    // the nibbles interleaved in order, the 2-bit fields moved to the top of 16-bit lanes by a
    // multiply (no 16-bit variable shifts in AVX2), then each broadcast to its group's vector.
    o->d = h2f(load_u16(b));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i l = _mm_cvtsi32_si128(static_cast<int>(load_u32(b + 4)));
    const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(l, m4), _mm_and_si128(_mm_srli_epi16(l, 4), m4));
    const __m128i hb =
        _mm_srli_epi16(_mm_mullo_epi16(_mm_set1_epi16(static_cast<int16_t>(load_u16(b + 2))),
                                       _mm_setr_epi16(1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 6, 1 << 4, 1 << 2, 1)),
                       14);
    const __m128i ls = _mm_sub_epi16(_mm_or_si128(_mm_cvtepu8_epi16(nib), _mm_slli_epi16(hb, 4)), _mm_set1_epi16(32));
    const __m256i both = _mm256_broadcastsi128_si256(ls);
    for (int g = 0; g < 8; ++g)
      o->sc[g] = _mm256_shuffle_epi8(both, _mm256_set1_epi16(static_cast<int16_t>((2 * g) | ((2 * g + 1) << 8))));
  }
}

// Group g (elements 32g..32g+31) of a Q2_K / Q3_K / IQ4_XS block as unsigned quants for
// vpmaddubsw. Q2_K, Q3_K (half h = g / 4, j = g % 4): bits 2j..2j+1 of the half's 32 quant
// bytes, Q3_K adding bit 4h + j of hmask as bit 2 (its - 4 comes through the activation sums).
// IQ4_XS: the grid values' magnitudes, the signed values in *w (elements 0..15 are the low
// nibbles of the group's 16 bytes, 16..31 the high ones).
template <Kind kKind>
inline __m256i group_quants(const uint8_t* b, int g, __m256i* w) {
  if constexpr (kKind == Kind::kIQ4_XS) {
    const __m256i lut = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 8 + 16 * g));
    *w = _mm256_shuffle_epi8(lut, _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4)));
    return _mm256_abs_epi8(*w);
  } else {
    const int h = g / 4, j = g % 4;
    const uint8_t* qs = b + (kKind == Kind::kQ2_K ? 16 : 32);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * h));
    __m256i u = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * j)), _mm256_set1_epi8(3));
    if constexpr (kKind == Kind::kQ3_K) {
      const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
      const __m256i bit = _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(4 * h + j)), _mm256_set1_epi8(1));
      u = _mm256_or_si256(u, _mm256_slli_epi16(bit, 2));
    }
    *w = u;
    return u;
  }
}

template <Kind kKind>
inline void decode(const uint8_t* b, Decoded* o) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  if constexpr (kKind == Kind::kQ4_K || kKind == Kind::kQ5_K) {
    o->d = h2f(load_u16(b));
    o->dmin = h2f(load_u16(b + 2));
    uint32_t u[4];
    unpack_k4_scales(b + 4, u);
    const auto* s8 = reinterpret_cast<const uint8_t*>(u);
    o->mins = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s8 + 8)));
    for (int j = 0; j < 8; ++j) o->sc[j] = _mm256_set1_epi16(s8[j]);
    const uint8_t* qs = b + (kKind == Kind::kQ4_K ? 16 : 48);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kKind == Kind::kQ5_K) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16));
    const __m256i one = _mm256_set1_epi8(1);
    for (int k = 0; k < 4; ++k) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * k));
      __m256i lo = _mm256_and_si256(v, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      if constexpr (kKind == Kind::kQ5_K) {
        const __m128i s_lo = _mm_cvtsi32_si128(2 * k), s_hi = _mm_cvtsi32_si128(2 * k + 1);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, s_lo), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, s_hi), one), 4));
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(o->q + 64 * k), lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(o->q + 64 * k + 32), hi);
    }
  } else if constexpr (kKind == Kind::kQ2_K || kKind == Kind::kQ3_K || kKind == Kind::kIQ4_XS) {
    decode_scales<kKind>(b, o);
    for (int g = 0; g < 8; ++g) {
      __m256i w;
      _mm256_store_si256(reinterpret_cast<__m256i*>(o->q + 32 * g), group_quants<kKind>(b, g, &w));
      if constexpr (kKind == Kind::kIQ4_XS) _mm256_store_si256(reinterpret_cast<__m256i*>(o->w + 32 * g), w);
    }
  } else {
    o->d = h2f(load_u16(b + 208));
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    o->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    for (int g = 0; g < 8; ++g)
      o->sc[g] =
          _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[2 * g])), _mm_set1_epi16(sc[2 * g + 1]), 1);
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b + 64 * h;
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 128 + 32 * h));
      const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4);
      const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4);
      const __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4);
      const __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4);
      uint8_t* q = o->q + 128 * h;
      _mm256_store_si256(reinterpret_cast<__m256i*>(q), _mm256_or_si256(_mm256_and_si256(v0, m4), h0));
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + 32), _mm256_or_si256(_mm256_and_si256(v1, m4), h1));
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + 64),
                         _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v0, 4), m4), h2));
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + 96),
                         _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v1, 4), m4), h3));
    }
  }
}

template <Kind kKind, int R, int C>
void tile_impl(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  Decoded dec[R];
  for (int64_t i = 0; i < K / 256; ++i) {
    // One token (generation) with a type whose groups decode in a few instructions: each group is
    // decoded into registers and used at once, not stored for other tokens.
    constexpr bool kFused = C == 1 && (kKind == Kind::kQ2_K || kKind == Kind::kQ3_K || kKind == Kind::kIQ4_XS);
    for (int r = 0; r < R; ++r) {
      // The next tile's rows (this thread's next R rows) at the same block, as they will be read:
      // one token reads each weight once, and the hardware prefetchers do not run far enough
      // ahead on R separate row streams. Past the matrix's last row these are harmless hints.
      const uint8_t* next = W + (R + r) * ws + i * kBlockBytes<kKind>;
      for (int l = 0; l < kBlockBytes<kKind>; l += 64)
        _mm_prefetch(reinterpret_cast<const char*>(next + l), _MM_HINT_T0);
      if constexpr (kFused) {
        decode_scales<kKind>(W + r * ws + i * kBlockBytes<kKind>, &dec[r]);
      } else {
        decode<kKind>(W + r * ws + i * kBlockBytes<kKind>, &dec[r]);
      }
    }
    const ActQ8KBlock* act[C];
    for (int c = 0; c < C; ++c) act[c] = reinterpret_cast<const ActQ8KBlock*>(X + c * xs) + i;
    for (int r = 0; r < R; ++r) {
      // A row's decoded group is loaded once for the tile's C tokens.
      __m256i isum[C];
      for (int c = 0; c < C; ++c) isum[c] = _mm256_setzero_si256();
      if constexpr (kFused) {
        const uint8_t* blk = W + r * ws + i * kBlockBytes<kKind>;
        for (int g = 0; g < 8; ++g) {
          __m256i w;
          const __m256i q = group_quants<kKind>(blk, g, &w);
          __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(act[0]->qs + 32 * g));
          if constexpr (kKind == Kind::kIQ4_XS) av = _mm256_sign_epi8(av, w);
          isum[0] = _mm256_add_epi32(isum[0], _mm256_madd_epi16(_mm256_maddubs_epi16(q, av), dec[r].sc[g]));
        }
      }
      for (int g = 0; g < 8 && !kFused; ++g) {
        const __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i*>(dec[r].q + 32 * g));
        const __m256i sc = dec[r].sc[g];
        __m256i w = _mm256_setzero_si256();
        if constexpr (kKind == Kind::kIQ4_XS)
          w = _mm256_load_si256(reinterpret_cast<const __m256i*>(dec[r].w + 32 * g));
        for (int c = 0; c < C; ++c) {
          __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(act[c]->qs + 32 * g));
          if constexpr (kKind == Kind::kIQ4_XS) av = _mm256_sign_epi8(av, w);
          isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(q, av), sc));
        }
      }
      for (int c = 0; c < C; ++c) {
        const ActQ8KBlock* a = act[c];
        const __m256 d = _mm256_set1_ps(dec[r].d * a->d);
        const __m256i bsums16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->bsums16));
        if constexpr (kKind == Kind::kIQ4_XS) {
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), d, acc[r][c]);
        } else if constexpr (kKind == Kind::kQ2_K) {  // minus dmin * sum(min * bsum) per 16
          const __m256i msum = _mm256_madd_epi16(dec[r].sc16, bsums16);
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), d, acc[r][c]);
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-dec[r].dmin * a->d), acc[r][c]);
        } else if constexpr (kKind == Kind::kQ3_K || kKind == Kind::kQ6_K) {  // quants stored + 4 / + 32
          const __m256i corr = _mm256_madd_epi16(dec[r].sc16, bsums16);
          const __m256i v = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(corr, kKind == Kind::kQ3_K ? 2 : 5));
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), d, acc[r][c]);
        } else {
          const __m128i msum =
              _mm_madd_epi16(dec[r].mins, _mm_loadu_si128(reinterpret_cast<const __m128i*>(a->bsums32)));
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), d, acc[r][c]);
          acc[r][c] = _mm256_fmadd_ps(_mm256_zextps128_ps256(_mm_cvtepi32_ps(msum)),
                                      _mm256_set1_ps(-dec[r].dmin * a->d), acc[r][c]);
        }
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

#define LLMC_AVX2_KQUANT(name, kind)                                                                           \
  template <int R, int C>                                                                                      \
  void name##_rc(int64_t K, const uint8_t* W, size_t ws, const uint8_t* X, size_t xs, float* Y, int64_t ldy) { \
    tile_impl<kind, R, C>(K, W, ws, X, xs, Y, ldy);                                                            \
  }                                                                                                            \
  LLMC_DEFINE_TILE_DISPATCH(name##_tile, name##_rc)

LLMC_AVX2_KQUANT(q2_k, Kind::kQ2_K)
LLMC_AVX2_KQUANT(q3_k, Kind::kQ3_K)
LLMC_AVX2_KQUANT(q4_k, Kind::kQ4_K)
LLMC_AVX2_KQUANT(q5_k, Kind::kQ5_K)
LLMC_AVX2_KQUANT(q6_k, Kind::kQ6_K)
LLMC_AVX2_KQUANT(iq4_xs, Kind::kIQ4_XS)

}  // namespace

const MatmulKernel kAvx2Q2_K = {256, 0, act_q8k_bytes, pack_act_q8_k, q2_k_tile};
const MatmulKernel kAvx2Q3_K = {256, 0, act_q8k_bytes, pack_act_q8_k, q3_k_tile};
const MatmulKernel kAvx2Q4_K = {256, 0, act_q8k_bytes, pack_act_q8_k, q4_k_tile};
const MatmulKernel kAvx2Q5_K = {256, 0, act_q8k_bytes, pack_act_q8_k, q5_k_tile};
const MatmulKernel kAvx2Q6_K = {256, 0, act_q8k_bytes, pack_act_q8_k, q6_k_tile};
const MatmulKernel kAvx2IQ4_XS = {256, 0, act_q8k_bytes, pack_act_q8_k, iq4_xs_tile};

}  // namespace llmchain::kernels::x86
