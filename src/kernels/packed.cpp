// Packed weights: the repacking at load time, the driver that shares groups among threads, and the
// scalar kernel (the reference for the SIMD ones and the path on CPUs without AVX-512 VNNI).
#include "kernels/packed.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "base/error.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/packed_impl.h"
#include "kernels/quant.h"
#include "kernels/scratch.h"

namespace llmchain::kernels {
namespace pd = packed_detail;
namespace {

constexpr size_t kBlockScaleBytes = kPackRows * 2;

size_t block_quant_bytes(GgmlType wt) { return static_cast<size_t>(pd::chunks_per_block(wt)) * kPackRows * 4; }

// Scalar Q8_0 activation quantizer (ggml's reference rounding), then the packed layout.
void packed_act_scalar(const float* x, int64_t K, uint8_t* dst) {
  const int64_t nb = K / 32;
  std::vector<uint8_t> blocks(ggml_row_bytes(GgmlType::Q8_0, K));
  quantize_row(GgmlType::Q8_0, x, blocks.data(), K);
  auto* qs = reinterpret_cast<int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(dst + K);
  auto* nsum = reinterpret_cast<int32_t*>(d + nb);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = blocks.data() + b * 34;
    uint16_t h;
    std::memcpy(&h, blk, 2);
    d[b] = fp16_to_f32(h);
    int32_t s = 0;
    for (int i = 0; i < 32; ++i) {
      qs[b * 32 + i] = static_cast<int8_t>(blk[2 + i]);
      s += static_cast<int8_t>(blk[2 + i]);
    }
    nsum[b] = -s;
  }
}

// Scalar Q8_K activation quantizer (reference), in the x86 ActQ8K layout (see packed_impl.h).
void packed_act_q8k_scalar(const float* x, int64_t K, uint8_t* dst) {
  std::vector<uint8_t> blocks(ggml_row_bytes(GgmlType::Q8_K, K));
  quantize_row(GgmlType::Q8_K, x, blocks.data(), K);
  for (int64_t i = 0; i < K / 256; ++i) {
    const uint8_t* b = blocks.data() + i * 292;  // float d; int8 qs[256]; int16 bsums[16]
    uint8_t* o = dst + i * 320;
    std::memset(o, 0, 320);
    std::memcpy(o, b, 4);
    int16_t bs16[16], bs32[8];
    std::memcpy(bs16, b + 4 + 256, 32);
    for (int j = 0; j < 8; ++j) bs32[j] = static_cast<int16_t>(bs16[2 * j] + bs16[2 * j + 1]);
    std::memcpy(o + 4, bs16, 32);
    std::memcpy(o + 36, bs32, 16);
    std::memcpy(o + 64, b + 4, 256);
  }
}

// Q4_K: per super-block, sumi = sum_j sc_j * isum_j and msum = sum_j m_j * bsum_j exactly in
// integers, then acc += sumi * (d * dx) - msum * (dmin * dx).
// Q5_K (q5): the same with bit 4 of each quant from the group's qh bytes.
void q4k_group_scalar(const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, int ncols, float* Y, int64_t ldy,
                      int nrows, bool q5 = false) {
  const size_t block_bytes = q5 ? pd::kQ5KGroupBlockBytes : pd::kQ4KGroupBlockBytes;
  for (int c = 0; c < ncols; ++c) {
    for (int r = 0; r < nrows; ++r) {
      float acc = 0.0f;
      for (int64_t i = 0; i < K / 256; ++i) {
        const uint8_t* g = group + i * block_bytes;
        const uint8_t* a = X + c * xs + i * 320;
        float dx;
        std::memcpy(&dx, a, 4);
        const auto* bs32 = reinterpret_cast<const int16_t*>(a + 36);
        const auto* xq = reinterpret_cast<const int8_t*>(a + 64);
        uint16_t hd, hm;
        std::memcpy(&hd, g + 2 * r, 2);
        std::memcpy(&hm, g + 32 + 2 * r, 2);
        int32_t sumi = 0, msum = 0;
        for (int j = 0; j < 8; ++j) {
          const int k = j / 2;
          int32_t isum = 0;
          for (int cc = 0; cc < 8; ++cc)
            for (int e = 0; e < 4; ++e) {
              const uint8_t byte = g[320 + ((k * 8 + cc) * kPackRows + r) * 4 + e];
              int q = j % 2 ? byte >> 4 : byte & 0x0F;
              if (q5) q |= ((g[pd::kQ4KGroupBlockBytes + (k * 8 + cc) * kPackRows + r] >> (4 * (j % 2) + e)) & 1) << 4;
              isum += q * xq[32 * j + 4 * cc + e];
            }
          sumi += g[64 + j * kPackRows + r] * isum;
          msum += g[192 + ((j / 2) * kPackRows + r) * 2 + j % 2] * bs32[j];
        }
        acc = std::fma(static_cast<float>(sumi), fp16_to_f32(hd) * dx, acc);
        acc = std::fma(-static_cast<float>(msum), fp16_to_f32(hm) * dx, acc);
      }
      Y[c * ldy + r] = acc;
    }
  }
}

inline int q6k_at(const uint8_t* g, int r, int e) {  // e < 256: the unsigned 6-bit quant
  const int k = e / 64, el = e % 64, c = (el % 32) / 4, b = el % 4, grp = el / 4, m = grp % 4, sh = grp / 4;
  const uint8_t lo = g[320 + ((k * 8 + c) * kPackRows + r) * 4 + b];
  const uint8_t hi = g[2368 + ((k * 4 + m) * kPackRows + r) * 4 + b];
  return (el < 32 ? lo & 0x0F : lo >> 4) | (((hi >> (2 * sh)) & 3) << 4);
}

// Q6_K: sumi = sum_j sc_j * (isum_j - 32 * bsum16_j) exactly in integers, acc += sumi * (d * dx).
void q6k_group_scalar(const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, int ncols, float* Y, int64_t ldy,
                      int nrows) {
  for (int c = 0; c < ncols; ++c) {
    for (int r = 0; r < nrows; ++r) {
      float acc = 0.0f;
      for (int64_t i = 0; i < K / 256; ++i) {
        const uint8_t* g = group + i * pd::kQ6KGroupBlockBytes;
        const uint8_t* a = X + c * xs + i * 320;
        float dx;
        std::memcpy(&dx, a, 4);
        const auto* bs16 = reinterpret_cast<const int16_t*>(a + 4);
        const auto* xq = reinterpret_cast<const int8_t*>(a + 64);
        uint16_t hd;
        std::memcpy(&hd, g + 2 * r, 2);
        int32_t sumi = 0;
        for (int j = 0; j < 16; ++j) {
          int32_t isum = -32 * bs16[j];
          for (int e = 16 * j; e < 16 * j + 16; ++e) isum += q6k_at(g, r, e) * xq[e];
          sumi += static_cast<int8_t>(g[64 + j * kPackRows + r]) * isum;
        }
        acc = std::fma(static_cast<float>(sumi), fp16_to_f32(hd) * dx, acc);
      }
      Y[c * ldy + r] = acc;
    }
  }
}

// Same arithmetic as the SIMD kernels: exact integer block dot product (offset folded in), then
// acc += float(isum) * (dw * dx) per block, in block order.
void packed_group_scalar(GgmlType wt, const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, int ncols, float* Y,
                         int64_t ldy, int nrows) {
  if (wt == GgmlType::Q4_K) return q4k_group_scalar(group, K, X, xs, ncols, Y, ldy, nrows);
  if (wt == GgmlType::Q5_K) return q4k_group_scalar(group, K, X, xs, ncols, Y, ldy, nrows, true);
  if (wt == GgmlType::Q6_K) return q6k_group_scalar(group, K, X, xs, ncols, Y, ldy, nrows);
  const int64_t nb = K / 32;
  const auto* scales = reinterpret_cast<const uint16_t*>(group);
  const uint8_t* quants = group + nb * kBlockScaleBytes;
  const size_t qb = block_quant_bytes(wt);
  const int off = pd::quant_offset(wt), chunks = pd::chunks_per_block(wt);
  for (int c = 0; c < ncols; ++c) {
    const uint8_t* xr = X + c * xs;
    const auto* xq = reinterpret_cast<const int8_t*>(xr);
    const float* dx = pd::act_d(xr, K);
    const int32_t* nsum = pd::act_nsum(xr, K);
    for (int r = 0; r < nrows; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* q = quants + b * qb;
        int32_t isum = off * nsum[b];
        for (int j = 0; j < chunks; ++j) {
          const uint8_t* w4 = q + (j * kPackRows + r) * 4;
          for (int i = 0; i < 4; ++i) {
            if (wt == GgmlType::Q4_0) {
              isum += (w4[i] & 0x0F) * xq[b * 32 + 4 * j + i];
              isum += (w4[i] >> 4) * xq[b * 32 + 16 + 4 * j + i];
            } else if (wt == GgmlType::Q5_0) {
              const uint8_t h = group[nb * (kBlockScaleBytes + qb) + (b * 4 + j) * kPackRows + r];
              isum += ((w4[i] & 0x0F) | (((h >> i) & 1) << 4)) * xq[b * 32 + 4 * j + i];
              isum += ((w4[i] >> 4) | (((h >> (4 + i)) & 1) << 4)) * xq[b * 32 + 16 + 4 * j + i];
            } else {
              isum += w4[i] * xq[b * 32 + 4 * j + i];
            }
          }
        }
        acc = std::fma(static_cast<float>(isum), fp16_to_f32(scales[b * kPackRows + r]) * dx[b], acc);
      }
      Y[c * ldy + r] = acc;
    }
  }
}

