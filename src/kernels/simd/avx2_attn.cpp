// AVX2 + FMA + F16C attention ops, bit-identical to the scalar ops in ops.cpp: F16C converts with
// round-to-nearest-even exactly like ops::fp32_to_fp16, products and sums are rounded at the same
// points and in the same order, and every f16 accumulator is rounded after every operation.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/simd/attn_kernels.h"

namespace llmchain::kernels::x86 {
namespace {

constexpr int kRne = _MM_FROUND_TO_NEAREST_INT;

// Where the scalar reference multiplies and then adds (two roundings), the product goes through
// rounded(): with FMA enabled GCC would otherwise contract a * b + c into one fused operation (its
// default is -ffp-contract=fast, ISO mode or not), and the result would differ in the last bit.
inline __m256 rounded(__m256 x) {
  asm("" : "+x"(x));
  return x;
}
inline float rounded(float x) {
  asm("" : "+x"(x));
  return x;
}

inline uint16_t to_half(float f) { return static_cast<uint16_t>(_cvtss_sh(f, kRne)); }
inline float from_half(uint16_t h) { return _cvtsh_ss(h); }
inline float fma1(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

inline __m256 load_h8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline void store_h8(uint16_t* p, __m256 x) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(x, kRne));
}
// x rounded to the nearest f16 and widened again: the value an f16 accumulator holds.
inline __m256 round_h8(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, kRne)); }

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store_h8(y + i, _mm256_loadu_ps(x + i));
  for (; i < n; ++i) y[i] = to_half(x[i]);
}

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_h8(x + i));
  for (; i < n; ++i) y[i] = from_half(x[i]);
}

// As the scalar op: 8 lane sums acc[j] += a*b (multiply, then add: not fused), then
// s = ((0 + acc[0]) + acc[1]) + ... + acc[7], then the tail.
float dot_f32_f16(const float* a, const uint16_t* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, rounded(_mm256_mul_ps(_mm256_loadu_ps(a + i), load_h8(b + i))));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  float s = 0.0f;
  for (float l : lanes) s += l;
  for (; i < n; ++i) s += rounded(a[i] * from_half(b[i]));
  return s;
}

void mad_f16(uint16_t* y, const uint16_t* x, float a, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store_h8(y + i, _mm256_fmadd_ps(load_h8(x + i), va, load_h8(y + i)));
  for (; i < n; ++i) y[i] = to_half(fma1(from_half(x[i]), a, from_half(y[i])));
}

void scale_f16(uint16_t* y, float a, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store_h8(y + i, _mm256_mul_ps(load_h8(y + i), va));
  for (; i < n; ++i) y[i] = to_half(from_half(y[i]) * a);
}

// r[j] <- lane j of the original r[0..7] (8x8 transpose).
inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// s[j] = dot_f32_f16(q, k[j], hd) * scale for 8 keys at once, each with the scalar op's order: the
// lane sums of the 8 keys are transposed so that the final left-to-right sums run across registers.
void scores8(const float* q, const uint16_t* const k[8], int hd, float scale, float* s) {
  __m256 acc[8];
  for (auto& a : acc) a = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= hd; i += 8) {
    const __m256 qv = _mm256_loadu_ps(q + i);
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_add_ps(acc[j], rounded(_mm256_mul_ps(qv, load_h8(k[j] + i))));
  }
  transpose8(acc);
  __m256 sum = _mm256_add_ps(_mm256_setzero_ps(), acc[0]);
  for (int j = 1; j < 8; ++j) sum = _mm256_add_ps(sum, acc[j]);
  for (; i < hd; ++i) {
    alignas(32) float kt[8];
    for (int j = 0; j < 8; ++j) kt[j] = from_half(k[j][i]);
    sum = _mm256_add_ps(sum, rounded(_mm256_mul_ps(_mm256_set1_ps(q[i]), _mm256_load_ps(kt))));
  }
  _mm256_storeu_ps(s, _mm256_mul_ps(sum, _mm256_set1_ps(scale)));
}

// The online-softmax weights of one block of positions: before position b's mad_f16 the
// accumulator is scaled by ms[b] when rescale[b]; then V_b is added with weight w[b].
struct Block {
  static constexpr int kMax = 64;
  alignas(32) float s[kMax];
  float ms[kMax], w[kMax];
  bool rescale[kMax];
};

