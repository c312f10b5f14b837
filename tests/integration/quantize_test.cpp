// File-level quantization (llmchain quantize): every target type on the shared
// stories260K model (F32, rows of 64/172: K-quants fall back to legacy types),
// round-trip error per tensor, loading and decoding the result, determinism,
// and the Q8_0 / Q4_0 block bytes against llama.cpp's reference formulas.
#include "model/quantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "base/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace llmchain {
namespace {

namespace fs = std::filesystem;
const std::string kModel = std::string(LLMCHAIN_SHARED_DIR) + "/models/stories260K.gguf";

fs::path tmp_dir() {
  fs::path d = fs::temp_directory_path() / fmt::format("llmchain_quantize_test_{}", ::getpid());
  fs::create_directories(d);
  return d;
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<float> dequant(const gguf::TensorInfo& t) {
  const int64_t cols = t.shape[0], rows = t.n_elements() / cols;
  const auto type = static_cast<GgmlType>(t.type);
  std::vector<float> out(t.n_elements());
  for (int64_t r = 0; r < rows; ++r)
    kernels::dequantize_row(type, t.data + ggml_row_bytes(type, cols) * r, out.data() + r * cols, cols);
  return out;
}

// Normalized RMSE a type is expected to stay under on trained weights.
double max_nrmse(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1e-3;
    case GgmlType::BF16: return 5e-3;
    case GgmlType::Q8_0: return 0.01;
    case GgmlType::Q6_K: return 0.03;
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q5_K: return 0.06;
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q4_K: return 0.13;
    default: return 1;
  }
}

model::QuantizeOptions opts(int threads) {
  model::QuantizeOptions o;
  o.threads = threads;
  return o;
}

struct Case {
  const char* target;
  GgmlType matrix_type;  // what blk.*.attn_q.weight (64 columns) must become
};

class QuantizeTypes : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizeTypes, RoundTripLoadsAndDecodes) {
  const Case c = GetParam();
  const fs::path out = tmp_dir() / fmt::format("q_{}.gguf", c.target);
  auto rep = model::quantize_file(kModel, out.string(), c.target, opts(2));
  ASSERT_TRUE(rep.ok()) << rep.error().what();
  EXPECT_TRUE(rep->warnings.empty());

  auto src = gguf::File::open(kModel).value();
  auto dst = gguf::File::open(out.string()).value();
  EXPECT_EQ(dst->get_int("general.file_type", -1), model::parse_quant_target(c.target)->file_type);
  // All metadata is carried over.
  for (const auto& [k, v] : src->metadata())
    if (k != "general.file_type") {
      EXPECT_TRUE(dst->has(k)) << k;
    }
  ASSERT_EQ(src->tensors().size(), dst->tensors().size());
  for (const auto& st : src->tensors()) {
    const auto* dt = dst->tensor(st.name);
    ASSERT_NE(dt, nullptr) << st.name;
    EXPECT_EQ(dt->shape, st.shape) << st.name;
    if (st.shape.size() < 2) {
      EXPECT_EQ(dt->type, st.type) << st.name << " (1-D stays as it was)";
    }
    const auto a = dequant(st), b = dequant(*dt);
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      num += (a[i] - b[i]) * static_cast<double>(a[i] - b[i]);
      den += a[i] * static_cast<double>(a[i]);
    }
    const double nrmse = den > 0 ? std::sqrt(num / den) : 0;
    EXPECT_LE(nrmse, max_nrmse(static_cast<GgmlType>(dt->type)))
        << st.name << " as " << ggml_type_name(dt->type) << " (target " << c.target << ")";
  }
  EXPECT_EQ(dst->tensor("blk.0.attn_q.weight")->type, static_cast<uint32_t>(c.matrix_type));

  // The quantized model loads and greedy decoding gives valid tokens.
  auto m = model::Model::load(out.string());
  ASSERT_TRUE(m.ok()) << m.error().what();
  const auto& hp = (*m)->hparams();
  ThreadPool pool(2);
  model::KvCache kv(hp, 1, 64);
  model::Context ctx(*m, 8);
  int32_t tok = 1;
  for (int32_t pos = 0; pos < 16; ++pos) {
    ASSERT_TRUE(ctx.decode({{tok, pos, 0, true}}, kv, pool).ok());
    const float* l = ctx.logits();
    for (int32_t i = 0; i < hp.n_vocab; ++i) ASSERT_TRUE(std::isfinite(l[i]));
    tok = static_cast<int32_t>(std::max_element(l, l + hp.n_vocab) - l);
    ASSERT_GE(tok, 0);
    ASSERT_LT(tok, hp.n_vocab);
  }

  // Deterministic: a second run (other thread count) writes the same bytes.
  const fs::path again = tmp_dir() / fmt::format("q_{}_again.gguf", c.target);
  ASSERT_TRUE(model::quantize_file(kModel, again.string(), c.target, opts(1)).ok());
  EXPECT_EQ(read_bytes(out), read_bytes(again));
  fs::remove(out);
  fs::remove(again);
}