struct Path {
  pd::GroupFn group;
  pd::PackActFn act;
};

Path select_path(pd::ActKind kind) {
  const bool q8k = kind == pd::ActKind::kQ8_K;
#if defined(__x86_64__)
  if (PackedWeights::fast_path_available() && active_isa() == Isa::kAvx512)
    return {x86::packed_group_avx512, q8k ? x86::packed_act_q8k_avx2 : x86::packed_act_avx2};
#endif
  return {packed_group_scalar, q8k ? packed_act_q8k_scalar : packed_act_scalar};
}

// Q4_K super-block of one row -> its slice of the group (see packed_impl.h). Q5_K's blocks have
// the same d, dmin and scales, then qh[32] before qs: qs is given.
void pack_q4k_block(const uint8_t* blk, uint8_t* g, int r, const uint8_t* qs) {
  std::memcpy(g + 2 * r, blk, 2);
  std::memcpy(g + 32 + 2 * r, blk + 2, 2);
  const uint8_t* sc12 = blk + 4;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    if (j < 4) {
      sc = sc12[j] & 63;
      m = sc12[j + 4] & 63;
    } else {
      sc = static_cast<uint8_t>((sc12[j + 4] & 0xF) | ((sc12[j - 4] >> 6) << 4));
      m = static_cast<uint8_t>((sc12[j + 4] >> 4) | ((sc12[j] >> 6) << 4));
    }
    g[64 + j * kPackRows + r] = sc;
    g[192 + ((j / 2) * kPackRows + r) * 2 + j % 2] = m;
  }
  for (int k = 0; k < 4; ++k)
    for (int c = 0; c < 8; ++c) std::memcpy(g + 320 + ((k * 8 + c) * kPackRows + r) * 4, qs + 32 * k + 4 * c, 4);
}

