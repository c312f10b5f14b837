#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "unit/kernels/test_util.h"

namespace llmchain::kernels {
namespace {

using testing::normalized_error;
using testing::random_vector;

TEST(Fp16, KnownValuesRoundToNearestEven) {
  EXPECT_EQ(f32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_fp16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7C00);  // rounds up to infinity
  EXPECT_EQ(f32_to_fp16(0x1.0p-24f), 0x0001);
  EXPECT_EQ(f32_to_fp16(0x1.0p-26f), 0x0000);
  EXPECT_EQ(f32_to_fp16(1.0f + 0x1.0p-11f), 0x3C00);      // tie -> even
  EXPECT_EQ(f32_to_fp16(1.0f + 3 * 0x1.0p-11f), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(f32_to_fp16(INFINITY), 0x7C00);
  EXPECT_EQ(f32_to_fp16(NAN) & 0x7C00, 0x7C00);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;  // NaN payloads
    ASSERT_EQ(f32_to_fp16(fp16_to_f32(static_cast<uint16_t>(h))), h) << h;
  }
  EXPECT_FLOAT_EQ(fp16_to_f32(0x0001), 0x1.0p-24f);
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3F808000)), 0x3F80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3F818000)), 0x3F82);
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3F808001)), 0x3F81);
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
}

// Q8_0 bytes follow ggml's published formula: d = amax/127 (fp16), q = round(x/d).
TEST(Layout, Q8_0MatchesFormula) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = (j - 16) * 0.25f;  // amax = 4 at j = 0
  std::vector<uint8_t> q(ggml_row_bytes(GgmlType::Q8_0, 32));
  ASSERT_EQ(q.size(), 34u);
  quantize_row(GgmlType::Q8_0, x.data(), q.data(), 32);
  const uint16_t d = f32_to_fp16(4.0f / 127);
  EXPECT_EQ(q[0], d & 0xFF);
  EXPECT_EQ(q[1], d >> 8);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(static_cast<int8_t>(q[2 + j]), std::lround(x[j] * 127 / 4.0f)) << j;
  EXPECT_EQ(static_cast<int8_t>(q[2]), -127);
}

// Q4_0: d = max/-8 where max is the signed value of largest magnitude; nibble j low / j+16 high.
TEST(Layout, Q4_0MatchesFormula) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = (j - 8) * 0.5f;  // max = 11.5 at j = 31
  std::vector<uint8_t> q(ggml_row_bytes(GgmlType::Q4_0, 32));
  ASSERT_EQ(q.size(), 18u);
  quantize_row(GgmlType::Q4_0, x.data(), q.data(), 32);
  EXPECT_EQ(q[0], 0xC0);  // fp16(-1.4375) = 0xBDC0, little endian
  EXPECT_EQ(q[1], 0xBD);
  EXPECT_EQ(q[2], 0x5B);  // x[0] = -4 -> 11, x[16] = 4 -> 5
  const float id = 1.0f / -1.4375f;
  for (int j = 0; j < 16; ++j) {
    const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
    const int hi = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
    EXPECT_EQ(q[2 + j], lo | (hi << 4)) << j;
  }
  EXPECT_EQ(q[2 + 15] >> 4, 0);  // x[31] = max -> quant 0
}

TEST(Layout, Q8_KBlockSums) {
  auto x = random_vector(256, 7);
  BlockQ8K b;
  quantize_row(GgmlType::Q8_K, x.data(), &b, 256);
  for (int j = 0; j < 16; ++j) {
    int s = 0;
    for (int l = 0; l < 16; ++l) s += b.qs[16 * j + l];
    EXPECT_EQ(b.bsums[j], s);
  }
  int amax = 0;
  for (int8_t v : b.qs) amax = std::max(amax, std::abs(int(v)));
  EXPECT_EQ(amax, 127);
}

TEST(Layout, Q6_KZeroBlockIsAllZero) {
  std::vector<float> x(256, 0.0f);
  std::vector<uint8_t> q(210, 0xAB);
  quantize_row(GgmlType::Q6_K, x.data(), q.data(), 256);
  for (uint8_t b : q) EXPECT_EQ(b, 0);
}

struct RoundTripCase {
  GgmlType type;
  double max_error;  // normalized RMS error bound on N(0,1) data
};

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTrip, ErrorWithinTypeBound) {
  const auto [type, bound] = GetParam();
  const int64_t n = 4096;
  auto x = random_vector(n, 42);
  std::vector<uint8_t> q(ggml_row_bytes(type, n));
  std::vector<float> y(n);
  ASSERT_TRUE(can_quantize(type));
  quantize_row(type, x.data(), q.data(), n);
  dequantize_row(type, q.data(), y.data(), n);
  const double err = normalized_error(y, x);
  EXPECT_LT(err, bound) << ggml_type_name(uint32_t(type));
  EXPECT_GT(err, bound / 20) << "suspiciously exact for " << ggml_type_name(uint32_t(type));
  // Deterministic: quantizing the same data twice gives the same bytes.
  std::vector<uint8_t> q2(q.size());
  quantize_row(type, x.data(), q2.data(), n);
  EXPECT_EQ(q, q2);
}

// Bounds: about 1.3x the measured error of ggml's reference quantizers on Gaussian data.
INSTANTIATE_TEST_SUITE_P(AllTypes, RoundTrip,
                         ::testing::Values(RoundTripCase{GgmlType::F16, 4e-4}, RoundTripCase{GgmlType::BF16, 3e-3},
                                           RoundTripCase{GgmlType::Q8_0, 0.01}, RoundTripCase{GgmlType::Q8_1, 0.01},
                                           RoundTripCase{GgmlType::Q8_K, 0.01}, RoundTripCase{GgmlType::Q4_0, 0.14},
                                           RoundTripCase{GgmlType::Q4_1, 0.12}, RoundTripCase{GgmlType::Q5_0, 0.07},
                                           RoundTripCase{GgmlType::Q5_1, 0.06}, RoundTripCase{GgmlType::Q4_K, 0.11},
                                           RoundTripCase{GgmlType::Q5_K, 0.055}, RoundTripCase{GgmlType::Q6_K, 0.03}),
                         [](const auto& info) { return std::string(ggml_type_name(uint32_t(info.param.type))); });

TEST(Quantize, UnsupportedTypes) {
  EXPECT_FALSE(can_quantize(GgmlType::Q2_K));
  EXPECT_FALSE(can_quantize(GgmlType::IQ4_NL));
  EXPECT_TRUE(can_quantize(GgmlType::Q6_K));
  EXPECT_FALSE(can_matmul(GgmlType::Q8_K));
  EXPECT_TRUE(can_matmul(GgmlType::Q5_1));
}

}  // namespace
}  // namespace llmchain::kernels