// stories260K rows are 64 or 172 wide: K-quants fall back (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0).
INSTANTIATE_TEST_SUITE_P(AllTargets, QuantizeTypes,
                         ::testing::Values(Case{"q8_0", GgmlType::Q8_0}, Case{"q4_0", GgmlType::Q4_0},
                                           Case{"q4_1", GgmlType::Q4_1}, Case{"q5_0", GgmlType::Q5_0},
                                           Case{"q5_1", GgmlType::Q5_1}, Case{"q4_k", GgmlType::Q5_0},
                                           Case{"q5_k", GgmlType::Q5_1}, Case{"q6_k", GgmlType::Q8_0},
                                           Case{"f16", GgmlType::F16}, Case{"bf16", GgmlType::BF16},
                                           Case{"q4_k_m", GgmlType::Q5_0}, Case{"q5_k_m", GgmlType::Q5_1}),
                         [](const auto& info) { return std::string(info.param.target); });

TEST(Quantize, MixRulesFollowLlamaCpp) {
  const auto m = model::parse_quant_target("Q4_K_M").value();
  EXPECT_EQ(m.file_type, 15);
  // 32 layers: more bits on 0-3, 28-31 and every third in between.
  int more = 0;
  for (int il = 0; il < 32; ++il) more += model::use_more_bits(il, 32);
  EXPECT_EQ(more, 16);
  const std::vector<int64_t> sq = {4096, 4096};
  auto type = [&](const std::string& n) { return model::choose_tensor_type(m, n, sq, GgmlType::F32, 32, false); };
  EXPECT_EQ(type("output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(type("token_embd.weight"), GgmlType::Q4_K);
  EXPECT_EQ(type("blk.0.attn_v.weight"), GgmlType::Q6_K);
  EXPECT_EQ(type("blk.5.attn_v.weight"), GgmlType::Q4_K);
  EXPECT_EQ(type("blk.6.ffn_down.weight"), GgmlType::Q6_K);  // (6 - 4) % 3 == 2
  EXPECT_EQ(type("blk.31.ffn_down.weight"), GgmlType::Q6_K);
  EXPECT_EQ(type("blk.5.attn_q.weight"), GgmlType::Q4_K);
  EXPECT_EQ(model::choose_tensor_type(m, "blk.0.attn_norm.weight", {4096}, GgmlType::F32, 32, false), GgmlType::F32);
  // Rows not divisible by 256 fall back; not divisible by 32 stay 16-bit.
  EXPECT_EQ(model::choose_tensor_type(m, "blk.5.attn_q.weight", {96, 8}, GgmlType::F32, 32, false), GgmlType::Q5_0);
  EXPECT_EQ(model::choose_tensor_type(m, "output.weight", {96, 8}, GgmlType::F32, 32, false), GgmlType::Q8_0);
  EXPECT_EQ(model::choose_tensor_type(m, "blk.5.attn_q.weight", {40, 8}, GgmlType::F32, 32, false), GgmlType::F16);
  EXPECT_FALSE(model::parse_quant_target("q3_zz").ok());
}

// ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref written out for one block.
std::vector<uint8_t> ref_q8_0(const float* x) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
  std::vector<uint8_t> b(34);
  const uint16_t h = kernels::ops::fp32_to_fp16(d);
  std::memcpy(b.data(), &h, 2);
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * id)));
  return b;
}

