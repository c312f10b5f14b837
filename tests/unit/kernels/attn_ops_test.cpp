// The SIMD twins of the f16 attention ops (simd/*_attn.cpp) against the scalar reference in ops.cpp,
// bit for bit: every ISA the CPU supports, odd lengths, values around the f16 overflow and subnormal
// thresholds, ties, infinities and NaNs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace llmchain::kernels {
namespace {

std::vector<Isa> simd_isas() {
  std::vector<Isa> v;
  if (best_supported_isa() >= Isa::kAvx2) v.push_back(Isa::kAvx2);
  if (best_supported_isa() >= Isa::kAvx512) v.push_back(Isa::kAvx512);
  return v;
}

// Runs f on the given path and restores the default one.
template <typename F>
auto on_isa(Isa isa, F&& f) {
  set_isa_for_testing(isa);
  auto r = f();
  set_isa_for_testing(best_supported_isa());
  return r;
}

// Bit-identical, NaN payloads included: narrowing always quiets a NaN and keeps the top payload
// bits, on both paths.
::testing::AssertionResult same_f16(const std::vector<uint16_t>& got, const std::vector<uint16_t>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;
    return ::testing::AssertionFailure() << "element " << i << " of " << got.size() << ": " << got[i]
                                         << " != " << want[i];
  }
  return ::testing::AssertionSuccess();
}

// Bit-identical, except that a NaN may carry another payload (F16C quiets a signalling f16 NaN when
// widening; the scalar table keeps it signalling): still NaN, with the same sign.
::testing::AssertionResult same_f32(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < got.size(); ++i) {
    const uint32_t g = f32_to_bits(got[i]), w = f32_to_bits(want[i]);
    if (g == w) continue;
    if (std::isnan(got[i]) && std::isnan(want[i]) && (g >> 31) == (w >> 31)) continue;
    return ::testing::AssertionFailure() << "element " << i << " of " << got.size() << ": " << got[i] << " (bits " << g
                                         << ") != " << want[i] << " (bits " << w << ")";
  }
  return ::testing::AssertionSuccess();
}

// Lengths around the 8- and 16-lane blocks.
const std::vector<int64_t> kLengths = {0, 1, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65, 100, 128, 131};

// f32 values that stress the f16 rounding: the overflow threshold, the subnormal range and its
// lower edge (2^-25), exact ties, f32 subnormals, infinities, NaNs with payloads.
std::vector<float> edge_floats() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          65504.0f,
                          65519.996f,
                          65520.0f,
                          65536.0f,
                          1e10f,
                          0x1p-14f,
                          0x1p-15f,
                          0x1p-24f,
                          0x1.8p-24f,
                          0x1p-25f,
                          0x1.000002p-25f,
                          0x1.fffffep-26f,
                          0x1p-26f,
                          0x1.002p0f,
                          0x1.006p0f,
                          0x1.001p0f,
                          1.0f + 0x1p-11f,
                          0x1p-149f,
                          0x1p-130f,
                          1.0e-8f,
                          std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(),
                          bits_to_f32(0x7F800001u),
                          bits_to_f32(0x7FBFFFFFu),
                          bits_to_f32(0x7FC12345u),
                          bits_to_f32(0xFFA00000u),
                          bits_to_f32(0x7F802000u)};
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i) v.push_back(-v[i]);
  return v;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<uint16_t> to_f16(const std::vector<float>& x) {
  std::vector<uint16_t> h(x.size());
  for (size_t i = 0; i < x.size(); ++i) h[i] = ops::fp32_to_fp16(x[i]);
  return h;
}

// Mixed magnitudes: ordinary values, f16 subnormals and values near the f16 maximum.
std::vector<float> mixed_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::uniform_int_distribution<int> kind(0, 9);
  std::vector<float> v(n);
  for (auto& x : v) {
    const int k = kind(rng);
    const float scale = k < 6 ? 1.0f : k < 8 ? 3e-6f : 4e4f;
    x = dist(rng) * scale;
  }
  return v;
}

