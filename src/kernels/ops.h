#pragma once
// Element-wise and row ops of the forward pass (f32). Each has a plain loop
// that the compiler vectorises; hot ones are compiled for several ISAs and
// chosen at load time (target_clones), so no -march flag is needed.
// The f16 ops below (row conversions, dot_f32_f16, mad_f16, scale_f16,
// attend_f16) have AVX2/AVX-512 twins in simd/*_attn.cpp chosen on
// kernels::active_isa() at each call; the scalar loops in ops.cpp are the
// reference and the twins are bit-identical to them, except that NaN payloads
// may differ (F16C quiets a signalling f16 NaN when widening; the scalar
// widening keeps it signalling). NaN stays NaN, with the same sign.
#include <cstdint>

namespace llmchain::kernels::ops {

enum class RopeOrder { kNorm, kNeox };  // kNorm: adjacent pairs (x0,x1); kNeox: halves (x_i, x_{i+n/2})

// y = x / rms(x) * w   (w may be null)
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);
// y = (x - mean(x)) / sqrt(var(x) + eps) * w + b   (LayerNorm, as ggml_norm then mul and add; w, b may be null)
void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps);
// Rotates n_heads vectors of head_dim in place at position pos; only the first n_rot dims rotate.
// freq_factors (optional, n_rot/2 values) divide the frequencies (Llama 3 rope scaling).
void rope(float* x, int n_heads, int head_dim, int n_rot, int32_t pos, float freq_base, float freq_scale,
          RopeOrder order, const float* freq_factors = nullptr);
// In-place softmax of n values; returns nothing. Handles -inf entries.
void softmax(float* x, int64_t n);
// y[i] = silu(g[i]) * u[i]
void silu_mul(const float* g, const float* u, float* y, int64_t n);
// y = gelu(g) * u (GeGLU), gelu's tanh approximation evaluated as ggml's CPU backend does: at the
// input rounded to f16, the result rounded to f16; 0 below -10, the identity above 10.
void gelu_mul(const float* g, const float* u, float* y, int64_t n);
// y = gelu(x), evaluated as gelu_mul (ggml_gelu); y may be x.
void gelu(const float* x, float* y, int64_t n);
// y[i] += x[i]
void add(float* y, const float* x, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
// y += a * x
void axpy(float* y, float a, const float* x, int64_t n);

// IEEE half conversions (round to nearest even), exact as F16C.
uint16_t fp32_to_fp16(float f);
float fp16_to_fp32(uint16_t h);
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n);
// sum_i a[i] * float(b[i]) with a in f32 and b in f16.
float dot_f32_f16(const float* a, const uint16_t* b, int64_t n);
// y += a * float(x)
void axpy_f16(float* y, float a, const uint16_t* x, int64_t n);
// f16 accumulators, rounded after every operation (as ggml_vec_mad_f16 / ggml_vec_scale_f16):
// y[i] = f16(fma(float(x[i]), a, float(y[i])))
void mad_f16(uint16_t* y, const uint16_t* x, float a, int64_t n);
// y[i] = f16(float(y[i]) * a)
void scale_f16(uint16_t* y, float a, int64_t n);

// One query against positions [0, n_pos) of an f16 K/V cache, with the arithmetic of llama.cpp's
// CPU flash attention over an f16 cache (no mask or ALiBi; logit soft-capping as gemma2's):
//   q16 = f32(f16(q)); for each p in order: s = dot_f32_f16(q16, K_p) * scale;
//   with softcap c != 0: s = c * tanhf(dot * (scale / c)) instead;
//   if s > M: acc = scale_f16(acc, ms = exp(M - s)), M = s, vs = 1; else vs = exp(s - M);
//   acc = mad_f16(acc, V_p, vs); S = S * ms + vs;
//   out = f32(acc) * (S == 0 ? 0 : 1 / S)   (acc: f16, rounded after every operation; M starts at -inf)
// Position p's key row starts at k + p * stride and its value row at v + p * stride (elements).
// out: head_dim floats. q16 (head_dim floats) and acc16 (head_dim halves) are the caller's scratch.
void attend_f16(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_pos, int head_dim,
                float scale, float softcap, float* out, float* q16, uint16_t* acc16);

// The scalar references of the f16 ops above, whatever the ISA (the reference backend's).
namespace ref {
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);
void fp16_to_fp32_row(const uint16_t* x, float* y, int64_t n);
float dot_f32_f16(const float* a, const uint16_t* b, int64_t n);
void mad_f16(uint16_t* y, const uint16_t* x, float a, int64_t n);
void scale_f16(uint16_t* y, float a, int64_t n);
void attend_f16(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_pos, int head_dim,
                float scale, float softcap, float* out, float* q16, uint16_t* acc16);
}  // namespace ref

}  // namespace llmchain::kernels::ops