std::vector<uint8_t> ref_q4_0(const float* x) {
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j)
    if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
  const float d = max / -8, id = d != 0 ? 1.0f / d : 0.0f;
  std::vector<uint8_t> b(18);
  const uint16_t h = kernels::ops::fp32_to_fp16(d);
  std::memcpy(b.data(), &h, 2);
  for (int j = 0; j < 16; ++j) {
    const auto x0 = std::min<uint8_t>(15, static_cast<uint8_t>(static_cast<int8_t>(x[j] * id + 8.5f)));
    const auto x1 = std::min<uint8_t>(15, static_cast<uint8_t>(static_cast<int8_t>(x[16 + j] * id + 8.5f)));
    b[2 + j] = static_cast<uint8_t>(x0 | (x1 << 4));
  }
  return b;
}

TEST(Quantize, BlockBytesMatchLlamaCppFormulas) {
  std::vector<float> v(64);
  for (int i = 0; i < 64; ++i) v[i] = std::sin(0.37f * i) * (1.0f + 0.05f * i) - (i == 40 ? 3.0f : 0.0f);
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.add_tensor("blk.0.attn_q.weight", 0, {32, 2}, v.data(), v.size() * 4);
  const fs::path in = tmp_dir() / "fixed.gguf";
  ASSERT_TRUE(w.write(in.string()).ok());
  for (const char* target : {"q8_0", "q4_0"}) {
    const fs::path out = tmp_dir() / fmt::format("fixed_{}.gguf", target);
    ASSERT_TRUE(model::quantize_file(in.string(), out.string(), target).ok());
    auto f = gguf::File::open(out.string()).value();
    const auto* t = f->tensor("blk.0.attn_q.weight");
    ASSERT_NE(t, nullptr);
    std::vector<uint8_t> expect;
    for (int b = 0; b < 2; ++b) {
      auto blk = std::string(target) == "q8_0" ? ref_q8_0(v.data() + 32 * b) : ref_q4_0(v.data() + 32 * b);
      expect.insert(expect.end(), blk.begin(), blk.end());
    }
    ASSERT_EQ(t->size_bytes, expect.size());
    EXPECT_EQ(std::vector<uint8_t>(t->data, t->data + t->size_bytes), expect) << target;
    fs::remove(out);
  }
}

TEST(Quantize, RequantizingWarnsAndErrorsNameTheFile) {
  const fs::path q8 = tmp_dir() / "requant_q8.gguf", q4 = tmp_dir() / "requant_q4.gguf";
  ASSERT_TRUE(model::quantize_file(kModel, q8.string(), "q8_0").ok());
  auto rep = model::quantize_file(q8.string(), q4.string(), "q4_0");
  ASSERT_TRUE(rep.ok()) << rep.error().what();
  ASSERT_FALSE(rep->warnings.empty());
  EXPECT_NE(rep->warnings[0].find("already"), std::string::npos);
  auto bad = model::quantize_file("/nonexistent/model.gguf", q4.string(), "q4_0");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.error().what()).find("/nonexistent/model.gguf"), std::string::npos);
  EXPECT_FALSE(model::quantize_file(kModel, q4.string(), "q9_9").ok());
  fs::remove(q8);
  fs::remove(q4);
}

}  // namespace
}  // namespace llmchain
