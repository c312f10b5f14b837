// Q6_K: 256-element super-blocks of 16 sub-blocks with signed 8-bit scales; quants are 6-bit (offset 32).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/kquant_search.h"
#include "kernels/quant.h"

namespace llmchain::kernels {
namespace {
constexpr float kGroupMaxEps = 1e-15f;

// q[256] in 0..63 (subtract 32 for the signed value).
void unpack_q6_k(const BlockQ6K& b, uint8_t* q) {
  const uint8_t* ql = b.ql;
  const uint8_t* qh = b.qh;
  for (int n = 0; n < kQKK; n += 128, ql += 64, qh += 32) {
    for (int l = 0; l < 32; ++l) {
      q[n + l] = static_cast<uint8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
      q[n + l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      q[n + l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      q[n + l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}
}  // namespace

void quantize_row_q6_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ6K*>(dst);
  int8_t L[kQKK];
  float scales[kQKK / 16];
  for (int64_t i = 0; i < n / kQKK; ++i, x += kQKK) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < kQKK / 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1);
      scales[ib] = scale;
      if (std::fabs(scale) > max_abs_scale) {
        max_abs_scale = std::fabs(scale);
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(BlockQ6K));
      y[i].d = f32_to_fp16(0.f);
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = f32_to_fp16(1 / iscale);
    for (int ib = 0; ib < kQKK / 16; ++ib)
      y[i].scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < kQKK / 16; ++j) {
      const float d = fp16_to_f32(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQKK; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
        const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
        ql[l] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                     ((L[j + l + 96] >> 4) << 6));
      }
    }
  }
}

void dequantize_row_q6_k(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ6K*>(src);
  uint8_t q[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float d = fp16_to_f32(x[i].d);
    unpack_q6_k(x[i], q);
    for (int j = 0; j < kQKK; ++j) *y++ = d * x[i].scales[j / 16] * (q[j] - 32);
  }
}

float vec_dot_q6_k_q8_k(int64_t n, const void* w, const void* act) {
  const auto* x = static_cast<const BlockQ6K*>(w);
  const auto* y = static_cast<const BlockQ8K*>(act);
  uint8_t q[kQKK];
  float sumf = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    unpack_q6_k(x[i], q);
    int sumi = 0;
    for (int j = 0; j < kQKK / 16; ++j) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) dot += (q[16 * j + l] - 32) * y[i].qs[16 * j + l];
      sumi += x[i].scales[j] * dot;
    }
    sumf += fp16_to_f32(x[i].d) * y[i].d * sumi;
  }
  return sumf;
}

}  // namespace llmchain::kernels
