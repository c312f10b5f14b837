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
  } else if constexpr (kKind == Kind::kQ2_K || kKind == Kind::kQ3_K) {
    // Group g of 32 elements (half h = g / 4, j = g % 4): bits 2j..2j+1 of the half's 32 quant
    // bytes; Q3_K adds bit 4h + j of hmask as bit 2 (value - 4 through the scaled sums below).
    // Scales per 16 elements: the low half of sc[g] for the first 16, the high half for the rest.
    const uint8_t* qs = b + (kKind == Kind::kQ2_K ? 16 : 32);
    int8_t s[16];
    if constexpr (kKind == Kind::kQ2_K) {
      o->d = h2f(load_u16(b + 80));
      o->dmin = h2f(load_u16(b + 82));
      const __m128i s8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
      o->sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F)));
      for (int k = 0; k < 16; ++k) s[k] = static_cast<int8_t>(b[k] & 0x0F);
    } else {
      o->d = h2f(load_u16(b + 108));
      unpack_q3_k_scales(b + 96, s);
      o->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
    }
    for (int g = 0; g < 8; ++g)
      o->sc[g] =
          _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(s[2 * g])), _mm_set1_epi16(s[2 * g + 1]), 1);
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    for (int h = 0; h < 2; ++h) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * h));
      for (int j = 0; j < 4; ++j) {
        __m256i u = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * j)), m3);
        if constexpr (kKind == Kind::kQ3_K)
          u = _mm256_or_si256(
              u, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(4 * h + j)), one), 2));
        _mm256_store_si256(reinterpret_cast<__m256i*>(o->q + 32 * (4 * h + j)), u);
      }
    }
  } else if constexpr (kKind == Kind::kIQ4_XS) {
    o->d = h2f(load_u16(b));
    const uint16_t sh = load_u16(b + 2);
    const uint8_t* sl = b + 4;
    const uint8_t* qs = b + 8;
    const __m256i lut = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    const __m128i m4x = _mm_set1_epi8(0x0F);
    for (int g = 0; g < 8; ++g) {
      const int ls = ((sl[g / 2] >> 4 * (g % 2)) & 0xf) | (((sh >> 2 * g) & 3) << 4);
      o->sc[g] = _mm256_set1_epi16(static_cast<int16_t>(ls - 32));
      // Elements 0..15 of the sub-block are the low nibbles, 16..31 the high ones.
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + 16 * g));
      const __m256i idx = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4x), _mm_and_si128(v, m4x));
      const __m256i w = _mm256_shuffle_epi8(lut, idx);
      _mm256_store_si256(reinterpret_cast<__m256i*>(o->w + 32 * g), w);
      _mm256_store_si256(reinterpret_cast<__m256i*>(o->q + 32 * g), _mm256_abs_epi8(w));
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
    for (int r = 0; r < R; ++r) decode<kKind>(W + r * ws + i * kBlockBytes<kKind>, &dec[r]);
    for (int c = 0; c < C; ++c) {
      const auto* a = reinterpret_cast<const ActQ8KBlock*>(X + c * xs) + i;
      for (int r = 0; r < R; ++r) {
        __m256i isum = _mm256_setzero_si256();
        for (int g = 0; g < 8; ++g) {
          __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(a->qs + 32 * g));
          if constexpr (kKind == Kind::kIQ4_XS)
            av = _mm256_sign_epi8(av, _mm256_load_si256(reinterpret_cast<const __m256i*>(dec[r].w + 32 * g)));
          const __m256i p =
              _mm256_maddubs_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(dec[r].q + 32 * g)), av);
          isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, dec[r].sc[g]));
        }
        const __m256i bsums16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->bsums16));
        if constexpr (kKind == Kind::kIQ4_XS) {
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dec[r].d * a->d), acc[r][c]);
        } else if constexpr (kKind == Kind::kQ2_K) {  // minus dmin * sum(min * bsum) per 16
          const __m256i msum = _mm256_madd_epi16(dec[r].sc16, bsums16);
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dec[r].d * a->d), acc[r][c]);
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-dec[r].dmin * a->d), acc[r][c]);
        } else if constexpr (kKind == Kind::kQ3_K || kKind == Kind::kQ6_K) {  // quants stored + 4 / + 32
          const __m256i corr = _mm256_madd_epi16(dec[r].sc16, bsums16);
          isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(corr, kKind == Kind::kQ3_K ? 2 : 5));
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dec[r].d * a->d), acc[r][c]);
        } else {
          const __m128i msum =
              _mm_madd_epi16(dec[r].mins, _mm_loadu_si128(reinterpret_cast<const __m128i*>(a->bsums32)));
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dec[r].d * a->d), acc[r][c]);
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
