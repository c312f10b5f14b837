#pragma once
// The attention ops of the x86 SIMD translation unit simd/avx2_attn.cpp (AVX2 + FMA + F16C; also
// used on the AVX-512 path). ops.cpp dispatches to them on kernels::active_isa(). Every entry is bit-identical to its
// scalar twin in ops.cpp (same rounding points, same order); only NaN payloads may differ (see ops.h).
#include <cstdint>

namespace llmchain::kernels::x86 {

struct AttnOps {
  void (*fp32_to_fp16_row)(const float* x, uint16_t* y, int64_t n);
  void (*fp16_to_fp32_row)(const uint16_t* x, float* y, int64_t n);
  float (*dot_f32_f16)(const float* a, const uint16_t* b, int64_t n);
  void (*mad_f16)(uint16_t* y, const uint16_t* x, float a, int64_t n);
  void (*scale_f16)(uint16_t* y, float a, int64_t n);
  void (*attend_f16)(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_pos, int head_dim,
                     float scale, float softcap, float* out, float* q16, uint16_t* acc16);
};

extern const AttnOps kAvx2AttnOps;

}  // namespace llmchain::kernels::x86
