#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/simd/attn_kernels.h"

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define LLMC_MULTI_ISA __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LLMC_MULTI_ISA
#endif

namespace llmchain::kernels::ops {

LLMC_MULTI_ISA void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  double sum = 0;  // ggml accumulates the sum of squares in double (ggml_float)
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / n) + eps);
  if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
  }
}

void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps) {
  double sum = 0;  // ggml sums in double (ggml_float), then works in float
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  double var = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] - mean;
    y[i] = v;
    var += static_cast<double>(v * v);
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(var / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] *= scale;
  if (w)
    for (int64_t i = 0; i < n; ++i) y[i] *= w[i];
  if (b)
    for (int64_t i = 0; i < n; ++i) y[i] += b[i];
}

void rope(float* x, int n_heads, int head_dim, int n_rot, int32_t pos, float freq_base, float freq_scale,
          RopeOrder order, const float* freq_factors) {
  // theta_i = pos * freq_scale * base^(-2i/n_rot), computed by repeated multiplication in float as ggml does.
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  float cache[1024];  // cos/sin pairs for up to 512 rotated pairs
  const int n_pairs = n_rot / 2;
  float theta = static_cast<float>(pos);
  for (int i = 0; i < n_pairs && i < 512; ++i) {
    float ff = freq_factors ? freq_factors[i] : 1.0f;
    float t = freq_scale * (theta / ff);
    cache[2 * i] = std::cos(t);
    cache[2 * i + 1] = std::sin(t);
    theta *= theta_scale;
  }
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < n_pairs; ++i) {
      const float c = cache[2 * i], s = cache[2 * i + 1];
      int a, b;
      if (order == RopeOrder::kNorm) {
        a = 2 * i;
        b = 2 * i + 1;
      } else {
        a = i;
        b = i + n_rot / 2;
      }
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

LLMC_MULTI_ISA void softmax(float* x, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  if (mx == -std::numeric_limits<float>::infinity()) {
    for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / static_cast<float>(n);
    return;
  }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

namespace {
// ggml's GELU table (ggml_table_gelu_f16): for every f16 input, the tanh approximation rounded to
// f16. Built once; a lookup instead of a tanhf per element.
const uint16_t* gelu_table() {
  static const std::vector<uint16_t> table = [] {
    constexpr float kCoefA = 0.044715f, kSqrt2OverPi = 0.79788456080286535587989211986876f;
    std::vector<uint16_t> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) {
      const float x = fp16_to_f32(static_cast<uint16_t>(h));
      t[h] = f32_to_fp16(0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x))));
    }
    return t;
  }();
  return table.data();
}

// The table entry at x rounded to f16; 0 below -10, the identity above 10 (as ggml_vec_gelu_f32).
inline float gelu_f16(const uint16_t* table, float x) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return fp16_to_f32(table[f32_to_fp16(x)]);
}
}  // namespace

void gelu_mul(const float* g, const float* u, float* y, int64_t n) {
  const uint16_t* t = gelu_table();
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_f16(t, g[i]) * u[i];
}

void gelu(const float* x, float* y, int64_t n) {
  const uint16_t* t = gelu_table();
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_f16(t, x[i]);
}