// Q5_K super-block (d, dmin, scales[12], qh[32], qs[128]): element l of sub-block j has bit 4 in
// bit j of qh[l] (ggml's dequantize_row_q5_K).
void pack_q5k_block(const uint8_t* blk, uint8_t* g, int r) {
  pack_q4k_block(blk, g, r, blk + 48);
  const uint8_t* qh = blk + 16;
  for (int k = 0; k < 4; ++k)
    for (int c = 0; c < 8; ++c) {
      uint8_t h = 0;
      for (int e = 0; e < 4; ++e) {
        h = static_cast<uint8_t>(h | (((qh[4 * c + e] >> (2 * k)) & 1) << e));
        h = static_cast<uint8_t>(h | (((qh[4 * c + e] >> (2 * k + 1)) & 1) << (4 + e)));
      }
      g[pd::kQ4KGroupBlockBytes + (k * 8 + c) * kPackRows + r] = h;
    }
}

// Q6_K super-block of one row -> its slice of the group (see packed_impl.h).
void pack_q6k_block(const uint8_t* blk, uint8_t* g, int r) {
  const uint8_t* ql = blk;
  const uint8_t* qh = blk + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(blk + 192);
  std::memcpy(g + 2 * r, blk + 208, 2);
  for (int j = 0; j < 16; ++j) g[64 + j * kPackRows + r] = static_cast<uint8_t>(sc[j]);
  uint8_t q[256];
  for (int n = 0; n < 2; ++n)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* L = ql + 64 * n;
      const uint8_t H = qh[32 * n + l];
      q[128 * n + l] = static_cast<uint8_t>((L[l] & 0xF) | ((H & 3) << 4));
      q[128 * n + l + 32] = static_cast<uint8_t>((L[l + 32] & 0xF) | (((H >> 2) & 3) << 4));
      q[128 * n + l + 64] = static_cast<uint8_t>((L[l] >> 4) | (((H >> 4) & 3) << 4));
      q[128 * n + l + 96] = static_cast<uint8_t>((L[l + 32] >> 4) | (((H >> 6) & 3) << 4));
    }
  for (int e = 0; e < 256; ++e) {
    const int k = e / 64, el = e % 64, c = (el % 32) / 4, b = el % 4, grp = el / 4, m = grp % 4, sh = grp / 4;
    uint8_t& lo = g[320 + ((k * 8 + c) * kPackRows + r) * 4 + b];
    lo = static_cast<uint8_t>(el < 32 ? (lo & 0xF0) | (q[e] & 0x0F) : (lo & 0x0F) | ((q[e] & 0x0F) << 4));
    uint8_t& hi = g[2368 + ((k * 4 + m) * kPackRows + r) * 4 + b];
    hi = static_cast<uint8_t>((hi & ~(3 << (2 * sh))) | ((q[e] >> 4) << (2 * sh)));
  }
}

}  // namespace

