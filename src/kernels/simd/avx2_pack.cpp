// Activation packing for the x86 kernels (see act_formats.h). AVX2 + F16C.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/simd/act_formats.h"

namespace llmchain::kernels::x86 {
namespace {

inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline int hsum8_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// Packs 4 x 8 int32 (values within int8) into 32 int8 in order.
inline __m256i pack_epi32_to_epi8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);
  const __m256i cd = _mm256_packs_epi32(c, d);
  const __m256i abcd = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline float fp16_round(float f) { return _cvtsh_ss(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)); }

template <bool kWithSum>
void pack_q8(const float* x, int64_t K, void* dst) {
  auto* qs = static_cast<int8_t*>(dst);
  float* dv = reinterpret_cast<float*>(qs + K);
  float* sv = dv + K / 32;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < K / 32; ++b, x += 32) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + 8 * i);
      amax = _mm256_max_ps(amax, _mm256_and_ps(v[i], abs_mask));
    }
    // Activations are quantized as ggml's x86 quantize_row_q8_0/q8_1 do at run time (not the _ref
    // variant used for weights): multiplier 127/max and round-half-to-even. Matching it keeps our
    // greedy output token-for-token equal to llama.cpp's.
    const float amax_s = hmax8(amax);
    const float d = amax_s / 127.f;
    const float id = amax_s != 0.0f ? 127.f / amax_s : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i)
      q[i] =
          _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * b), pack_epi32_to_epi8(q[0], q[1], q[2], q[3]));
    dv[b] = fp16_round(d);
    if (kWithSum) {
      const int sum = hsum8_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
      sv[b] = fp16_round(static_cast<float>(sum) * d);
    }
  }
}

}  // namespace

void pack_act_q8_0(const float* x, int64_t K, void* dst) { pack_q8<false>(x, K, dst); }
void pack_act_q8_1(const float* x, int64_t K, void* dst) { pack_q8<true>(x, K, dst); }

void pack_act_q8_k(const float* x, int64_t K, void* dst) {
  auto* out = static_cast<ActQ8KBlock*>(dst);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t i = 0; i < K / 256; ++i, x += 256) {
    ActQ8KBlock& y = out[i];
    __m256 amax = _mm256_setzero_ps();
    for (int j = 0; j < 256; j += 8) amax = _mm256_max_ps(amax, _mm256_and_ps(_mm256_loadu_ps(x + j), abs_mask));
    const float a = hmax8(amax);
    if (!a) {
      std::memset(&y, 0, sizeof(y));
      continue;
    }
    float max = 0;  // first element of largest magnitude, with its sign (as the reference)
    for (int j = 0; j < 256; ++j)
      if (std::fabs(x[j]) == a) {
        max = x[j];
        break;
      }
    const float iscale = -127.f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i lim = _mm256_set1_epi32(127);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int j = 0; j < 256; j += 32) {
      __m256i q[4];
      for (int l = 0; l < 4; ++l)  // cvtps rounds half to even, like nearest_int
        q[l] = _mm256_min_epi32(lim, _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8 * l))));
      const __m256i q8 = pack_epi32_to_epi8(q[0], q[1], q[2], q[3]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.qs + j), q8);
      // sums of 16: widen to int16, pairwise add, then reduce within each 128-bit half
      const __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q8));
      const __m256i w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q8, 1));
      const int s0 = hsum8_epi32(_mm256_madd_epi16(w0, ones));
      const int s1 = hsum8_epi32(_mm256_madd_epi16(w1, ones));
      y.bsums16[j / 16] = static_cast<int16_t>(s0);
      y.bsums16[j / 16 + 1] = static_cast<int16_t>(s1);
      y.bsums32[j / 32] = static_cast<int16_t>(s0 + s1);
    }
    y.d = 1 / iscale;
    std::memset(y.pad, 0, sizeof(y.pad));
  }
}

void pack_act_f32(const float* x, int64_t K, void* dst) { std::memcpy(dst, x, K * sizeof(float)); }

void pack_act_f16_as_f32(const float* x, int64_t K, void* dst) {
  auto* y = static_cast<float*>(dst);
  int64_t i = 0;
  for (; i + 8 <= K; i += 8)
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
  for (; i < K; ++i) y[i] = fp16_round(x[i]);
}

void pack_act_bf16_as_f32(const float* x, int64_t K, void* dst) {
  auto* y = static_cast<float*>(dst);
  for (int64_t i = 0; i < K; ++i) y[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

void pack_act_bf16(const float* x, int64_t K, void* dst) {
  auto* y = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < K; ++i) y[i] = f32_to_bf16(x[i]);
}

}  // namespace llmchain::kernels::x86