TEST(AttnOps, Fp32ToFp16RowMatchesScalarOnRoundingBoundaries) {
  // Every exponent and sign with the 13 dropped mantissa bits just below, at and above the tie,
  // for both parities of the kept bit, plus a stride through all other patterns.
  std::vector<float> x;
  for (uint32_t top = 0; top < (1u << 19); ++top) {
    for (uint32_t low : {0x0000u, 0x0001u, 0x0FFFu, 0x1000u, 0x1001u, 0x1FFFu})
      x.push_back(bits_to_f32((top << 13) | low));
  }
  for (uint64_t b = 0; b < (1ull << 32); b += 40009) x.push_back(bits_to_f32(static_cast<uint32_t>(b)));
  for (float f : edge_floats()) x.push_back(f);
  std::vector<uint16_t> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = ops::fp32_to_fp16(x[i]);
  for (Isa isa : simd_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const auto got = on_isa(isa, [&] {
      std::vector<uint16_t> y(x.size());
      ops::fp32_to_fp16_row(x.data(), y.data(), static_cast<int64_t>(x.size()));
      return y;
    });
    // Narrowing keeps NaN payloads too (the scalar conversion is written as F16C behaves).
    EXPECT_EQ(got, want);
  }
}

TEST(AttnOps, Fp16ToFp32RowMatchesScalarOnAllHalves) {
  std::vector<uint16_t> h(65536 + 13);
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i);
  const auto want = on_isa(Isa::kScalar, [&] {
    std::vector<float> y(h.size());
    ops::fp16_to_fp32_row(h.data(), y.data(), static_cast<int64_t>(h.size()));
    return y;
  });
  for (Isa isa : simd_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const auto got = on_isa(isa, [&] {
      std::vector<float> y(h.size());
      ops::fp16_to_fp32_row(h.data(), y.data(), static_cast<int64_t>(h.size()));
      return y;
    });
    EXPECT_TRUE(same_f32(got, want));
  }
}

TEST(AttnOps, RowConversionsMatchScalarForEveryLength) {
  for (int64_t n : kLengths) {
    SCOPED_TRACE(n);
    const auto x = mixed_floats(n, 10 + static_cast<uint32_t>(n));
    const auto h = to_f16(mixed_floats(n, 20 + static_cast<uint32_t>(n)));
    auto run = [&] {
      // Sentinels after the end catch writes past n.
      std::vector<uint16_t> y(n + 16, 0xABCD);
      std::vector<float> z(n + 16, -7.0f);
      ops::fp32_to_fp16_row(x.data(), y.data(), n);
      ops::fp16_to_fp32_row(h.data(), z.data(), n);
      return std::make_pair(y, z);
    };
    const auto want = on_isa(Isa::kScalar, run);
    for (Isa isa : simd_isas()) {
      SCOPED_TRACE(isa_name(isa));
      const auto got = on_isa(isa, run);
      EXPECT_TRUE(same_f16(got.first, want.first));
      EXPECT_TRUE(same_f32(got.second, want.second));
    }
  }
}

TEST(AttnOps, DotF32F16MatchesScalar) {
  for (int64_t n : kLengths) {
    for (uint32_t seed = 0; seed < 4; ++seed) {
      SCOPED_TRACE(::testing::Message() << "n=" << n << " seed=" << seed);
      // seed 3: magnitudes near the f16 maximum, so that products and sums round differently per order.
      const auto a = seed == 3 ? mixed_floats(n, 100 + seed) : random_floats(n, 100 + seed, 1.0f);
      const auto b = to_f16(seed == 3 ? mixed_floats(n, 200 + seed) : random_floats(n, 200 + seed, 2.0f));
      auto run = [&] { return std::vector<float>{ops::dot_f32_f16(a.data(), b.data(), n)}; };
      const auto want = on_isa(Isa::kScalar, run);
      for (Isa isa : simd_isas()) {
        SCOPED_TRACE(isa_name(isa));
        EXPECT_TRUE(same_f32(on_isa(isa, run), want));
      }
    }
  }
}