void PackedWeights::Free::operator()(uint8_t* p) const { std::free(p); }

std::unique_ptr<PackedWeights> PackedWeights::rows_view(const PackedWeights& of, int64_t first, int64_t n) {
  if (first < 0 || n <= 0 || first % kPackRows != 0 || first + n > of.n_ || (n % kPackRows != 0 && first + n != of.n_))
    fail(ErrorCode::kInvalidArgument, "rows_view: rows [{}, {}) of {} do not fall on groups of {}", first, first + n,
         of.n_, kPackRows);
  auto p = std::unique_ptr<PackedWeights>(new PackedWeights());
  p->type_ = of.type_;
  p->n_ = n;
  p->k_ = of.k_;
  p->group_bytes_ = of.group_bytes_;
  p->base_ = of.group(first / kPackRows);
  return p;
}

bool PackedWeights::supported(GgmlType wt, int64_t N, int64_t K) {
  if (N <= 0 || K <= 0) return false;
  if (wt == GgmlType::Q4_K || wt == GgmlType::Q5_K || wt == GgmlType::Q6_K) return K % 256 == 0;
  return (wt == GgmlType::Q4_0 || wt == GgmlType::Q5_0 || wt == GgmlType::Q8_0 || wt == GgmlType::IQ4_NL) &&
         K % 64 == 0;
}

bool PackedWeights::fast_path_available() { return best_supported_isa() == Isa::kAvx512; }

