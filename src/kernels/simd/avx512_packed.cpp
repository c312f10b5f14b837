// AVX-512 VNNI kernels for packed Q4_0 / Q8_0 / Q4_K / Q5_K / Q6_K weights (layout in
// kernels/packed.h and packed_impl.h).
//
// One register holds quants 4j..4j+3 of a block for 16 rows; vpdpbusd against the broadcast
// activation dword x[4j..4j+3] adds 4 products to each row's lane, so a 32-element block costs 8
// vpdpbusd per token for 16 rows, and the expanded weights are reused for up to 8 tokens.
#include <immintrin.h>

#include <algorithm>

#include "kernels/packed.h"
#include "kernels/packed_impl.h"
#include "kernels/simd/act_formats.h"

namespace llmchain::kernels::x86 {
namespace pd = packed_detail;
namespace {

inline __m512i bcast(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Y[c*ldy + r] = acc[c][r] for the group's first nrows rows.
template <int C>
inline void store_rows(const __m512* acc, float* Y, int64_t ldy, int nrows) {
  if (nrows == kPackRows) {
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(Y + c * ldy, acc[c]);
  } else {
    const __mmask16 m = static_cast<__mmask16>((1u << nrows) - 1);
    for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(Y + c * ldy, m, acc[c]);
  }
}

// Groups are stored back to back. While one is computed, the kernels fetch the next one at the
// same pace, so that memory traffic overlaps the arithmetic instead of following it (the hardware
// prefetchers do not run far enough ahead); past the last group of a matrix these are harmless hints.
inline void prefetch_range(const uint8_t* p, int64_t bytes) {
  for (int64_t l = 0; l < bytes; l += 64) _mm_prefetch(reinterpret_cast<const char*>(p + l), _MM_HINT_T0);
}

// Sets bit 4 of the 64 quants of one register (16 rows x 4 bytes) from 16 bytes, one per row:
// bits 0..3 (low) or 4..7 (high) of row r's byte belong to its 4 lanes in order. The byte is
// widened to the row's dword, copied to the dword's 4 bytes and tested against each lane's bit.
inline __m512i with_bit4(__m512i w, const uint8_t* rows16, bool high) {
  const __m512i rep = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0x00000000);
  const __m512i bits = high ? _mm512_set1_epi32(static_cast<int>(0x80402010u)) : _mm512_set1_epi32(0x08040201);
  const __m512i h =
      _mm512_shuffle_epi8(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(rows16))), rep);
  return _mm512_mask_add_epi8(w, _mm512_test_epi8_mask(h, bits), w, _mm512_set1_epi8(0x10));
}

// The 32-element block types: Q4_0 and Q5_0 (nibbles; Q5_0 with bit 4 from the high-bit bytes
// after the quants, see packed_impl.h) and Q8_0.
enum class Legacy { kQ4_0, kQ5_0, kQ8_0 };

