// Types read from published files but not (yet) written by `llmchain quantize`: Q2_K, Q3_K,
// IQ4_NL and IQ4_XS. Dequantization follows ggml's dequantize_row_* element for element (the
// same float operations, so the values are bit-identical); the dot products are the scalar
// reference of each weight type against its activation format (Q8_K, or Q8_0 for IQ4_NL), in
// the summation order of ggml's generic CPU code.
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/quant.h"

namespace llmchain::kernels {

void unpack_q3_k_scales(const uint8_t* packed, int8_t* out) {
  constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  uint32_t aux[4];
  std::memcpy(aux, packed, 12);
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
  int8_t raw[16];
  std::memcpy(raw, aux, 16);
  for (int j = 0; j < 16; ++j) out[j] = static_cast<int8_t>(raw[j] - 32);
}

namespace {

// Q3_K's 256 signed quants (-4..3), in element order.
void unpack_q3_k(const BlockQ3K& b, int8_t* q) {
  const uint8_t* qs = b.qs;
  uint8_t m = 1;
  for (int n = 0; n < kQKK; n += 128, qs += 32) {
    for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
      for (int l = 0; l < 32; ++l) {
        q[n + 16 * shift + l] = static_cast<int8_t>(((qs[l] >> shift) & 3) - ((b.hmask[l] & m) ? 0 : 4));
      }
    }
  }
}

// IQ4_XS sub-block ib's 6-bit scale, minus 32.
int iq4_xs_scale(const BlockIQ4XS& b, int ib) {
  const int ls = ((b.scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((b.scales_h >> 2 * ib) & 3) << 4);
  return ls - 32;
}

}  // namespace

// ---- Q2_K: x = d * scale * q - dmin * min, q in 0..3, 16 sub-blocks of 16 ----

void dequantize_row_q2_k(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ2K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float d = fp16_to_f32(x[i].d), min = fp16_to_f32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int is = 0;
    for (int blk = 0; blk < kQKK; blk += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = x[i].scales[is++];
          const float dl = d * static_cast<float>(sc & 0xF), ml = min * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[16 * half + l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

float vec_dot_q2_k_q8_k(int64_t n, const void* w, const void* act) {
  const auto* x = static_cast<const BlockQ2K*>(w);
  const auto* y = static_cast<const BlockQ8K*>(act);
  float sumf = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const uint8_t* q2 = x[i].qs;
    const int8_t* q8 = y[i].qs;
    const uint8_t* sc = x[i].scales;
    int summs = 0;
    for (int j = 0; j < 16; ++j) summs += y[i].bsums[j] * (sc[j] >> 4);
    const float dall = y[i].d * fp16_to_f32(x[i].d);
    const float dmin = y[i].d * fp16_to_f32(x[i].dmin);
    int isum = 0, is = 0;
    for (int k = 0; k < kQKK / 128; ++k, q2 += 32) {
      for (int shift = 0; shift < 8; shift += 2, q8 += 32) {
        for (int half = 0; half < 2; ++half) {
          const int d = sc[is++] & 0xF;
          int isuml = 0;
          for (int l = 16 * half; l < 16 * half + 16; ++l) isuml += q8[l] * ((q2[l] >> shift) & 3);
          isum += d * isuml;
        }
      }
    }
    sumf += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
  }
  return sumf;
}

// ---- Q3_K: x = d * (scale - 32) * q, q in -4..3 ----

void dequantize_row_q3_k(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ3K*>(src);
  int8_t scales[16];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float d_all = fp16_to_f32(x[i].d);
    unpack_q3_k_scales(x[i].scales, scales);
    const uint8_t* q = x[i].qs;
    const uint8_t* hm = x[i].hmask;
    uint8_t m = 1;
    int is = 0;
    for (int blk = 0; blk < kQKK; blk += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<float>(scales[is++]);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            *y++ = dl * static_cast<float>(((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
          }
        }
      }
    }
  }
}

float vec_dot_q3_k_q8_k(int64_t n, const void* w, const void* act) {
  const auto* x = static_cast<const BlockQ3K*>(w);
  const auto* y = static_cast<const BlockQ8K*>(act);
  int8_t q[kQKK];
  int8_t scales[16];
  float sums[8] = {};
  for (int64_t i = 0; i < n / kQKK; ++i) {
    unpack_q3_k(x[i], q);
    unpack_q3_k_scales(x[i].scales, scales);
    int32_t aux32[8] = {};
    const int8_t* a = q;
    const int8_t* q8 = y[i].qs;
    for (int j = 0; j < kQKK / 16; ++j) {
      for (int half = 0; half < 2; ++half, q8 += 8, a += 8) {
        for (int l = 0; l < 8; ++l) aux32[l] += scales[j] * static_cast<int16_t>(q8[l] * a[l]);
      }
    }
    const float d = fp16_to_f32(x[i].d) * y[i].d;
    for (int l = 0; l < 8; ++l) sums[l] += d * static_cast<float>(aux32[l]);
  }
  float sumf = 0;
  for (float s : sums) sumf += s;
  return sumf;
}

// ---- IQ4_NL: x = d * grid[q], blocks of 32 ----

void dequantize_row_iq4_nl(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4NL*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = fp16_to_f32(x[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = d * static_cast<float>(kIq4nlValues[x[i].qs[j] & 0xf]);
      y[j + kQK / 2] = d * static_cast<float>(kIq4nlValues[x[i].qs[j] >> 4]);
    }
  }
}

float vec_dot_iq4_nl_q8_0(int64_t n, const void* w, const void* act) {
  const auto* x = static_cast<const BlockIQ4NL*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(act);
  float sumf = 0;
  for (int64_t ib = 0; ib < n / kQK; ++ib) {
    const float d = fp16_to_f32(y[ib].d) * fp16_to_f32(x[ib].d);
    int sumi1 = 0, sumi2 = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi1 += y[ib].qs[j] * kIq4nlValues[x[ib].qs[j] & 0xf];
      sumi2 += y[ib].qs[j + kQK / 2] * kIq4nlValues[x[ib].qs[j] >> 4];
    }
    sumf += d * static_cast<float>(sumi1 + sumi2);
  }
  return sumf;
}

// ---- IQ4_XS: x = d * (scale - 32) * grid[q], 8 sub-blocks of 32 with 6-bit scales ----

void dequantize_row_iq4_xs(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4XS*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const uint8_t* qs = x[i].qs;
    const float d = fp16_to_f32(x[i].d);
    for (int ib = 0; ib < kQKK / 32; ++ib, y += 32, qs += 16) {
      const float dl = d * static_cast<float>(iq4_xs_scale(x[i], ib));
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kIq4nlValues[qs[j] & 0xf]);
        y[j + 16] = dl * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
      }
    }
  }
}

float vec_dot_iq4_xs_q8_k(int64_t n, const void* w, const void* act) {
  const auto* x = static_cast<const BlockIQ4XS*>(w);
  const auto* y = static_cast<const BlockQ8K*>(act);
  float sumf = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float d4d8 = fp16_to_f32(x[i].d) * y[i].d;
    const uint8_t* qs = x[i].qs;
    const int8_t* q8 = y[i].qs;
    for (int ib = 0; ib < kQKK / 32; ++ib, qs += 16, q8 += 32) {
      const float dl = d4d8 * static_cast<float>(iq4_xs_scale(x[i], ib));
      int sumi1 = 0, sumi2 = 0;
      for (int j = 0; j < 16; ++j) {
        sumi1 += q8[j] * kIq4nlValues[qs[j] & 0xf];
        sumi2 += q8[j + 16] * kIq4nlValues[qs[j] >> 4];
      }
      sumf += dl * static_cast<float>(sumi1 + sumi2);
    }
  }
  return sumf;
}

}  // namespace llmchain::kernels