std::unique_ptr<PackedWeights> PackedWeights::pack(GgmlType wt, const void* W, int64_t N, int64_t K) {
  if (!supported(wt, N, K))
    fail(ErrorCode::kUnsupported, "cannot pack {} weights of {} x {}", ggml_type_name(uint32_t(wt)), N, K);
  if (wt == GgmlType::IQ4_NL) {
    // IQ4_NL is exactly Q8_0 with the grid values as quants (d * grid[q], |grid| <= 127, the same
    // Q8_0 activations in llama.cpp): it is packed, and computed, as Q8_0.
    const int64_t nb = K / 32;
    std::vector<BlockQ8_0> q8(static_cast<size_t>(N * nb));
    const auto* src = static_cast<const BlockIQ4NL*>(W);
    for (int64_t b = 0; b < N * nb; ++b) {
      q8[b].d = src[b].d;
      for (int j = 0; j < 16; ++j) {
        q8[b].qs[j] = kIq4nlValues[src[b].qs[j] & 0x0F];
        q8[b].qs[j + 16] = kIq4nlValues[src[b].qs[j] >> 4];
      }
    }
    return pack(GgmlType::Q8_0, q8.data(), N, K);
  }
  auto p = std::unique_ptr<PackedWeights>(new PackedWeights());
  p->type_ = wt;
  p->n_ = N;
  p->k_ = K;
  const int64_t nb = K / 32;
  const size_t qb = block_quant_bytes(wt);
  p->group_bytes_ =
      wt == GgmlType::Q4_K   ? static_cast<size_t>(K / 256) * pd::kQ4KGroupBlockBytes
      : wt == GgmlType::Q5_K ? static_cast<size_t>(K / 256) * pd::kQ5KGroupBlockBytes
      : wt == GgmlType::Q6_K
          ? static_cast<size_t>(K / 256) * pd::kQ6KGroupBlockBytes
          : (static_cast<size_t>(nb) * (kBlockScaleBytes + qb + (wt == GgmlType::Q5_0 ? pd::kQ5HighBytes : 0)) + 63) /
                64 * 64;
  const size_t total = p->bytes();
  // Large matrices go on 2 MiB-aligned memory the kernel may back with huge pages: the kernels stream
  // every byte once per token, and fewer TLB misses show in decode speed.
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t align = total >= kHuge ? kHuge : 64;
  p->data_.reset(static_cast<uint8_t*>(std::aligned_alloc(align, (total + align - 1) / align * align)));
  if (!p->data_) fail(ErrorCode::kResourceExhausted, "out of memory packing {} bytes of weights", total);
  p->base_ = p->data_.get();
#if defined(__linux__)
  if (align == kHuge) madvise(p->data_.get(), (total + align - 1) / align * align, MADV_HUGEPAGE);
#endif
  // Only the padding rows of the last group are not overwritten below.
  if (N % kPackRows) std::memset(p->data_.get() + p->group_bytes_ * (p->groups() - 1), 0, p->group_bytes_);

  const size_t row_bytes = ggml_row_bytes(wt, K);
  const size_t src_block = wt == GgmlType::Q4_0 ? 18 : wt == GgmlType::Q5_0 ? 22 : 34;
  const int chunks = pd::chunks_per_block(wt);
  for (int64_t g = 0; g < p->groups(); ++g) {
    uint8_t* dst = p->data_.get() + p->group_bytes_ * static_cast<size_t>(g);
    auto* scales = reinterpret_cast<uint16_t*>(dst);
    uint8_t* quants = dst + nb * kBlockScaleBytes;
    const int nrows = static_cast<int>(std::min<int64_t>(kPackRows, N - g * kPackRows));
    for (int r = 0; r < nrows; ++r) {
      const uint8_t* src = static_cast<const uint8_t*>(W) + row_bytes * static_cast<size_t>(g * kPackRows + r);
      if (wt == GgmlType::Q4_K) {
        for (int64_t i = 0; i < K / 256; ++i)
          pack_q4k_block(src + i * 144, dst + i * pd::kQ4KGroupBlockBytes, r, src + i * 144 + 16);
        continue;
      }
      if (wt == GgmlType::Q5_K) {
        for (int64_t i = 0; i < K / 256; ++i) pack_q5k_block(src + i * 176, dst + i * pd::kQ5KGroupBlockBytes, r);
        continue;
      }
      if (wt == GgmlType::Q6_K) {
        for (int64_t i = 0; i < K / 256; ++i) pack_q6k_block(src + i * 210, dst + i * pd::kQ6KGroupBlockBytes, r);
        continue;
      }
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = src + b * src_block;
        std::memcpy(&scales[b * kPackRows + r], blk, 2);
        uint8_t* q = quants + b * qb;
        const int qs = wt == GgmlType::Q5_0 ? 6 : 2;  // Q5_0: d, qh[4], qs[16]
        for (int j = 0; j < chunks; ++j)
          for (int i = 0; i < 4; ++i) {
            const uint8_t v = blk[qs + 4 * j + i];
            q[(j * kPackRows + r) * 4 + i] = wt == GgmlType::Q8_0 ? static_cast<uint8_t>(v ^ 0x80) : v;
          }
        if (wt == GgmlType::Q5_0) {  // element e's bit 4 is bit e of qh (ggml's dequantize_row_q5_0)
          uint32_t qh;
          std::memcpy(&qh, blk + 2, 4);
          uint8_t* hb = quants + nb * qb + b * pd::kQ5HighBytes;
          for (int j = 0; j < 4; ++j) {
            uint8_t h = 0;
            for (int i = 0; i < 4; ++i)
              h = static_cast<uint8_t>(h | (((qh >> (4 * j + i)) & 1) << i) |
                                       (((qh >> (16 + 4 * j + i)) & 1) << (4 + i)));
            hb[j * kPackRows + r] = h;
          }
        }
      }
    }
  }
  return p;
}

