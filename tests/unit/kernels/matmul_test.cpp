#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/kernels.h"
#include "unit/kernels/test_util.h"

namespace llmchain::kernels {
namespace {

using testing::matmul_types;
using testing::normalized_error;
using testing::random_vector;

struct Problem {
  GgmlType type;
  int64_t N, K, T;
  std::vector<uint8_t> W;
  std::vector<float> X;
};

Problem make_problem(GgmlType type, int64_t N, int64_t K, int64_t T, uint32_t seed) {
  Problem p{type, N, K, T, {}, {}};
  auto w = random_vector(N * K, seed);
  p.W.resize(ggml_row_bytes(type, K) * N);
  for (int64_t r = 0; r < N; ++r) quantize_row(type, w.data() + r * K, p.W.data() + r * ggml_row_bytes(type, K), K);
  p.X = random_vector(T * K, seed + 1);
  return p;
}

std::vector<float> run(const Problem& p, Isa isa, ThreadPool& pool, int64_t ldy_extra = 0) {
  set_isa_for_testing(isa);
  const int64_t ldy = p.N + ldy_extra;
  std::vector<float> y(p.T * ldy, -1.0f);
  matmul(p.type, p.W.data(), p.N, p.K, p.X.data(), p.T, y.data(), ldy, pool);
  set_isa_for_testing(best_supported_isa());
  std::vector<float> out;
  for (int64_t t = 0; t < p.T; ++t)
    for (int64_t r = 0; r < p.N; ++r) out.push_back(y[t * ldy + r]);
  return out;
}

std::vector<float> reference(const Problem& p) {
  std::vector<float> y(p.T * p.N);
  matmul_reference(p.type, p.W.data(), p.N, p.K, p.X.data(), p.T, y.data(), p.N);
  return y;
}

// Error from quantizing the activations (the reference uses float activations).
double activation_tolerance(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 1e-6;
    case GgmlType::F16: return 1e-3;
    case GgmlType::BF16: return 6e-3;
    default: return 0.02;
  }
}

std::vector<Isa> isas() {
  std::vector<Isa> v = {Isa::kScalar};
  if (best_supported_isa() >= Isa::kAvx2) v.push_back(Isa::kAvx2);
  if (best_supported_isa() >= Isa::kAvx512) v.push_back(Isa::kAvx512);
  return v;
}

class MatmulAllTypes : public ::testing::TestWithParam<GgmlType> {};

// Every ISA vs the double-precision reference, T = 1 and T > 1, odd N, padded ldy.
TEST_P(MatmulAllTypes, EveryIsaMatchesReference) {
  ThreadPool pool(2);
  for (int64_t T : {1, 3, 9}) {
    const Problem p = make_problem(GetParam(), 37, 512, T, 100 + T);
    const auto ref = reference(p);
    for (Isa isa : isas()) {
      const auto y = run(p, isa, pool, 3);
      EXPECT_LT(normalized_error(y, ref), activation_tolerance(p.type))
          << isa_name(isa) << " T=" << T << " " << ggml_type_name(uint32_t(p.type));
    }
  }
}

// SIMD paths quantize activations exactly like the scalar path: only summation order differs.
TEST_P(MatmulAllTypes, SimdMatchesScalarPath) {
  ThreadPool pool(2);
  for (int64_t T : {1, 2, 4, 5, 13}) {
    const Problem p = make_problem(GetParam(), 45, 768, T, 200 + T);
    const auto scalar = run(p, Isa::kScalar, pool);
    for (Isa isa : isas()) {
      if (isa == Isa::kScalar) continue;
      const auto y = run(p, isa, pool);
      EXPECT_LT(normalized_error(y, scalar), 2e-5)
          << isa_name(isa) << " T=" << T << " " << ggml_type_name(uint32_t(p.type));
    }
  }
}

// The 32-element block types: the scalar path quantizes activations and sums in the AVX2 kernels'
// way (matmul.cpp), so the two are bit-identical and a CPU without AVX2 (and the reference
// backend) gives llama.cpp's x86 results.
TEST(Matmul, ScalarLegacyTypesEqualAvx2BitForBit) {
  if (best_supported_isa() < Isa::kAvx2) GTEST_SKIP() << "no AVX2";
  ThreadPool pool(2);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0}) {
    for (int64_t T : {1, 3, 6}) {
      Problem p = make_problem(t, 21, 32 * 19, T, 400 + T);
      EXPECT_EQ(run(p, Isa::kScalar, pool), run(p, Isa::kAvx2, pool)) << ggml_type_name(uint32_t(t)) << " T=" << T;
      // Activations on rounding ties (block maximum 127: x * 127 / max = x): ggml's x86
      // quantizer rounds halves to even, its _ref variant away from zero.
      for (size_t i = 0; i < p.X.size(); ++i) p.X[i] = i % 32 == 0 ? 127.0f : static_cast<float>(i % 61) - 30.5f;
      EXPECT_EQ(run(p, Isa::kScalar, pool), run(p, Isa::kAvx2, pool)) << ggml_type_name(uint32_t(t)) << " ties";
    }
  }
}

TEST_P(MatmulAllTypes, ThreadCountDoesNotChangeResult) {
  const Problem p = make_problem(GetParam(), 67, 256, 6, 300);
  ThreadPool one(1), three(3);
  EXPECT_EQ(run(p, best_supported_isa(), one), run(p, best_supported_isa(), three));
}

INSTANTIATE_TEST_SUITE_P(Types, MatmulAllTypes, ::testing::ValuesIn(matmul_types()),
                         [](const auto& info) { return std::string(ggml_type_name(uint32_t(info.param))); });

TEST(Matmul, LargeTokenBlockMatchesReference) {
  ThreadPool pool(2);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16}) {
    const Problem p = make_problem(t, 130, 2048, 70, 400);
    EXPECT_LT(normalized_error(run(p, best_supported_isa(), pool), reference(p)), activation_tolerance(t))
        << ggml_type_name(uint32_t(t));
  }
}

// K above the float kernels' chunk size (1024) and not a multiple of it: partial sums over chunks.
TEST(Matmul, FloatTypesChunkedKMatchScalarPath) {
  ThreadPool pool(2);
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    const Problem p = make_problem(t, 9, 2560, 6, 500);
    const auto scalar = run(p, Isa::kScalar, pool);
    EXPECT_LT(normalized_error(run(p, best_supported_isa(), pool, 1), scalar), 2e-5) << ggml_type_name(uint32_t(t));
    EXPECT_LT(normalized_error(scalar, reference(p)), activation_tolerance(t)) << ggml_type_name(uint32_t(t));
  }
}

TEST(Matmul, UnsupportedTypeThrows) {
  ThreadPool pool(1);
  std::vector<float> x(256), y(4);
  std::vector<uint8_t> w(1024);
  EXPECT_THROW(matmul(GgmlType::IQ2_XXS, w.data(), 1, 256, x.data(), 1, y.data(), 1, pool), Error);
}

TEST(Isa, SetForTestingClampsToCpu) {
  set_isa_for_testing(Isa::kAvx512);
  EXPECT_LE(static_cast<int>(active_isa()), static_cast<int>(best_supported_isa()));
  set_isa_for_testing(Isa::kScalar);
  EXPECT_EQ(active_isa(), Isa::kScalar);
  set_isa_for_testing(best_supported_isa());
  EXPECT_STREQ(isa_name(Isa::kAvx2), "avx2");
}

}  // namespace
}  // namespace llmchain::kernels