template <Legacy kT, int C>
void group_kernel(const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, float* Y, int64_t ldy, int nrows) {
  const int64_t nb = K / 32;
  const auto* scales = reinterpret_cast<const __m256i*>(group);
  const uint8_t* quants = group + nb * 32;
  constexpr bool kNibbles = kT != Legacy::kQ8_0;
  constexpr int kOff = kT == Legacy::kQ4_0 ? 8 : kT == Legacy::kQ5_0 ? 16 : 128;
  constexpr size_t kQb = kNibbles ? 256 : 512;
  const uint8_t* highs = quants + nb * kQb;  // Q5_0
  const int8_t* xq[C];
  const float* dx[C];
  const int32_t* ns[C];
  for (int c = 0; c < C; ++c) {
    xq[c] = reinterpret_cast<const int8_t*>(X + c * xs);
    dx[c] = pd::act_d(X + c * xs, K);
    ns[c] = pd::act_nsum(X + c * xs, K);
  }
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  constexpr int64_t kBlockBytes = 32 + kQb + (kT == Legacy::kQ5_0 ? pd::kQ5HighBytes : 0);
  const uint8_t* next = group + nb * kBlockBytes;
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_range(next + b * kBlockBytes, kBlockBytes);
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(scales + b));
    const uint8_t* q = quants + b * kQb;
    __m512i w[8];
    if constexpr (kT == Legacy::kQ4_0) {
      // High nibbles stay in place (16 * value): their dot products are scaled back by >> 4,
      // exact because every term is a multiple of 16. Saves a shift per register.
      for (int j = 0; j < 4; ++j) {
        const __m512i v = _mm512_load_si512(q + 64 * j);
        w[j] = _mm512_and_si512(v, m4);
        w[j + 4] = _mm512_andnot_si512(m4, v);
      }
    } else if constexpr (kT == Legacy::kQ5_0) {  // 16 * a 5-bit value does not fit a byte: shift down
      for (int j = 0; j < 4; ++j) {
        const __m512i v = _mm512_load_si512(q + 64 * j);
        const uint8_t* h = highs + b * pd::kQ5HighBytes + 16 * j;
        w[j] = with_bit4(_mm512_and_si512(v, m4), h, false);
        w[j + 4] = with_bit4(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4), h, true);
      }
    } else {
      for (int j = 0; j < 8; ++j) w[j] = _mm512_load_si512(q + 64 * j);
    }
    for (int c = 0; c < C; ++c) {
      const int8_t* x = xq[c] + b * 32;
      // Two chains so one token's eight vpdpbusd are not all serial.
      __m512i s0 = _mm512_set1_epi32(kOff * ns[c][b]);
      __m512i s1 = _mm512_setzero_si512();
      if constexpr (kNibbles) {  // s0: low nibbles (elements 0..15), s1: high nibbles (16..31)
        s0 = _mm512_dpbusd_epi32(s0, w[0], bcast(x + 0));
        s1 = _mm512_dpbusd_epi32(s1, w[4], bcast(x + 16));
        s0 = _mm512_dpbusd_epi32(s0, w[1], bcast(x + 4));
        s1 = _mm512_dpbusd_epi32(s1, w[5], bcast(x + 20));
        s0 = _mm512_dpbusd_epi32(s0, w[2], bcast(x + 8));
        s1 = _mm512_dpbusd_epi32(s1, w[6], bcast(x + 24));
        s0 = _mm512_dpbusd_epi32(s0, w[3], bcast(x + 12));
        s1 = _mm512_dpbusd_epi32(s1, w[7], bcast(x + 28));
        if constexpr (kT == Legacy::kQ4_0) s1 = _mm512_srai_epi32(s1, 4);
      } else {
        s0 = _mm512_dpbusd_epi32(s0, w[0], bcast(x + 0));
        s1 = _mm512_dpbusd_epi32(s1, w[1], bcast(x + 4));
        s0 = _mm512_dpbusd_epi32(s0, w[2], bcast(x + 8));
        s1 = _mm512_dpbusd_epi32(s1, w[3], bcast(x + 12));
        s0 = _mm512_dpbusd_epi32(s0, w[4], bcast(x + 16));
        s1 = _mm512_dpbusd_epi32(s1, w[5], bcast(x + 20));
        s0 = _mm512_dpbusd_epi32(s0, w[6], bcast(x + 24));
        s1 = _mm512_dpbusd_epi32(s1, w[7], bcast(x + 28));
      }
      const __m512 sum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
      acc[c] = _mm512_fmadd_ps(sum, _mm512_mul_ps(dw, _mm512_set1_ps(dx[c][b])), acc[c]);
    }
  }
  store_rows<C>(acc, Y, ldy, nrows);
}

// Q4_K: per super-block, isum_j of each 32-element sub-block by vpdpbusd, sumi += sc_j * isum_j
// (exact int32), the mins term by vpdpwssd of (m_2p, m_2p+1) with the activation's 32-sums.
// Q5_K (kQ5): the same, with bit 4 of each quant set from the group's qh bytes (with_bit4).
template <int C, bool kQ5 = false>
void q4k_kernel(const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, float* Y, int64_t ldy, int nrows) {
  constexpr size_t kBlock = kQ5 ? pd::kQ5KGroupBlockBytes : pd::kQ4KGroupBlockBytes;
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const uint8_t* next = group + (K / 256) * kBlock;
  for (int64_t i = 0; i < K / 256; ++i) {
    const uint8_t* g = group + i * kBlock;
    prefetch_range(next + i * kBlock, kBlock);
    const uint8_t* a[C];
    for (int c = 0; c < C; ++c) a[c] = X + c * xs + i * 320;
    __m512i sumi[C], msum[C];
    for (int c = 0; c < C; ++c) sumi[c] = msum[c] = _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
      const __m512i mn = _mm512_cvtepu8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(g + 192 + 32 * p)));
      for (int c = 0; c < C; ++c)
        msum[c] = _mm512_dpwssd_epi32(msum[c], mn, bcast(reinterpret_cast<const int8_t*>(a[c] + 36 + 4 * p)));
    }
    for (int j = 0; j < 8; ++j) {
      const __m512i sc = _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(g + 64 + 16 * j)));
      const uint8_t* q = g + 320 + (j / 2) * 512;
      __m512i w[8];
      for (int cc = 0; cc < 8; ++cc) {
        const __m512i v = _mm512_load_si512(q + 64 * cc);
        w[cc] = _mm512_and_si512(j % 2 ? _mm512_srli_epi16(v, 4) : v, m4);
        if constexpr (kQ5) w[cc] = with_bit4(w[cc], g + pd::kQ4KGroupBlockBytes + ((j / 2) * 8 + cc) * 16, j % 2);
      }
      for (int c = 0; c < C; ++c) {
        const int8_t* x = reinterpret_cast<const int8_t*>(a[c] + 64 + 32 * j);
        __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[0], bcast(x + 0));
        __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[1], bcast(x + 4));
        s0 = _mm512_dpbusd_epi32(s0, w[2], bcast(x + 8));
        s1 = _mm512_dpbusd_epi32(s1, w[3], bcast(x + 12));
        s0 = _mm512_dpbusd_epi32(s0, w[4], bcast(x + 16));
        s1 = _mm512_dpbusd_epi32(s1, w[5], bcast(x + 20));
        s0 = _mm512_dpbusd_epi32(s0, w[6], bcast(x + 24));
        s1 = _mm512_dpbusd_epi32(s1, w[7], bcast(x + 28));
        sumi[c] = _mm512_add_epi32(sumi[c], _mm512_mullo_epi32(_mm512_add_epi32(s0, s1), sc));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(g)));
    const __m512 dm = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(g + 32)));
    for (int c = 0; c < C; ++c) {
      float d;
      __builtin_memcpy(&d, a[c], 4);
      const __m512 dx = _mm512_set1_ps(d);
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[c]), _mm512_mul_ps(dw, dx), acc[c]);
      acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[c]), _mm512_mul_ps(dm, dx), acc[c]);
    }
  }
  store_rows<C>(acc, Y, ldy, nrows);
}

