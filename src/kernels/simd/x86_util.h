#pragma once
// Small helpers shared by the x86 SIMD translation units (each compiles them with its own flags).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace llmchain::kernels::x86 {

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// Q4_K / Q5_K 12-byte scale block -> bytes 0..7 scales, bytes 8..15 mins (ggml's kmask unpacking).
inline void unpack_k4_scales(const uint8_t* s12, uint32_t out[4]) {
  constexpr uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  uint32_t u[3];
  std::memcpy(u, s12, 12);
  out[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
  out[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
  out[2] = u[1] & kmask1;
  out[0] = u[0] & kmask1;
}

}  // namespace llmchain::kernels::x86
