// F32 / F16 / BF16 rows and their scalar dot products (double accumulation, like ggml's scalar path).
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/quant.h"

namespace llmchain::kernels {

void dequantize_row_f32(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, n * sizeof(float)); }
void quantize_row_f32(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, n * sizeof(float)); }

void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(s[i]);
}
void quantize_row_f16(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = f32_to_fp16(src[i]);
}

void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
}
void quantize_row_bf16(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
}

float vec_dot_f32(int64_t n, const void* w, const void* act) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(act);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(s);
}

float vec_dot_f16(int64_t n, const void* w, const void* act) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(act);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(fp16_to_f32(a[i])) * fp16_to_f32(b[i]);
  return static_cast<float>(s);
}

float vec_dot_bf16(int64_t n, const void* w, const void* act) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(act);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(bf16_to_f32(a[i])) * bf16_to_f32(b[i]);
  return static_cast<float>(s);
}

}  // namespace llmchain::kernels