TEST(AttnOps, MadAndScaleF16MatchScalar) {
  // Weights that keep values ordinary, push them past 65504 (inf), into the subnormals, or to 0.
  const std::vector<float> weights = {
      0.7310586f, 1.0f, 0.0f, -1.5f, 3.0f, 1e-3f, 2e-7f, 1e5f, std::numeric_limits<float>::infinity(), std::nanf("")};
  for (int64_t n : kLengths) {
    for (size_t wi = 0; wi < weights.size(); ++wi) {
      const float a = weights[wi];
      SCOPED_TRACE(::testing::Message() << "n=" << n << " a=" << a);
      const auto y0 = to_f16(mixed_floats(n, 300 + static_cast<uint32_t>(n)));
      const auto x = to_f16(mixed_floats(n, 400 + static_cast<uint32_t>(n + wi)));
      auto run = [&] {
        std::vector<uint16_t> y = y0, z = y0;
        y.resize(n + 16, 0xABCD);
        z.resize(n + 16, 0xABCD);
        ops::mad_f16(y.data(), x.data(), a, n);
        ops::scale_f16(z.data(), a, n);
        return std::make_pair(y, z);
      };
      const auto want = on_isa(Isa::kScalar, run);
      for (Isa isa : simd_isas()) {
        SCOPED_TRACE(isa_name(isa));
        const auto got = on_isa(isa, run);
        EXPECT_TRUE(same_f16(got.first, want.first));
        EXPECT_TRUE(same_f16(got.second, want.second));
      }
    }
  }
}

TEST(AttnOps, MadF16MatchesScalarOnEdgeValues) {
  // Every pair of edge halves (including inf and NaN) through one mad and one scale.
  std::vector<uint16_t> edges;
  for (float f : edge_floats()) edges.push_back(ops::fp32_to_fp16(f));
  for (uint16_t h : {0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C01, 0x7D00, 0x7E00, 0xFC01}) edges.push_back(h);
  std::vector<uint16_t> x, y;
  for (uint16_t a : edges)
    for (uint16_t b : edges) {
      x.push_back(a);
      y.push_back(b);
    }
  for (float a : {1.0f, -0.5f, 2.0f, 0x1p-10f, 0.0f}) {
    SCOPED_TRACE(a);
    auto run = [&] {
      std::vector<uint16_t> m = y, s = y;
      ops::mad_f16(m.data(), x.data(), a, static_cast<int64_t>(m.size()));
      ops::scale_f16(s.data(), a, static_cast<int64_t>(s.size()));
      return std::make_pair(m, s);
    };
    const auto want = on_isa(Isa::kScalar, run);
    for (Isa isa : simd_isas()) {
      SCOPED_TRACE(isa_name(isa));
      const auto got = on_isa(isa, run);
      EXPECT_TRUE(same_f16(got.first, want.first));
      EXPECT_TRUE(same_f16(got.second, want.second));
    }
  }
}

struct AttendCase {
  int head_dim, n_pos;
  int64_t stride;
  float q_scale, k_scale, v_scale;
  bool rising;  // keys grow with the position: the running max moves often (many rescales)
  float softcap = 0.0f;
};

std::vector<float> attend(const AttendCase& c, uint32_t seed, std::vector<uint16_t>* acc_out) {
  const auto q = random_floats(c.head_dim, seed, c.q_scale);
  std::vector<float> kf = random_floats(c.stride * c.n_pos, seed + 1, c.k_scale);
  if (c.rising)
    for (int p = 0; p < c.n_pos; ++p)
      for (int d = 0; d < c.head_dim; ++d) kf[p * c.stride + d] = q[d] * (0.01f * p) + kf[p * c.stride + d] * 0.01f;
  const auto k = to_f16(kf);
  const auto v = to_f16(mixed_floats(c.stride * c.n_pos, seed + 2));
  std::vector<uint16_t> vs = v;
  for (auto& h : vs) h = ops::fp32_to_fp16(ops::fp16_to_fp32(h) * c.v_scale);
  std::vector<float> out(c.head_dim + 8, -7.0f), q16(c.head_dim);
  std::vector<uint16_t> acc(c.head_dim, 0x1234);
  ops::attend_f16(q.data(), k.data(), vs.data(), c.stride, c.n_pos, c.head_dim, 1.0f / std::sqrt(float(c.head_dim)),
                  c.softcap, out.data(), q16.data(), acc.data());
  *acc_out = acc;
  return out;
}