// acc[0, 8R) over the n positions of a block (v: the block's first V row): kept in registers, as f32
// values that are always exact f16 values.
template <int R>
void accumulate_v(const uint16_t* v, int64_t stride, int n, const Block& blk, uint16_t* acc) {
  __m256 a[R];
  for (int r = 0; r < R; ++r) a[r] = load_h8(acc + 8 * r);
  for (int b = 0; b < n; ++b, v += stride) {
    if (blk.rescale[b]) {
      const __m256 m = _mm256_set1_ps(blk.ms[b]);
      for (int r = 0; r < R; ++r) a[r] = round_h8(_mm256_mul_ps(a[r], m));
    }
    const __m256 w = _mm256_set1_ps(blk.w[b]);
    for (int r = 0; r < R; ++r) a[r] = round_h8(_mm256_fmadd_ps(load_h8(v + 8 * r), w, a[r]));
  }
  for (int r = 0; r < R; ++r) store_h8(acc + 8 * r, a[r]);
}

void attend_f16(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_pos, int hd, float scale,
                float softcap, float* out, float* q16, uint16_t* acc) {
  if (softcap != 0.0f) scale /= softcap;
  int d = 0;
  for (; d + 8 <= hd; d += 8) _mm256_storeu_ps(q16 + d, round_h8(_mm256_loadu_ps(q + d)));
  for (; d < hd; ++d) q16[d] = from_half(to_half(q[d]));
  std::fill(acc, acc + hd, uint16_t{0});

  float M = -std::numeric_limits<float>::infinity(), S = 0.0f;
  Block blk;
  for (int p0 = 0; p0 < n_pos; p0 += Block::kMax) {
    const int n = std::min(Block::kMax, n_pos - p0);
    const uint16_t* kb = k + static_cast<int64_t>(p0) * stride;
    for (int b = 0; b < n; b += 8) {
      const uint16_t* k8[8];  // past the end of the block: repeat the last key (its score is unused)
      for (int j = 0; j < 8; ++j) k8[j] = kb + static_cast<int64_t>(std::min(b + j, n - 1)) * stride;
      scores8(q16, k8, hd, scale, blk.s + b);
    }
    if (softcap != 0.0f)  // as the scalar twin: tanhf per score (the softcapped layers are few)
      for (int b = 0; b < n; ++b) blk.s[b] = softcap * std::tanh(blk.s[b]);
    // The running max and sum depend on the scores only, so the exps come first and the V pass
    // below runs without calls (the accumulator stays in registers).
    for (int b = 0; b < n; ++b) {
      const float s = blk.s[b];
      float ms = 1.0f, vs = 1.0f;
      blk.rescale[b] = s > M;
      if (s > M) {
        const float m_old = M;
        M = s;
        ms = std::exp(m_old - M);
      } else {
        vs = std::exp(s - M);
      }
      blk.ms[b] = ms;
      blk.w[b] = vs;
      S = rounded(S * ms) + vs;
    }
    const uint16_t* vb = v + static_cast<int64_t>(p0) * stride;
    d = 0;
    for (; d + 64 <= hd; d += 64) accumulate_v<8>(vb + d, stride, n, blk, acc + d);
    for (; d + 8 <= hd; d += 8) accumulate_v<1>(vb + d, stride, n, blk, acc + d);
    for (; d < hd; ++d) {
      for (int b = 0; b < n; ++b) {
        if (blk.rescale[b]) acc[d] = to_half(from_half(acc[d]) * blk.ms[b]);
        acc[d] = to_half(fma1(from_half(vb[b * stride + d]), blk.w[b], from_half(acc[d])));
      }
    }
  }
  const float inv = S == 0.0f ? 0.0f : 1.0f / S;
  const __m256 vinv = _mm256_set1_ps(inv);
  d = 0;
  for (; d + 8 <= hd; d += 8) _mm256_storeu_ps(out + d, _mm256_mul_ps(load_h8(acc + d), vinv));
  for (; d < hd; ++d) out[d] = from_half(acc[d]) * inv;
}

}  // namespace

const AttnOps kAvx2AttnOps = {fp32_to_fp16_row, fp16_to_fp32_row, dot_f32_f16, mad_f16, scale_f16, attend_f16};

}  // namespace llmchain::kernels::x86
