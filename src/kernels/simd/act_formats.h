#pragma once
// Packed activation rows used by the x86 kernels (AVX2 and AVX-512 share them). Quantization is
// bit-identical to the scalar reference (quantize_row_q8_0 / q8_1 / q8_k), only the layout differs
// so that kernels can load quants and scales with aligned, contiguous loads.
//
// ActQ8  (Q4_0, Q5_0, Q8_0, Q4_1, Q5_1): [int8 qs[K]] [float d[K/32]] [float s[K/32]]
//        d is the fp16-rounded block scale; s = fp16(d * sum(qs)) as in block_q8_1.
// ActQ8K (K-quants), per 256-element super-block, 320 bytes:
//        float d; int16 bsums16[16]; int16 bsums32[8]; pad to 64; int8 qs[256]
// ActF32 (F32, F16, and BF16 on AVX2): K floats, rounded through f16 / bf16 for those types.
// ActBF16 (BF16 on AVX512-BF16): K bf16 values.
#include <cstddef>
#include <cstdint>

namespace llmchain::kernels::x86 {

struct ActQ8KBlock {
  float d;
  int16_t bsums16[16];
  int16_t bsums32[8];
  uint8_t pad[64 - 4 - 32 - 16];
  int8_t qs[256];
};
static_assert(sizeof(ActQ8KBlock) == 320);

inline size_t act_q8_bytes(int64_t K) { return static_cast<size_t>(K) + static_cast<size_t>(K / 32) * 8; }
inline const float* act_q8_d(const uint8_t* row, int64_t K) { return reinterpret_cast<const float*>(row + K); }
inline const float* act_q8_s(const uint8_t* row, int64_t K) { return reinterpret_cast<const float*>(row + K) + K / 32; }
inline size_t act_q8k_bytes(int64_t K) { return static_cast<size_t>(K / 256) * sizeof(ActQ8KBlock); }
inline size_t act_f32_bytes(int64_t K) { return static_cast<size_t>(K) * 4; }
inline size_t act_bf16_bytes(int64_t K) { return static_cast<size_t>(K) * 2; }

// Implemented with AVX2 (every AVX-512 CPU we select also has AVX2).
void pack_act_q8_0(const float* x, int64_t K, void* dst);
void pack_act_q8_1(const float* x, int64_t K, void* dst);
void pack_act_q8_k(const float* x, int64_t K, void* dst);
void pack_act_f32(const float* x, int64_t K, void* dst);
void pack_act_f16_as_f32(const float* x, int64_t K, void* dst);
void pack_act_bf16_as_f32(const float* x, int64_t K, void* dst);
void pack_act_bf16(const float* x, int64_t K, void* dst);

}  // namespace llmchain::kernels::x86
