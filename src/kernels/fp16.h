#pragma once
// Scalar IEEE half and bfloat16 conversions (round-to-nearest-even), matching
// the F16C instructions and ggml's conversions bit for bit.
#include <cstdint>
#include <cstring>

namespace llmchain::kernels {

inline float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t f32_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float fp16_to_f32(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  // Normal numbers: move exponent/mantissa into place and rescale the exponent bias by 2^-112.
  const float normalized = bits_to_f32((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  // Subnormals: build 0.5 + m * 2^-24 and subtract 0.5.
  const float denormalized = bits_to_f32((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t r = sign | (two_w < (1u << 27) ? f32_to_bits(denormalized) : f32_to_bits(normalized));
  return bits_to_f32(r);
}

inline uint16_t f32_to_fp16(float f) {
  // Scale so that rounding happens in the float adder at the half's precision (RNE), then
  // read exponent and mantissa back out of the sum.
  float base = (__builtin_fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = f32_to_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = bits_to_f32((bias >> 1) + 0x07800000u) + base;
  const uint32_t b = f32_to_bits(base);
  const uint32_t exp_bits = (b >> 13) & 0x00007C00u;
  const uint32_t mant_bits = b & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mant_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

inline float bf16_to_f32(uint16_t h) { return bits_to_f32(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64);  // quiet NaN
  return static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

// ggml's rounding helper for K-quants: round half to even via the 1.5*2^23 trick (|f| <= 2^22).
inline int nearest_int(float f) {
  const float v = f + 12582912.f;
  return static_cast<int>(f32_to_bits(v) & 0x007fffff) - 0x00400000;
}

}  // namespace llmchain::kernels