float PackedWeights::at(int64_t r, int64_t k) const {
  const uint8_t* g = group(r / kPackRows);
  const int rr = static_cast<int>(r % kPackRows);
  if (type_ == GgmlType::Q6_K) {
    const uint8_t* sb = g + (k / 256) * pd::kQ6KGroupBlockBytes;
    const int e = static_cast<int>(k % 256);
    uint16_t hd;
    std::memcpy(&hd, sb + 2 * rr, 2);
    const auto sc = static_cast<int8_t>(sb[64 + (e / 16) * kPackRows + rr]);
    return fp16_to_f32(hd) * static_cast<float>(sc) * static_cast<float>(q6k_at(sb, rr, e) - 32);
  }
  if (type_ == GgmlType::Q4_K || type_ == GgmlType::Q5_K) {
    const bool q5 = type_ == GgmlType::Q5_K;
    const uint8_t* sb = g + (k / 256) * (q5 ? pd::kQ5KGroupBlockBytes : pd::kQ4KGroupBlockBytes);
    const int e = static_cast<int>(k % 256), j = e / 32, kk = j / 2, c = (e % 32) / 4;
    uint16_t hd, hm;
    std::memcpy(&hd, sb + 2 * rr, 2);
    std::memcpy(&hm, sb + 32 + 2 * rr, 2);
    const uint8_t byte = sb[320 + ((kk * 8 + c) * kPackRows + rr) * 4 + e % 4];
    int q = j % 2 ? byte >> 4 : byte & 0x0F;
    if (q5) q |= ((sb[pd::kQ4KGroupBlockBytes + (kk * 8 + c) * kPackRows + rr] >> (4 * (j % 2) + e % 4)) & 1) << 4;
    const int sc = sb[64 + j * kPackRows + rr], m = sb[192 + ((j / 2) * kPackRows + rr) * 2 + j % 2];
    return fp16_to_f32(hd) * static_cast<float>(sc) * static_cast<float>(q) - fp16_to_f32(hm) * static_cast<float>(m);
  }
  const int64_t nb = k_ / 32, b = k / 32;
  const int e = static_cast<int>(k % 32);
  uint16_t h;
  std::memcpy(&h, g + (b * kPackRows + rr) * 2, 2);
  const uint8_t* q = g + nb * kBlockScaleBytes + b * block_quant_bytes(type_);
  int v;
  if (type_ == GgmlType::Q4_0 || type_ == GgmlType::Q5_0) {
    const int byte = e % 16;
    const uint8_t x = q[((byte / 4) * kPackRows + rr) * 4 + byte % 4];
    v = e < 16 ? (x & 0x0F) : (x >> 4);
    if (type_ == GgmlType::Q5_0) {
      const uint8_t hb = g[nb * (kBlockScaleBytes + block_quant_bytes(type_)) + (b * 4 + byte / 4) * kPackRows + rr];
      v |= ((hb >> ((e < 16 ? 0 : 4) + byte % 4)) & 1) << 4;
    }
    v -= pd::quant_offset(type_);
  } else {
    v = static_cast<int>(q[((e / 4) * kPackRows + rr) * 4 + e % 4]) - 128;
  }
  return fp16_to_f32(h) * static_cast<float>(v);
}

