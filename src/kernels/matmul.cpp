// The matmul driver: picks the kernel, packs activations once per call into per-thread scratch,
// and splits weight rows across the pool in tile-aligned ranges.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/matmul_kernel.h"
#include "kernels/quant.h"
#include "kernels/scratch.h"

namespace llmchain::kernels {
namespace {

// Activation rows of one token block stay within this many bytes so they remain cache resident
// while the thread's weight rows stream past.
constexpr size_t kActBlockBytes = 512 * 1024;  // half of a Zen 4/5 L2

const MatmulKernel* select_kernel(GgmlType wt, int64_t K, Isa isa) {
  const MatmulKernel* k = nullptr;
  switch (isa) {
    case Isa::kAvx512:
      k = avx512_kernel(wt);
      if (k && K % k->k_multiple == 0) return k;
      [[fallthrough]];
    case Isa::kAvx2:
      k = avx2_kernel(wt);
      if (k && K % k->k_multiple == 0) return k;
      [[fallthrough]];
    case Isa::kScalar: break;
  }
  k = scalar_kernel(wt);
  if (k && K % k->k_multiple == 0) return k;
  return nullptr;
}

size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

}  // namespace

void matmul(GgmlType wt, const void* W, int64_t N, int64_t K, const float* X, int64_t T, float* Y, int64_t ldy,
            ThreadPool& pool) {
  matmul(wt, W, N, K, X, T, Y, ldy, pool, active_isa());
}

void matmul(GgmlType wt, const void* W, int64_t N, int64_t K, const float* X, int64_t T, float* Y, int64_t ldy,
            ThreadPool& pool, Isa isa) {
  if (N <= 0 || T <= 0) return;
  const MatmulKernel* kern = select_kernel(wt, K, isa);
  if (!kern) fail(ErrorCode::kUnsupported, "matmul: no kernel for {} with K={}", ggml_type_name(uint32_t(wt)), K);
  const size_t w_stride = ggml_row_bytes(wt, K);
  const size_t x_stride = round_up(kern->act_row_bytes(K), 64);
  thread_local ScratchBuffer scratch;
  uint8_t* act = scratch.get(x_stride * T);
  const auto* w = static_cast<const uint8_t*>(W);

  // K chunking (float kernels): chunks of kc elements, partial tiles summed into Y.
  const int64_t kc = kern->k_block > 0 && K > kern->k_block ? kern->k_block : K;
  const size_t x_chunk_bytes = kc == K ? x_stride : kern->act_row_bytes(kc);
  const int64_t tb =
      std::max<int64_t>(kTileCols, static_cast<int64_t>(kActBlockBytes / x_chunk_bytes) / kTileCols * kTileCols);
  const int64_t n_tiles = (N + kTileRows - 1) / kTileRows;
  const bool pack_in_job = T >= 2 * pool.size();
  if (!pack_in_job)
    for (int64_t t = 0; t < T; ++t) kern->pack_act(X + t * K, K, act + t * x_stride);

  pool.run([&](int ith, int nth) {
    if (pack_in_job) {
      int64_t b, e;
      split_range(T, ith, nth, &b, &e);
      for (int64_t t = b; t < e; ++t) kern->pack_act(X + t * K, K, act + t * x_stride);
      pool.barrier();
    }
    int64_t tile_b, tile_e;
    split_range(n_tiles, ith, nth, &tile_b, &tile_e);
    const int64_t rb = tile_b * kTileRows, re = std::min(N, tile_e * kTileRows);
    for (int64_t c0 = 0; c0 < T; c0 += tb) {
      const int64_t c1 = std::min(T, c0 + tb);
      if (kc == K) {
        for (int64_t r = rb; r < re; r += kTileRows) {
          const int nr = static_cast<int>(std::min<int64_t>(kTileRows, re - r));
          for (int64_t c = c0; c < c1; c += kTileCols) {
            const int nc = static_cast<int>(std::min<int64_t>(kTileCols, c1 - c));
            kern->tile(K, w + r * w_stride, w_stride, nr, act + c * x_stride, x_stride, nc, Y + c * ldy + r, ldy);
          }
        }
        continue;
      }
      for (int64_t k0 = 0; k0 < K; k0 += kc) {
        const int64_t kn = std::min(kc, K - k0);
        const size_t w_off = ggml_row_bytes(wt, k0), x_off = kern->act_row_bytes(k0);
        for (int64_t r = rb; r < re; r += kTileRows) {
          const int nr = static_cast<int>(std::min<int64_t>(kTileRows, re - r));
          for (int64_t c = c0; c < c1; c += kTileCols) {
            const int nc = static_cast<int>(std::min<int64_t>(kTileCols, c1 - c));
            float part[kTileCols * kTileRows];
            kern->tile(kn, w + r * w_stride + w_off, w_stride, nr, act + c * x_stride + x_off, x_stride, nc, part,
                       kTileRows);
            for (int j = 0; j < nc; ++j)
              for (int i = 0; i < nr; ++i) {
                float& y = Y[(c + j) * ldy + r + i];
                y = k0 == 0 ? part[j * kTileRows + i] : y + part[j * kTileRows + i];
              }
          }
        }
      }
    }
  });
}

void matmul_reference(GgmlType wt, const void* W, int64_t N, int64_t K, const float* X, int64_t T, float* Y,
                      int64_t ldy) {
  const TypeTraits* tt = type_traits(wt);
  if (!tt || K % tt->block != 0) fail(ErrorCode::kUnsupported, "matmul_reference: bad type or K");
  const size_t w_stride = ggml_row_bytes(wt, K);
  std::vector<float> row(K);
  for (int64_t r = 0; r < N; ++r) {
    tt->dequantize(static_cast<const uint8_t*>(W) + r * w_stride, row.data(), K);
    for (int64_t t = 0; t < T; ++t) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(row[k]) * X[t * K + k];
      Y[t * ldy + r] = static_cast<float>(s);
    }
  }
}

