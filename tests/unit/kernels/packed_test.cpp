#include "kernels/packed.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "base/error.h"
#include "kernels/kernels.h"
#include "unit/kernels/test_util.h"

namespace llmchain::kernels {
namespace {

using testing::normalized_error;
using testing::random_vector;

struct Case {
  GgmlType type;
  int64_t N, K, T;
};

std::vector<uint8_t> quantize_matrix(GgmlType type, const std::vector<float>& w, int64_t N, int64_t K) {
  std::vector<uint8_t> out(ggml_row_bytes(type, K) * N);
  for (int64_t r = 0; r < N; ++r) quantize_row(type, w.data() + r * K, out.data() + r * ggml_row_bytes(type, K), K);
  return out;
}

std::vector<float> run_packed(const PackedWeights& pw, const std::vector<float>& X, int64_t T, int64_t ldy, Isa isa,
                              ThreadPool& pool) {
  set_isa_for_testing(isa);
  std::vector<float> y(T * ldy, -7.0f);
  const PackedProduct p{&pw, y.data(), ldy};
  matmul_packed(&p, 1, X.data(), T, pool);
  set_isa_for_testing(best_supported_isa());
  return y;
}

class PackedMatmul : public ::testing::TestWithParam<Case> {};

TEST_P(PackedMatmul, MatchesReferenceOnEveryPath) {
  const Case c = GetParam();
  const auto w = random_vector(c.N * c.K, 11);
  const auto W = quantize_matrix(c.type, w, c.N, c.K);
  const auto X = random_vector(c.T * c.K, 12);
  auto pw = PackedWeights::pack(c.type, W.data(), c.N, c.K);
  ASSERT_EQ(pw->groups(), (c.N + kPackRows - 1) / kPackRows);

  // The layout holds exactly the original values.
  std::vector<float> row(c.K);
  for (int64_t r : {int64_t{0}, c.N / 2, c.N - 1}) {
    dequantize_row(c.type, W.data() + r * ggml_row_bytes(c.type, c.K), row.data(), c.K);
    for (int64_t k = 0; k < c.K; ++k) ASSERT_EQ(pw->at(r, k), row[k]) << "row " << r << " col " << k;
  }

  std::vector<float> ref(c.T * c.N);
  matmul_reference(c.type, W.data(), c.N, c.K, X.data(), c.T, ref.data(), c.N);
  const int64_t ldy = c.N + 3;  // a row stride wider than N: nothing past N may be written
  ThreadPool pool(2);
  for (Isa isa : {Isa::kScalar, best_supported_isa()}) {
    const auto y = run_packed(*pw, X, c.T, ldy, isa, pool);
    std::vector<float> got;
    for (int64_t t = 0; t < c.T; ++t) {
      for (int64_t r = 0; r < c.N; ++r) got.push_back(y[t * ldy + r]);
      for (int64_t r = c.N; r < ldy; ++r) ASSERT_EQ(y[t * ldy + r], -7.0f) << "wrote past N";
    }
    EXPECT_LT(normalized_error(got, ref), 0.02) << isa_name(isa);
    // Same activation quantization and block arithmetic as the unpacked kernel of the same ISA:
    // only the order of the float sums differs.
    set_isa_for_testing(isa);
    std::vector<float> unpacked(c.T * c.N);
    matmul(c.type, W.data(), c.N, c.K, X.data(), c.T, unpacked.data(), c.N, pool);
    set_isa_for_testing(best_supported_isa());
    EXPECT_LT(normalized_error(got, unpacked), 1e-5) << isa_name(isa);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PackedMatmul,
                         ::testing::Values(Case{GgmlType::Q4_0, 16, 64, 1}, Case{GgmlType::Q4_0, 37, 128, 3},
                                           Case{GgmlType::Q4_0, 64, 256, 9}, Case{GgmlType::Q4_0, 100, 512, 17},
                                           Case{GgmlType::Q5_0, 16, 64, 1}, Case{GgmlType::Q5_0, 37, 128, 3},
                                           Case{GgmlType::Q5_0, 64, 256, 9}, Case{GgmlType::Q5_0, 100, 512, 17},
                                           Case{GgmlType::Q8_0, 16, 64, 1}, Case{GgmlType::Q8_0, 37, 128, 8},
                                           Case{GgmlType::Q8_0, 64, 256, 9}, Case{GgmlType::Q8_0, 100, 512, 20},
                                           Case{GgmlType::Q4_K, 16, 256, 1}, Case{GgmlType::Q4_K, 37, 512, 3},
                                           Case{GgmlType::Q4_K, 64, 256, 9}, Case{GgmlType::Q4_K, 40, 768, 13},
                                           Case{GgmlType::Q5_K, 16, 256, 1}, Case{GgmlType::Q5_K, 37, 512, 3},
                                           Case{GgmlType::Q5_K, 64, 256, 9}, Case{GgmlType::Q5_K, 40, 768, 13},
                                           Case{GgmlType::Q6_K, 16, 256, 1}, Case{GgmlType::Q6_K, 37, 512, 3},
                                           Case{GgmlType::Q6_K, 64, 256, 9}, Case{GgmlType::Q6_K, 40, 768, 13}));

TEST(PackedMatmulFused, SeveralProductsInOnePass) {
  const int64_t K = 256, T = 5;
  const auto X = random_vector(T * K, 3);
  struct M {
    GgmlType type;
    int64_t N;
    std::vector<uint8_t> W;
    std::unique_ptr<PackedWeights> pw;
    std::vector<float> y, ref;
  };
  std::vector<M> ms;
  ms.push_back({GgmlType::Q4_0, 48, {}, nullptr, {}, {}});
  ms.push_back({GgmlType::Q8_0, 21, {}, nullptr, {}, {}});
  ms.push_back({GgmlType::Q4_0, 16, {}, nullptr, {}, {}});
  std::vector<PackedProduct> ps;
  for (auto& m : ms) {
    m.W = quantize_matrix(m.type, random_vector(m.N * K, static_cast<uint32_t>(m.N)), m.N, K);
    m.pw = PackedWeights::pack(m.type, m.W.data(), m.N, K);
    m.y.assign(T * m.N, 0.0f);
    m.ref.assign(T * m.N, 0.0f);
    matmul_reference(m.type, m.W.data(), m.N, K, X.data(), T, m.ref.data(), m.N);
    ps.push_back({m.pw.get(), m.y.data(), m.N});
  }
  ThreadPool pool(2);
  matmul_packed(ps.data(), static_cast<int>(ps.size()), X.data(), T, pool);
  for (auto& m : ms) EXPECT_LT(normalized_error(m.y, m.ref), 0.02);
}

TEST(PackedWeightsTest, RejectsUnsupportedTypesAndShapes) {
  EXPECT_FALSE(PackedWeights::supported(GgmlType::Q5_1, 16, 256));
  EXPECT_FALSE(PackedWeights::supported(GgmlType::Q5_K, 16, 128));  // K must be a multiple of 256
  EXPECT_FALSE(PackedWeights::supported(GgmlType::Q4_K, 16, 128));  // K must be a multiple of 256
  EXPECT_FALSE(PackedWeights::supported(GgmlType::Q4_0, 16, 32));   // K must be a multiple of 64
  EXPECT_TRUE(PackedWeights::supported(GgmlType::Q8_0, 1, 64));
  std::vector<uint8_t> w(ggml_row_bytes(GgmlType::Q5_1, 256) * 16);
  EXPECT_THROW(PackedWeights::pack(GgmlType::Q5_1, w.data(), 16, 256), Error);
}

// A rows view (one expert of a mixture packed as one tensor) computes exactly those rows of the
// whole matrix's product; views off the groups are refused.
TEST(PackedWeightsTest, RowsViewIsThoseRowsOfTheWhole) {
  ThreadPool pool(2);
  for (GgmlType type :
       {GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    SCOPED_TRACE(ggml_type_name(static_cast<uint32_t>(type)));
    const int64_t N = 64, K = 256, T = 3;
    const auto W = quantize_matrix(type, random_vector(N * K, 11), N, K);
    const auto X = random_vector(T * K, 12);
    auto whole = PackedWeights::pack(type, W.data(), N, K);
    const auto all = run_packed(*whole, X, T, N, best_supported_isa(), pool);
    for (int64_t first : {0, 16, 48}) {
      const int64_t n = first == 48 ? 16 : 32;
      auto view = PackedWeights::rows_view(*whole, first, n);
      EXPECT_EQ(view->rows(), n);
      const auto part = run_packed(*view, X, T, n, best_supported_isa(), pool);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t r = 0; r < n; ++r) EXPECT_EQ(part[t * n + r], all[t * N + first + r]) << t << " " << r;
    }
    EXPECT_THROW(PackedWeights::rows_view(*whole, 8, 16), Error);
    EXPECT_THROW(PackedWeights::rows_view(*whole, 48, 32), Error);
  }
}

// IQ4_NL is packed as the Q8_0 it exactly is (quants = grid values): same dequantized values,
// same products as its unpacked kernel (both on Q8_0 activations).
TEST(PackedWeightsTest, Iq4NlIsPackedAsExactQ8_0) {
  const int64_t N = 40, K = 256, T = 3;
  std::vector<uint8_t> W(ggml_row_bytes(GgmlType::IQ4_NL, K) * N);
  uint32_t s = 12345;
  for (auto& b : W) b = static_cast<uint8_t>((s = s * 1664525u + 1013904223u) >> 24);
  const size_t blk = ggml_row_bytes(GgmlType::IQ4_NL, 32);
  for (size_t o = 0; o < W.size(); o += blk) {  // finite scales around 1/64
    const uint16_t d = static_cast<uint16_t>(0x2000 + (W[o] & 0x3F));
    std::memcpy(&W[o], &d, 2);
  }
  auto pw = PackedWeights::pack(GgmlType::IQ4_NL, W.data(), N, K);
  EXPECT_EQ(pw->type(), GgmlType::Q8_0);
  std::vector<float> row(K);
  for (int64_t r : {int64_t{0}, int64_t{17}, N - 1}) {
    dequantize_row(GgmlType::IQ4_NL, W.data() + r * ggml_row_bytes(GgmlType::IQ4_NL, K), row.data(), K);
    for (int64_t k = 0; k < K; ++k) ASSERT_EQ(pw->at(r, k), row[k]) << r << " " << k;
  }
  const auto X = random_vector(T * K, 5);
  ThreadPool pool(2);
  std::vector<float> unpacked(T * N);
  matmul(GgmlType::IQ4_NL, W.data(), N, K, X.data(), T, unpacked.data(), N, pool);
  for (Isa isa : {Isa::kScalar, best_supported_isa()}) {
    const auto y = run_packed(*pw, X, T, N, isa, pool);
    EXPECT_LT(normalized_error(y, unpacked), 1e-5) << isa_name(isa);
  }
}

}  // namespace
}  // namespace llmchain::kernels