// Q6_K: the 6-bit quants are rebuilt in registers (nibble | 2 high bits << 4), then per 16-element
// sub-block isum_j by vpdpbusd seeded with -32 * bsum16_j, and sumi += sc_j * isum_j (exact int32).
template <int C>
void q6k_kernel(const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, float* Y, int64_t ldy, int nrows) {
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  const uint8_t* next = group + (K / 256) * pd::kQ6KGroupBlockBytes;
  for (int64_t i = 0; i < K / 256; ++i) {
    const uint8_t* g = group + i * pd::kQ6KGroupBlockBytes;
    prefetch_range(next + i * pd::kQ6KGroupBlockBytes, pd::kQ6KGroupBlockBytes);
    const uint8_t* a[C];
    for (int c = 0; c < C; ++c) a[c] = X + c * xs + i * 320;
    __m512i sumi[C];
    for (int c = 0; c < C; ++c) sumi[c] = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {
      __m512i h[4];
      for (int m = 0; m < 4; ++m) h[m] = _mm512_load_si512(g + 2368 + (k * 4 + m) * 64);
      for (int half = 0; half < 2; ++half) {
        __m512i w[8];
        for (int cc = 0; cc < 8; ++cc) {
          const __m512i v = _mm512_load_si512(g + 320 + (k * 8 + cc) * 64);
          const __m512i nib = _mm512_and_si512(half ? _mm512_srli_epi16(v, 4) : v, m4);
          const int grp = half * 8 + cc, sh = grp / 4;
          const __m512i hm = h[grp % 4];
          const __m512i hs = sh == 0   ? _mm512_slli_epi16(hm, 4)
                             : sh == 1 ? _mm512_slli_epi16(hm, 2)
                             : sh == 2 ? hm
                                       : _mm512_srli_epi16(hm, 2);
          w[cc] = _mm512_ternarylogic_epi32(nib, hs, m30, 0xF8);  // nib | (hs & 0x30)
        }
        const int j0 = 4 * k + 2 * half;  // the two 16-element sub-blocks of this half
        const __m512i sc0 = _mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(g + 64 + 16 * j0)));
        const __m512i sc1 =
            _mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(g + 64 + 16 * (j0 + 1))));
        for (int c = 0; c < C; ++c) {
          const auto* bs16 = reinterpret_cast<const int16_t*>(a[c] + 4);
          const int8_t* x = reinterpret_cast<const int8_t*>(a[c] + 64 + 64 * k + 32 * half);
          __m512i s0 = _mm512_set1_epi32(-32 * bs16[j0]);
          __m512i s1 = _mm512_set1_epi32(-32 * bs16[j0 + 1]);
          s0 = _mm512_dpbusd_epi32(s0, w[0], bcast(x + 0));
          s1 = _mm512_dpbusd_epi32(s1, w[4], bcast(x + 16));
          s0 = _mm512_dpbusd_epi32(s0, w[1], bcast(x + 4));
          s1 = _mm512_dpbusd_epi32(s1, w[5], bcast(x + 20));
          s0 = _mm512_dpbusd_epi32(s0, w[2], bcast(x + 8));
          s1 = _mm512_dpbusd_epi32(s1, w[6], bcast(x + 24));
          s0 = _mm512_dpbusd_epi32(s0, w[3], bcast(x + 12));
          s1 = _mm512_dpbusd_epi32(s1, w[7], bcast(x + 28));
          sumi[c] =
              _mm512_add_epi32(sumi[c], _mm512_add_epi32(_mm512_mullo_epi32(s0, sc0), _mm512_mullo_epi32(s1, sc1)));
        }
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(g)));
    for (int c = 0; c < C; ++c) {
      float d;
      __builtin_memcpy(&d, a[c], 4);
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[c]), _mm512_mul_ps(dw, _mm512_set1_ps(d)), acc[c]);
    }
  }
  store_rows<C>(acc, Y, ldy, nrows);
}