LLMC_MULTI_ISA void silu_mul(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

LLMC_MULTI_ISA void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

LLMC_MULTI_ISA float dot_f32(const float* a, const float* b, int64_t n) {
  // 16 partial sums so the vectoriser can keep lanes independent (reassociation without -ffast-math).
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (int j = 0; j < 16; ++j) s += acc[j];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

LLMC_MULTI_ISA void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mant = x & 0x7FFFFFu;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xFF);
  if (exp == 0xFF) return static_cast<uint16_t>(sign | 0x7C00u | (mant ? 0x200u | (mant >> 13) : 0));
  int32_t e = exp - 127 + 15;
  if (e >= 0x1F) return static_cast<uint16_t>(sign | 0x7C00u);  // overflow -> inf
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);  // underflow -> 0
    mant |= 0x800000u;
    const int shift = 14 - e;
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;  // may carry into the exponent: correct
  return static_cast<uint16_t>(sign | half);
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FFu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3FFu;
      x = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1F) {
    x = sign | 0x7F800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

namespace {
struct HalfTable {
  float v[65536];
  HalfTable() {
    for (uint32_t i = 0; i < 65536; ++i) v[i] = fp16_to_fp32(static_cast<uint16_t>(i));
  }
};
const HalfTable& half_table() {
  static const HalfTable t;
  return t;
}

// The SIMD twins of the f16 ops for the active ISA (read at every call so that tests can switch
// paths); null on the scalar path.
const x86::AttnOps* simd_attn_ops() {
#if defined(__x86_64__) || defined(__i386__)
  switch (active_isa()) {
    // No AVX-512 twins: the AVX2 fused op already makes attention ~1% of prompt time, a quarter of
    // it in expf calls, so wider vectors would not pay for a second copy of the code.
    case Isa::kAvx512:
    case Isa::kAvx2: return &x86::kAvx2AttnOps;
    case Isa::kScalar: break;
  }
#endif
  return nullptr;
}

}  // namespace

namespace ref {

// The scalar reference of the f16 ops. The SIMD twins must match these bit for bit: any change
// here (order, rounding points) has to be made there too.

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
  const float* t = half_table().v;
  for (int64_t i = 0; i < n; ++i) y[i] = t[x[i]];
}

float dot_f32_f16(const float* a, const uint16_t* b, int64_t n) {
  const float* t = half_table().v;
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * t[b[i + j]];
  float s = 0;
  for (int j = 0; j < 8; ++j) s += acc[j];
  for (; i < n; ++i) s += a[i] * t[b[i]];
  return s;
}

void mad_f16(uint16_t* y, const uint16_t* x, float a, int64_t n) {
  const float* t = half_table().v;
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(std::fma(t[x[i]], a, t[y[i]]));
}

void scale_f16(uint16_t* y, float a, int64_t n) {
  const float* t = half_table().v;
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(t[y[i]] * a);
}

void attend_f16(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_pos, int hd, float scale,
                float softcap, float* out, float* q16, uint16_t* acc) {
  if (softcap != 0.0f) scale /= softcap;
  for (int d = 0; d < hd; ++d) q16[d] = fp16_to_fp32(fp32_to_fp16(q[d]));
  std::fill(acc, acc + hd, uint16_t{0});
  float M = -std::numeric_limits<float>::infinity(), S = 0.0f;
  for (int p = 0; p < n_pos; ++p) {
    float s = dot_f32_f16(q16, k + p * stride, hd) * scale;
    if (softcap != 0.0f) s = softcap * std::tanh(s);
    float ms = 1.0f, vs = 1.0f;
    if (s > M) {
      const float m_old = M;
      M = s;
      ms = std::exp(m_old - M);
      scale_f16(acc, ms, hd);
    } else {
      vs = std::exp(s - M);
    }
    mad_f16(acc, v + p * stride, vs, hd);
    S = S * ms + vs;
  }
  const float inv = S == 0.0f ? 0.0f : 1.0f / S;
  for (int d = 0; d < hd; ++d) out[d] = fp16_to_fp32(acc[d]) * inv;
}

}  // namespace ref

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  if (const auto* simd = simd_attn_ops()) return simd->fp32_to_fp16_row(x, y, n);
  ref::fp32_to_fp16_row(x, y, n);
}

void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n) {
  if (const auto* simd = simd_attn_ops()) return simd->fp16_to_fp32_row(x, y, n);
  ref::fp16_to_fp32_row(x, y, n);
}

float dot_f32_f16(const float* a, const uint16_t* b, int64_t n) {
  if (const auto* simd = simd_attn_ops()) return simd->dot_f32_f16(a, b, n);
  return ref::dot_f32_f16(a, b, n);
}

void axpy_f16(float* y, float a, const uint16_t* x, int64_t n) {
  const float* t = half_table().v;
  for (int64_t i = 0; i < n; ++i) y[i] += a * t[x[i]];
}

void mad_f16(uint16_t* y, const uint16_t* x, float a, int64_t n) {
  if (const auto* simd = simd_attn_ops()) return simd->mad_f16(y, x, a, n);
  ref::mad_f16(y, x, a, n);
}

void scale_f16(uint16_t* y, float a, int64_t n) {
  if (const auto* simd = simd_attn_ops()) return simd->scale_f16(y, a, n);
  ref::scale_f16(y, a, n);
}

void attend_f16(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_pos, int head_dim,
                float scale, float softcap, float* out, float* q16, uint16_t* acc16) {
  if (const auto* simd = simd_attn_ops())
    return simd->attend_f16(q, k, v, stride, n_pos, head_dim, scale, softcap, out, q16, acc16);
  ref::attend_f16(q, k, v, stride, n_pos, head_dim, scale, softcap, out, q16, acc16);
}

}  // namespace llmchain::kernels::ops
