// Q2_K, Q3_K, IQ4_NL and IQ4_XS (kernels/quant_low_bit.cpp): dequantization bit-identical to
// llama.cpp's (goldens from tests/tools/lowbit_golden.c, which runs llama.cpp's ggml-quants.c on
// the same pseudo-random blocks), the layouts by their published formulas, and the scalar dot
// products and the matmul driver against the dequantized values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "unit/kernels/test_util.h"

namespace llmchain::kernels {
namespace {

// The block generator of tests/tools/lowbit_golden.c, call for call.
class Blocks {
 public:
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  void fill(void* p, size_t n) {
    auto* b = static_cast<uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(next());
  }
  uint16_t half() {
    const auto mag = static_cast<uint16_t>(0x2000 + next() % 0x2800);
    const auto sign = static_cast<uint16_t>((next() & 1) << 15);
    return mag | sign;
  }

 private:
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
};

const char* name(GgmlType t) { return ggml_type_name(static_cast<uint32_t>(t)); }

uint64_t fnv(const std::vector<float>& y) {
  uint64_t h = 1469598103934665603ull;
  for (float f : y) {
    uint8_t b[4];
    std::memcpy(b, &f, 4);
    for (uint8_t c : b) {
      h ^= c;
      h *= 1099511628211ull;
    }
  }
  return h;
}

constexpr int kNB = 64;  // super-blocks of 256 per golden
constexpr int64_t kN = kNB * 256;

// The four golden inputs, generated in the harness's order (one stream for all four).
struct GoldenInputs {
  std::vector<BlockQ2K> q2 = std::vector<BlockQ2K>(kNB);
  std::vector<BlockQ3K> q3 = std::vector<BlockQ3K>(kNB);
  std::vector<BlockIQ4NL> nl = std::vector<BlockIQ4NL>(kNB * 8);
  std::vector<BlockIQ4XS> xs = std::vector<BlockIQ4XS>(kNB);
  GoldenInputs() {
    Blocks g;
    g.fill(q2.data(), q2.size() * sizeof(BlockQ2K));
    for (auto& b : q2) {
      b.d = g.half();
      b.dmin = g.half();
    }
    g.fill(q3.data(), q3.size() * sizeof(BlockQ3K));
    for (auto& b : q3) b.d = g.half();
    g.fill(nl.data(), nl.size() * sizeof(BlockIQ4NL));
    for (auto& b : nl) b.d = g.half();
    g.fill(xs.data(), xs.size() * sizeof(BlockIQ4XS));
    for (auto& b : xs) b.d = g.half();
  }
  const void* data(GgmlType t) const {
    switch (t) {
      case GgmlType::Q2_K: return q2.data();
      case GgmlType::Q3_K: return q3.data();
      case GgmlType::IQ4_NL: return nl.data();
      default: return xs.data();
    }
  }
};

const GoldenInputs& inputs() {
  static const GoldenInputs in;
  return in;
}

std::vector<float> dequantized(GgmlType t, const void* src, int64_t n) {
  std::vector<float> y(n);
  dequantize_row(t, src, y.data(), n);
  return y;
}

const GgmlType kTypes[] = {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS};

TEST(LowBitTypes, DequantizationIsBitIdenticalToLlamaCpp) {
  // tests/tools/lowbit_golden.c on llama.cpp 80fb11a: hash, first value, last value.
  struct Golden {
    GgmlType type;
    uint64_t hash;
    float first, last;
  };
  const Golden golden[] = {
      {GgmlType::Q2_K, 0xf1205614e3db6ce1ull, -0.172195435f, -6.11645508f},
      {GgmlType::Q3_K, 0x048ed768d610950full, -23.8867188f, -0.0f},
      {GgmlType::IQ4_NL, 0xd0370ced00d4cc1aull, 1.3104248f, 32.4492188f},
      {GgmlType::IQ4_XS, 0x5f858881bc117ecaull, 21.0662842f, 62.9730835f},
  };
  for (const auto& g : golden) {
    auto y = dequantized(g.type, inputs().data(g.type), kN);
    EXPECT_EQ(y.front(), g.first) << name(g.type);
    EXPECT_EQ(y.back(), g.last) << name(g.type);
    EXPECT_EQ(fnv(y), g.hash) << name(g.type);
  }
}

TEST(LowBitTypes, Q2KFollowsItsFormula) {
  // x = d * (scale & 15) * q - dmin * (scale >> 4); element e: 128-element half h = e / 128,
  // 2-bit plane p = (e % 128) / 32, byte l = e % 32, scale (h * 8 + p * 2 + l / 16).
  BlockQ2K b{};
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.25f);
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>((j % 16) | ((15 - j) << 4));
  for (int i = 0; i < 64; ++i) b.qs[i] = static_cast<uint8_t>(i * 37 + 11);
  auto y = dequantized(GgmlType::Q2_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, p = (e % 128) / 32, l = e % 32;
    const int q = (b.qs[h * 32 + l] >> (2 * p)) & 3;
    const int s = h * 8 + p * 2 + l / 16;
    EXPECT_FLOAT_EQ(y[e], 0.5f * (b.scales[s] & 15) * q - 0.25f * (b.scales[s] >> 4)) << e;
  }
}

TEST(LowBitTypes, IQ4XSFollowsItsFormula) {
  // x = d * (scale - 32) * grid[nibble]; sub-block ib's 6-bit scale: low 4 bits from
  // scales_l (nibble ib % 2 of byte ib / 2), high 2 bits from scales_h bits 2 ib.
  BlockIQ4XS b{};
  b.d = f32_to_fp16(0.125f);
  b.scales_h = 0xE4B1;
  for (int i = 0; i < 4; ++i) b.scales_l[i] = static_cast<uint8_t>(0x5A + 17 * i);
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>(i * 29 + 3);
  auto y = dequantized(GgmlType::IQ4_XS, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const int ib = e / 32, j = e % 32;
    const int ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (((b.scales_h >> (2 * ib)) & 3) << 4);
    const uint8_t byte = b.qs[ib * 16 + j % 16];
    const int nib = j < 16 ? byte & 15 : byte >> 4;
    EXPECT_FLOAT_EQ(y[e], 0.125f * (ls - 32) * kIq4nlValues[nib]) << e;
  }
}

// The dot of a weight row with an activation row, exactly, from the dequantized values.
double reference_dot(GgmlType wt, const void* w, const std::vector<float>& x, int64_t n) {
  const TypeTraits* tt = type_traits(wt);
  std::vector<uint8_t> act(ggml_row_bytes(tt->act_type, n));
  quantize_row(tt->act_type, x.data(), act.data(), n);
  auto a = dequantized(tt->act_type, act.data(), n);
  auto wv = dequantized(wt, w, n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(wv[i]) * a[i];
  return s;
}

TEST(LowBitTypes, ScalarDotsAgreeWithTheDequantizedValues) {
  for (GgmlType t : kTypes) {
    const TypeTraits* tt = type_traits(t);
    ASSERT_NE(tt, nullptr) << name(t);
    ASSERT_NE(tt->vec_dot, nullptr) << name(t);
    auto x = testing::random_vector(kN, 7);
    std::vector<uint8_t> act(ggml_row_bytes(tt->act_type, kN));
    quantize_row(tt->act_type, x.data(), act.data(), kN);
    const double want = reference_dot(t, inputs().data(t), x, kN);
    const double got = tt->vec_dot(kN, inputs().data(t), act.data());
    EXPECT_NEAR(got, want, 1e-5 * std::fabs(want) + 1e-3) << name(t);
  }
}

TEST(LowBitTypes, MatmulRunsThemThroughTheDriver) {
  ThreadPool pool(2);
  constexpr int64_t K = 1024, N = kN / K, T = 3;  // the golden blocks as 16 rows of 1024
  for (GgmlType t : kTypes) {
    ASSERT_TRUE(can_matmul(t)) << name(t);
    const auto* w = static_cast<const uint8_t*>(inputs().data(t));
    const size_t row_bytes = ggml_row_bytes(t, K);
    auto x = testing::random_vector(K * T, 11);
    std::vector<float> y(N * T);
    matmul(t, w, N, K, x.data(), T, y.data(), N, pool);
    std::vector<float> want(N * T);
    for (int64_t tok = 0; tok < T; ++tok) {
      std::vector<float> xt(x.begin() + tok * K, x.begin() + (tok + 1) * K);
      for (int64_t n = 0; n < N; ++n) {
        want[tok * N + n] = static_cast<float>(reference_dot(t, w + n * row_bytes, xt, K));
      }
    }
    EXPECT_LT(testing::normalized_error(y, want), 1e-5) << name(t);
  }
}

// The SIMD kernels (IQ4_XS on AVX2 and AVX-512 machines) against the scalar path.
TEST(LowBitTypes, EveryIsaMatchesTheScalarPath) {
  ThreadPool pool(2);
  constexpr int64_t K = 1024, N = kN / K;
  for (GgmlType t : kTypes) {
    const auto* w = inputs().data(t);
    for (int64_t T : {1, 4, 7}) {
      auto x = testing::random_vector(K * T, 13 + T);
      auto run = [&](Isa isa) {
        set_isa_for_testing(isa);
        std::vector<float> y(N * T);
        matmul(t, w, N, K, x.data(), T, y.data(), N, pool);
        set_isa_for_testing(best_supported_isa());
        return y;
      };
      const auto scalar = run(Isa::kScalar);
      for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
        if (isa > best_supported_isa()) continue;
        EXPECT_LT(testing::normalized_error(run(isa), scalar), 2e-6) << name(t) << " " << isa_name(isa) << " T=" << T;
      }
    }
  }
}

TEST(LowBitTypes, LoadableButNotWritable) {
  for (GgmlType t : kTypes) {
    EXPECT_TRUE(ggml_type_info(static_cast<uint32_t>(t))->compute_supported) << name(t);
    EXPECT_FALSE(can_quantize(t)) << name(t);
  }
}

}  // namespace
}  // namespace llmchain::kernels
