// Q4_K and Q5_K: 256-element super-blocks of 8 sub-blocks, each with a 6-bit scale and 6-bit min.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/kquant_search.h"
#include "kernels/quant.h"

namespace llmchain::kernels {
namespace {

// Fits the 8 sub-blocks of one super-block (nmax 15 for Q4_K, 31 for Q5_K) and packs scales, d, dmin.
// Leaves the final quants (re-quantized against the packed scales) in L.
void fit_kquant_superblock(const float* x, int nmax, float rmin, int nstep, uint8_t* scales, uint16_t* d_out,
                           uint16_t* dmin_out, uint8_t* L) {
  uint8_t Laux[32];
  float weights[32], mins[8], sc[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    sc[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    max_scale = std::max(max_scale, sc[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * sc[j]));
    uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
    ls = std::min<uint8_t>(63, ls);
    lm = std::min<uint8_t>(63, lm);
    if (j < 4) {
      scales[j] = ls;
      scales[j + 4] = lm;
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      scales[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  *d_out = f32_to_fp16(max_scale / 63.f);
  *dmin_out = f32_to_fp16(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    uint8_t s, m;
    get_scale_min_k4(j, scales, &s, &m);
    const float d = fp16_to_f32(*d_out) * s;
    if (!d) continue;
    const float dm = fp16_to_f32(*dmin_out) * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

// Integer part of a K-quant dot: sum_j sc_j * <q_j, q8_j> and sum_j m_j * bsum_j over one super-block.
void kquant_sums(const uint8_t* q /* 256 unpacked quants */, const BlockQ8K& y, const uint8_t* scales, int* sumi,
                 int* summ) {
  *sumi = 0;
  *summ = 0;
  for (int j = 0; j < 8; ++j) {
    uint8_t s, m;
    get_scale_min_k4(j, scales, &s, &m);
    int dot = 0;
    for (int l = 0; l < 32; ++l) dot += q[32 * j + l] * y.qs[32 * j + l];
    *sumi += s * dot;
    *summ += m * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
  }
}

}  // namespace

void quantize_row_q4_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4K*>(dst);
  uint8_t L[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i, x += kQKK) {
    std::memset(y[i].scales, 0, sizeof(y[i].scales));
    fit_kquant_superblock(x, 15, -1.f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kQKK; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void dequantize_row_q4_k(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4K*>(src);
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float d = fp16_to_f32(x[i].d), min = fp16_to_f32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int j = 0, is = 0; j < kQKK; j += 64, q += 32, is += 2) {
      uint8_t sc, m;
      get_scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void quantize_row_q5_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5K*>(dst);
  uint8_t L[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i, x += kQKK) {
    std::memset(y[i].scales, 0, sizeof(y[i].scales));
    fit_kquant_superblock(x, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
    uint8_t* qh = y[i].qh;
    uint8_t* ql = y[i].qs;
    std::memset(qh, 0, kQKK / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int nn = 0; nn < kQKK; nn += 64, ql += 32) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[nn + j], l2 = L[nn + j + 32];
        if (l1 > 15) {
          l1 -= 16;
          qh[j] |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          qh[j] |= m2;
        }
        ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 = static_cast<uint8_t>(m1 << 2);
      m2 = static_cast<uint8_t>(m2 << 2);
    }
  }
}

namespace {
void unpack_q5_k(const BlockQ5K& b, uint8_t* q) {
  const uint8_t* ql = b.qs;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < kQKK; j += 64, ql += 32) {
    for (int l = 0; l < 32; ++l) q[j + l] = static_cast<uint8_t>((ql[l] & 0xF) + (b.qh[l] & u1 ? 16 : 0));
    for (int l = 0; l < 32; ++l) q[j + 32 + l] = static_cast<uint8_t>((ql[l] >> 4) + (b.qh[l] & u2 ? 16 : 0));
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}
void unpack_q4_k(const BlockQ4K& b, uint8_t* q) {
  const uint8_t* ql = b.qs;
  for (int j = 0; j < kQKK; j += 64, ql += 32) {
    for (int l = 0; l < 32; ++l) q[j + l] = ql[l] & 0xF;
    for (int l = 0; l < 32; ++l) q[j + 32 + l] = ql[l] >> 4;
  }
}
}  // namespace

void dequantize_row_q5_k(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5K*>(src);
  uint8_t q[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const float d = fp16_to_f32(x[i].d), min = fp16_to_f32(x[i].dmin);
    unpack_q5_k(x[i], q);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * q[32 * j + l] - m1;
    }
  }
}

float vec_dot_q4_k_q8_k(int64_t n, const void* w, const void* act) {
  const auto* x = static_cast<const BlockQ4K*>(w);
  const auto* y = static_cast<const BlockQ8K*>(act);
  uint8_t q[kQKK];
  float sumf = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    unpack_q4_k(x[i], q);
    int sumi, summ;
    kquant_sums(q, y[i], x[i].scales, &sumi, &summ);
    sumf += fp16_to_f32(x[i].d) * y[i].d * sumi - fp16_to_f32(x[i].dmin) * y[i].d * summ;
  }
  return sumf;
}

float vec_dot_q5_k_q8_k(int64_t n, const void* w, const void* act) {
  const auto* x = static_cast<const BlockQ5K*>(w);
  const auto* y = static_cast<const BlockQ8K*>(act);
  uint8_t q[kQKK];
  float sumf = 0;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    unpack_q5_k(x[i], q);
    int sumi, summ;
    kquant_sums(q, y[i], x[i].scales, &sumi, &summ);
    sumf += fp16_to_f32(x[i].d) * y[i].d * sumi - fp16_to_f32(x[i].dmin) * y[i].d * summ;
  }
  return sumf;
}

}  // namespace llmchain::kernels