TEST(AttnOps, AttendF16MatchesScalar) {
  std::vector<AttendCase> cases;
  for (int hd : {64, 128, 80, 96, 8, 5, 67, 256}) {
    for (int n_pos : {1, 2, 7, 8, 9, 63, 64, 65, 130, 300}) {
      cases.push_back({hd, n_pos, hd, 1.0f, 1.0f, 1.0f, false});
      cases.push_back({hd, n_pos, 4 * hd + 3, 3.0f, 2.0f, 1.0f, true});
    }
  }
  // Accumulators near the f16 maximum (sums overflow to inf) and in the subnormals.
  cases.push_back({64, 200, 64, 1.0f, 0.1f, 1.5f, false});
  cases.push_back({64, 200, 64, 1.0f, 0.1f, 1e-3f, false});
  cases.push_back({128, 100, 256, 0.5f, 0.1f, 1e-5f, true});
  // Scores that underflow exp and scores far apart (weights of exactly 0 and 1).
  cases.push_back({64, 90, 64, 30.0f, 10.0f, 1.0f, false});
  cases.push_back({64, 90, 64, 30.0f, 10.0f, 1.0f, true});
  // Soft-capped scores (gemma2): mild, strong (every score near +-c) and on large scores.
  for (float cap : {50.0f, 0.5f, 2.0f})
    for (int n_pos : {1, 9, 65, 130}) cases.push_back({64, n_pos, 64, 3.0f, 2.0f, 1.0f, true, cap});
  cases.push_back({96, 90, 96, 30.0f, 10.0f, 1.0f, false, 5.0f});
  for (size_t i = 0; i < cases.size(); ++i) {
    const AttendCase& c = cases[i];
    SCOPED_TRACE(::testing::Message() << "head_dim=" << c.head_dim << " n_pos=" << c.n_pos << " stride=" << c.stride
                                      << " softcap=" << c.softcap << " case " << i);
    std::vector<uint16_t> acc_want, acc_got;
    const auto want = on_isa(Isa::kScalar, [&] { return attend(c, 1000 + i, &acc_want); });
    for (Isa isa : simd_isas()) {
      SCOPED_TRACE(isa_name(isa));
      const auto got = on_isa(isa, [&] { return attend(c, 1000 + i, &acc_got); });
      EXPECT_TRUE(same_f32(got, want));
      EXPECT_TRUE(same_f16(acc_got, acc_want));
    }
  }
}

// The fused op is the composition of the row ops, as the forward pass used to call them.
TEST(AttnOps, AttendF16IsTheCompositionOfTheRowOps) {
  const int hd = 64, n_pos = 77;
  const auto q = random_floats(hd, 7, 1.0f);
  const auto k = to_f16(random_floats(hd * n_pos, 8, 2.0f));
  const auto v = to_f16(random_floats(hd * n_pos, 9, 1.0f));
  const float scale = 0.125f;
  const auto want = on_isa(Isa::kScalar, [&] {
    std::vector<float> qh(hd), out(hd);
    std::vector<uint16_t> acc(hd, 0);
    for (int d = 0; d < hd; ++d) qh[d] = ops::fp16_to_fp32(ops::fp32_to_fp16(q[d]));
    float M = -std::numeric_limits<float>::infinity(), S = 0.0f;
    for (int p = 0; p < n_pos; ++p) {
      const float s = ops::dot_f32_f16(qh.data(), k.data() + p * hd, hd) * scale;
      float ms = 1.0f, vs = 1.0f;
      if (s > M) {
        const float m_old = M;
        M = s;
        ms = std::exp(m_old - M);
        ops::scale_f16(acc.data(), ms, hd);
      } else {
        vs = std::exp(s - M);
      }
      ops::mad_f16(acc.data(), v.data() + p * hd, vs, hd);
      S = S * ms + vs;
    }
    for (int d = 0; d < hd; ++d) out[d] = ops::fp16_to_fp32(acc[d]) * (1.0f / S);
    return out;
  });
  for (Isa isa : {Isa::kScalar, best_supported_isa()}) {
    SCOPED_TRACE(isa_name(isa));
    const auto got = on_isa(isa, [&] {
      std::vector<float> out(hd), q16(hd);
      std::vector<uint16_t> acc16(hd);
      ops::attend_f16(q.data(), k.data(), v.data(), hd, n_pos, hd, scale, 0.0f, out.data(), q16.data(), acc16.data());
      return out;
    });
    EXPECT_TRUE(same_f32(got, want));
  }
}