using KernelFn = void (*)(const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, float* Y, int64_t ldy,
                          int nrows);

// K-quant kernels hold up to 4 tokens in registers: wider column tiles run 4 at a time.
template <KernelFn k1, KernelFn k2, KernelFn k3, KernelFn k4>
void by4_dispatch(const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, int ncols, float* Y, int64_t ldy,
                  int nrows) {
  constexpr KernelFn kByCols[] = {k1, k2, k3, k4};
  for (int c0 = 0; c0 < ncols; c0 += 4)
    kByCols[std::min(ncols - c0, 4) - 1](group, K, X + c0 * xs, xs, Y + c0 * ldy, ldy, nrows);
}

template <Legacy kT>
void dispatch(const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, int ncols, float* Y, int64_t ldy,
              int nrows) {
  switch (ncols) {
    case 8: return group_kernel<kT, 8>(group, K, X, xs, Y, ldy, nrows);
    case 7: return group_kernel<kT, 7>(group, K, X, xs, Y, ldy, nrows);
    case 6: return group_kernel<kT, 6>(group, K, X, xs, Y, ldy, nrows);
    case 5: return group_kernel<kT, 5>(group, K, X, xs, Y, ldy, nrows);
    case 4: return group_kernel<kT, 4>(group, K, X, xs, Y, ldy, nrows);
    case 3: return group_kernel<kT, 3>(group, K, X, xs, Y, ldy, nrows);
    case 2: return group_kernel<kT, 2>(group, K, X, xs, Y, ldy, nrows);
    default: return group_kernel<kT, 1>(group, K, X, xs, Y, ldy, nrows);
  }
}

}  // namespace

void packed_group_avx512(GgmlType wt, const uint8_t* group, int64_t K, const uint8_t* X, size_t xs, int ncols, float* Y,
                         int64_t ldy, int nrows) {
  if (wt == GgmlType::Q4_K)
    by4_dispatch<q4k_kernel<1>, q4k_kernel<2>, q4k_kernel<3>, q4k_kernel<4>>(group, K, X, xs, ncols, Y, ldy, nrows);
  else if (wt == GgmlType::Q5_K)
    by4_dispatch<q4k_kernel<1, true>, q4k_kernel<2, true>, q4k_kernel<3, true>, q4k_kernel<4, true>>(
        group, K, X, xs, ncols, Y, ldy, nrows);
  else if (wt == GgmlType::Q6_K)
    by4_dispatch<q6k_kernel<1>, q6k_kernel<2>, q6k_kernel<3>, q6k_kernel<4>>(group, K, X, xs, ncols, Y, ldy, nrows);
  else if (wt == GgmlType::Q4_0)
    dispatch<Legacy::kQ4_0>(group, K, X, xs, ncols, Y, ldy, nrows);
  else if (wt == GgmlType::Q5_0)
    dispatch<Legacy::kQ5_0>(group, K, X, xs, ncols, Y, ldy, nrows);
  else
    dispatch<Legacy::kQ8_0>(group, K, X, xs, ncols, Y, ldy, nrows);
}

void packed_act_q8k_avx2(const float* x, int64_t K, uint8_t* dst) { pack_act_q8_k(x, K, dst); }

void packed_act_avx2(const float* x, int64_t K, uint8_t* dst) {
  // ActQ8 is [qs][d][s]: the same prefix; the float sums are replaced by the negated integer sums.
  pack_act_q8_0(x, K, dst);
  const auto* qs = reinterpret_cast<const int8_t*>(dst);
  int32_t* nsum = reinterpret_cast<int32_t*>(dst + K) + K / 32;
  for (int64_t b = 0; b < K / 32; ++b) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * b));
    const __m512i q16 = _mm512_cvtepi8_epi16(q);
    nsum[b] = -_mm512_reduce_add_epi32(_mm512_madd_epi16(q16, _mm512_set1_epi16(1)));
  }
}

}  // namespace llmchain::kernels::x86