// ---- scalar kernel: ggml activation formats and the scalar vec_dot of each type ----
namespace {

template <GgmlType WT>
float legacy_dot(int64_t K, const uint8_t* w, const uint8_t* x);
template <GgmlType WT>
constexpr bool kLegacy = WT == GgmlType::Q4_0 || WT == GgmlType::Q4_1 || WT == GgmlType::Q5_0 || WT == GgmlType::Q5_1 ||
                         WT == GgmlType::Q8_0;

template <GgmlType WT>
size_t scalar_act_bytes(int64_t K) {
  return ggml_row_bytes(type_traits(WT)->act_type, K);
}
// Activations of the 32-element block types as ggml's x86 quantize_row_q8_0 / q8_1 make them at
// run time (multiplier 127 / max, halves rounded to even), not as the _ref variant that quantizes
// weights (1 / (max / 127), halves away from zero): the bytes simd/avx2_pack.cpp writes.
template <typename Block>
void quantize_act_q8(const float* x, void* dst, int64_t K) {
  auto* y = static_cast<Block*>(dst);
  for (int64_t b = 0; b < K / 32; ++b, x += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      y[b].qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
      sum += y[b].qs[j];
    }
    y[b].d = f32_to_fp16(d);
    if constexpr (std::is_same_v<Block, BlockQ8_1>) y[b].s = f32_to_fp16(static_cast<float>(sum) * d);
  }
}

template <GgmlType WT>
void scalar_pack(const float* x, int64_t K, void* dst) {
  if constexpr (kLegacy<WT>) {
    if constexpr (WT == GgmlType::Q4_1 || WT == GgmlType::Q5_1) {
      quantize_act_q8<BlockQ8_1>(x, dst, K);
    } else {
      quantize_act_q8<BlockQ8_0>(x, dst, K);
    }
    return;
  }
  type_traits(type_traits(WT)->act_type)->quantize(x, dst, K);
}

template <GgmlType WT>
void scalar_tile(int64_t K, const uint8_t* W, size_t ws, int nr, const uint8_t* X, size_t xs, int nc, float* Y,
                 int64_t ldy) {
  if constexpr (kLegacy<WT>) {
    for (int r = 0; r < nr; ++r)
      for (int c = 0; c < nc; ++c) Y[c * ldy + r] = legacy_dot<WT>(K, W + r * ws, X + c * xs);
    return;
  }
  const VecDotFn dot = type_traits(WT)->vec_dot;
  for (int r = 0; r < nr; ++r)
    for (int c = 0; c < nc; ++c) Y[c * ldy + r] = dot(K, W + r * ws, X + c * xs);
}
// The 32-element block types in the order of ggml's x86 kernels (and simd/avx2_legacy.cpp, bit for
// bit): a block's products form 8 lanes of 4 consecutive elements, each lane's integer sum is
// accumulated across blocks with fma(sum, d_w * d_x, acc), a block's min term (Q4_1, Q5_1) is added
// to lane 0, and the lanes are summed as ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)). ggml's scalar
// vec_dot sums blocks in sequence instead; a CPU without AVX2 would then part from llama.cpp's
// outputs at near-ties, so the scalar path (and the reference backend) computes this order.
template <GgmlType WT>
struct LegacyBlock;
template <>
struct LegacyBlock<GgmlType::Q4_0> {
  using B = BlockQ4_0;
  static void quants(const B& b, int8_t* q) {
    for (int j = 0; j < 16; ++j)
      q[j] = static_cast<int8_t>((b.qs[j] & 15) - 8), q[j + 16] = static_cast<int8_t>((b.qs[j] >> 4) - 8);
  }
};
template <>
struct LegacyBlock<GgmlType::Q4_1> {
  using B = BlockQ4_1;
  static void quants(const B& b, int8_t* q) {
    for (int j = 0; j < 16; ++j)
      q[j] = static_cast<int8_t>(b.qs[j] & 15), q[j + 16] = static_cast<int8_t>(b.qs[j] >> 4);
  }
};
template <typename B>
void q5_quants(const B& b, int8_t* q, int offset) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = static_cast<int8_t>(((b.qs[j] & 15) | (((qh >> j) & 1) << 4)) - offset);
    q[j + 16] = static_cast<int8_t>(((b.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - offset);
  }
}
template <>
struct LegacyBlock<GgmlType::Q5_0> {
  using B = BlockQ5_0;
  static void quants(const B& b, int8_t* q) { q5_quants(b, q, 16); }
};
template <>
struct LegacyBlock<GgmlType::Q5_1> {
  using B = BlockQ5_1;
  static void quants(const B& b, int8_t* q) { q5_quants(b, q, 0); }
};
template <>
struct LegacyBlock<GgmlType::Q8_0> {
  using B = BlockQ8_0;
  static void quants(const B& b, int8_t* q) { std::memcpy(q, b.qs, 32); }
};