// Soft-capping as llama.cpp's flash attention: the score is c * tanhf(dot * (scale / c)), so a
// softmax over capped scores (computed here in double) is what the op returns.
TEST(AttnOps, AttendF16SoftcapIsTheSoftmaxOfCappedScores) {
  const int hd = 32, n_pos = 40;
  const auto q = random_floats(hd, 21, 4.0f);
  const auto k = to_f16(random_floats(hd * n_pos, 22, 4.0f));
  const auto v = to_f16(random_floats(hd * n_pos, 23, 1.0f));
  const float scale = 0.25f, cap = 1.5f;
  std::vector<float> qh(hd);
  for (int d = 0; d < hd; ++d) qh[d] = ops::fp16_to_fp32(ops::fp32_to_fp16(q[d]));
  std::vector<double> w(n_pos), want(hd, 0.0);
  double mx = -1e30, sum = 0;
  for (int p = 0; p < n_pos; ++p) {
    double dot = 0;
    for (int d = 0; d < hd; ++d) dot += double(qh[d]) * ops::fp16_to_fp32(k[p * hd + d]);
    w[p] = cap * std::tanh(dot * scale / cap);
    EXPECT_LE(std::abs(w[p]), cap);
    mx = std::max(mx, w[p]);
  }
  for (int p = 0; p < n_pos; ++p) sum += (w[p] = std::exp(w[p] - mx));
  for (int p = 0; p < n_pos; ++p)
    for (int d = 0; d < hd; ++d) want[d] += w[p] / sum * ops::fp16_to_fp32(v[p * hd + d]);
  for (Isa isa : {Isa::kScalar, best_supported_isa()}) {
    SCOPED_TRACE(isa_name(isa));
    const auto got = on_isa(isa, [&] {
      std::vector<float> out(hd), q16(hd);
      std::vector<uint16_t> acc16(hd);
      ops::attend_f16(q.data(), k.data(), v.data(), hd, n_pos, hd, scale, cap, out.data(), q16.data(), acc16.data());
      return out;
    });
    for (int d = 0; d < hd; ++d) EXPECT_NEAR(got[d], want[d], 2e-3) << d;  // f16 accumulators
  }
}

// GELU as ggml's table: the tanh approximation at the input rounded to f16, rounded to f16; 0 at
// or below -10, the identity at or above 10; gelu_mul multiplies by u after the rounding.
TEST(Ops, GeluIsGgmlsF16Table) {
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.01953125f) x.push_back(v);
  for (float v : {-10.0f, 10.0f, 0.0f, -0.0f, 1e-6f, -1e-6f, 3.14159f, 65504.0f, -65504.0f}) x.push_back(v);
  std::vector<float> y(x.size()), ym(x.size()), u(x.size(), 0.75f);
  ops::gelu(x.data(), y.data(), static_cast<int64_t>(x.size()));
  ops::gelu_mul(x.data(), u.data(), ym.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    float want;
    if (x[i] <= -10.0f) {
      want = 0.0f;
    } else if (x[i] >= 10.0f) {
      want = x[i];
    } else {
      const float h = ops::fp16_to_fp32(ops::fp32_to_fp16(x[i]));
      want = ops::fp16_to_fp32(
          ops::fp32_to_fp16(0.5f * h * (1.0f + std::tanh(0.7978845608f * h * (1.0f + 0.044715f * h * h)))));
    }
    EXPECT_EQ(y[i], want) << x[i];
    EXPECT_EQ(ym[i], want * 0.75f) << x[i];
  }
}

}  // namespace
}  // namespace llmchain::kernels