void matmul_packed(const PackedProduct* products, int n_products, const float* X, int64_t T, ThreadPool& pool) {
  if (n_products <= 0 || T <= 0) return;
  const int64_t K = products[0].w->cols();
  const pd::ActKind kind = pd::act_kind(products[0].w->type());
  int64_t total_groups = 0;
  for (int i = 0; i < n_products; ++i) {
    if (products[i].w->cols() != K) fail(ErrorCode::kInvalidArgument, "matmul_packed: products differ in K");
    if (pd::act_kind(products[i].w->type()) != kind)
      fail(ErrorCode::kInvalidArgument, "matmul_packed: products need different activation formats");
    total_groups += products[i].w->groups();
  }
  const Path path = select_path(kind);
  const size_t xs = pd::act_bytes(kind, K);
  thread_local ScratchBuffer scratch;
  uint8_t* act = scratch.get(xs * static_cast<size_t>(T));
  // Tokens are processed in blocks whose packed activations stay in L2 while a group's weights are
  // reused for every token of the block.
  const int64_t tb =
      std::max<int64_t>(pd::kMaxCols, static_cast<int64_t>((512 * 1024) / xs) / pd::kMaxCols * pd::kMaxCols);
  const bool pack_in_job = T >= 2 * pool.size();
  if (!pack_in_job)
    for (int64_t t = 0; t < T; ++t) path.act(X + t * K, K, act + t * xs);

  pool.run([&](int ith, int nth) {
    if (pack_in_job) {
      int64_t b, e;
      split_range(T, ith, nth, &b, &e);
      for (int64_t t = b; t < e; ++t) path.act(X + t * K, K, act + t * xs);
      pool.barrier();
    }
    int64_t gb, ge;
    split_range(total_groups, ith, nth, &gb, &ge);
    for (int64_t c0 = 0; c0 < T; c0 += tb) {
      const int64_t c1 = std::min(T, c0 + tb);
      int64_t base = 0;
      for (int i = 0; i < n_products && base < ge; ++i) {
        const PackedWeights& w = *products[i].w;
        const int64_t ng = w.groups();
        const int64_t lo = std::max(gb, base) - base, hi = std::min(ge, base + ng) - base;
        for (int64_t g = lo; g < hi; ++g) {
          const int nrows = static_cast<int>(std::min<int64_t>(kPackRows, w.rows() - g * kPackRows));
          for (int64_t c = c0; c < c1; c += pd::kMaxCols) {
            const int nc = static_cast<int>(std::min<int64_t>(pd::kMaxCols, c1 - c));
            path.group(w.type(), w.group(g), K, act + c * xs, xs, nc,
                       products[i].y + c * products[i].ldy + g * kPackRows, products[i].ldy, nrows);
          }
        }
        base += ng;
      }
    }
  });
}

}  // namespace llmchain::kernels