template <GgmlType WT>
float legacy_dot(int64_t K, const uint8_t* w, const uint8_t* x) {
  using W = typename LegacyBlock<WT>::B;
  constexpr bool kMin = WT == GgmlType::Q4_1 || WT == GgmlType::Q5_1;
  using A = std::conditional_t<kMin, BlockQ8_1, BlockQ8_0>;
  const auto* wb = reinterpret_cast<const W*>(w);
  const auto* xb = reinterpret_cast<const A*>(x);
  float acc[8] = {};
  int8_t q[32];
  for (int64_t b = 0; b < K / 32; ++b) {
    LegacyBlock<WT>::quants(wb[b], q);
    const float d = fp16_to_f32(wb[b].d) * fp16_to_f32(xb[b].d);
    for (int l = 0; l < 8; ++l) {
      int32_t sum = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) sum += q[j] * xb[b].qs[j];
      acc[l] = std::fma(static_cast<float>(sum), d, acc[l]);
    }
    if constexpr (kMin) acc[0] += fp16_to_f32(wb[b].m) * fp16_to_f32(xb[b].s);
  }
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

template <GgmlType WT>
constexpr MatmulKernel make_scalar() {
  return {WT == GgmlType::F32 || WT == GgmlType::F16 || WT == GgmlType::BF16 ? 1
          : WT == GgmlType::Q4_K || WT == GgmlType::Q5_K || WT == GgmlType::Q6_K || WT == GgmlType::Q2_K ||
                  WT == GgmlType::Q3_K || WT == GgmlType::IQ4_XS
              ? 256
              : 32,
          0, scalar_act_bytes<WT>, scalar_pack<WT>, scalar_tile<WT>};
}

}  // namespace

const MatmulKernel* scalar_kernel(GgmlType t) {
  using G = GgmlType;
  static const MatmulKernel kF32 = make_scalar<G::F32>(), kF16 = make_scalar<G::F16>(), kBF16 = make_scalar<G::BF16>(),
                            kQ4_0 = make_scalar<G::Q4_0>(), kQ4_1 = make_scalar<G::Q4_1>(),
                            kQ5_0 = make_scalar<G::Q5_0>(), kQ5_1 = make_scalar<G::Q5_1>(),
                            kQ8_0 = make_scalar<G::Q8_0>(), kQ4_K = make_scalar<G::Q4_K>(),
                            kQ5_K = make_scalar<G::Q5_K>(), kQ6_K = make_scalar<G::Q6_K>(),
                            kQ2_K = make_scalar<G::Q2_K>(), kQ3_K = make_scalar<G::Q3_K>(),
                            kIQ4_NL = make_scalar<G::IQ4_NL>(), kIQ4_XS = make_scalar<G::IQ4_XS>();
  switch (t) {
    case G::F32: return &kF32;
    case G::F16: return &kF16;
    case G::BF16: return &kBF16;
    case G::Q4_0: return &kQ4_0;
    case G::Q4_1: return &kQ4_1;
    case G::Q5_0: return &kQ5_0;
    case G::Q5_1: return &kQ5_1;
    case G::Q8_0: return &kQ8_0;
    case G::Q4_K: return &kQ4_K;
    case G::Q5_K: return &kQ5_K;
    case G::Q6_K: return &kQ6_K;
    case G::Q2_K: return &kQ2_K;
    case G::Q3_K: return &kQ3_K;
    case G::IQ4_NL: return &kIQ4_NL;
    case G::IQ4_XS: return &kIQ4_XS;
    default: return nullptr;
  }
}

}  // namespace llmchain::kernels
