// Q5_0 and Q5_1: like Q4_0/Q4_1 with the 5th bit of each quant packed in qh (bit j = element j).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/quant.h"

namespace llmchain::kernels {

void quantize_row_q5_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t xi0 = std::min<int8_t>(31, static_cast<int8_t>(x[j] * id + 16.5f));
      const uint8_t xi1 = std::min<int8_t>(31, static_cast<int8_t>(x[kQK / 2 + j] * id + 16.5f));
      y[i].qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << j;
      qh |= ((xi1 & 0x10u) >> 4) << (j + kQK / 2);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void dequantize_row_q5_0(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = fp16_to_f32(x[i].d);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      y[j] = (((x[i].qs[j] & 0x0F) | h0) - 16) * d;
      y[j + kQK / 2] = (((x[i].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void quantize_row_q5_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    y[i].m = f32_to_fp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t xi0 = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
      const uint8_t xi1 = static_cast<uint8_t>((x[kQK / 2 + j] - min) * id + 0.5f);
      y[i].qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << j;
      qh |= ((xi1 & 0x10u) >> 4) << (j + kQK / 2);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void dequantize_row_q5_1(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = fp16_to_f32(x[i].d), m = fp16_to_f32(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      y[j] = ((x[i].qs[j] & 0x0F) | h0) * d + m;
      y[j + kQK / 2] = ((x[i].qs[j] >> 4) | h1) * d + m;
    }
  }
}

float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* act) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(act);
  float sumf = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      sumi += (((x[i].qs[j] & 0x0F) | h0) - 16) * y[i].qs[j];
      sumi += (((x[i].qs[j] >> 4) | h1) - 16) * y[i].qs[j + kQK / 2];
    }
    sumf += sumi * fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d);
  }
  return sumf;
}

float vec_dot_q5_1_q8_1(int64_t n, const void* w, const void* act) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(act);
  float sumf = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      sumi += ((x[i].qs[j] & 0x0F) | h0) * y[i].qs[j];
      sumi += ((x[i].qs[j] >> 4) | h1) * y[i].qs[j + kQK / 2];
    }
    sumf += (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) * sumi + fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
  }
  return sumf;
}

}  // namespace llmchain::kernels
