// Greedy continuations of the shared models must equal llama.cpp's token ids
// (../shared/testdata/golden), and stories260K's step-0 logits must match the
// float64 reference values in ../shared/models/SOURCES.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "base/thread_pool.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace llmchain {
namespace {

const std::string kShared = LLMCHAIN_SHARED_DIR;

std::vector<int32_t> greedy(const std::shared_ptr<const model::Model>& m, const std::vector<int32_t>& prompt, int n_gen,
                            ThreadPool& pool) {
  model::KvCache kv(m->hparams(), 1, 256);
  model::Context ctx(m, 64);
  std::vector<int32_t> out;
  // Prefill in chunks of up to 64 tokens (also exercises multi-token batches).
  size_t done = 0;
  while (done < prompt.size()) {
    std::vector<model::BatchToken> batch;
    size_t end = std::min(prompt.size(), done + 64);
    for (size_t i = done; i < end; ++i)
      batch.push_back({prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size()});
    EXPECT_TRUE(ctx.decode(batch, kv, pool).ok());
    done = end;
  }
  const int n_vocab = m->hparams().n_vocab;
  int32_t pos = static_cast<int32_t>(prompt.size());
  for (int i = 0; i < n_gen; ++i) {
    const float* l = ctx.logits();
    int32_t best = static_cast<int32_t>(std::max_element(l, l + n_vocab) - l);
    out.push_back(best);
    if (i + 1 == n_gen) break;
    EXPECT_TRUE(ctx.decode({{best, pos++, 0, true}}, kv, pool).ok());
  }
  return out;
}

// (golden file, backend): every backend must pass the goldens.
class Golden : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(Golden, GreedyMatchesLlamaCpp) {
  const auto& [name, backend] = GetParam();
  std::ifstream in(kShared + "/testdata/golden/" + name + ".json");
  ASSERT_TRUE(in) << "missing golden file for " << name;
  auto golden = nlohmann::json::parse(in);
  auto m = model::Model::load(kShared + "/models/" + golden["model"].get<std::string>(),
                              *model::backend_named(backend).value());
  ASSERT_TRUE(m.ok()) << m.error().what();
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (const auto& c : golden["cases"]) {
      auto prompt = c["prompt_tokens"].get<std::vector<int32_t>>();
      auto expected = c["completion_tokens"].get<std::vector<int32_t>>();
      auto got = greedy(*m, prompt, static_cast<int>(expected.size()), pool);
      size_t first = 0;
      while (first < got.size() && first < expected.size() && got[first] == expected[first]) ++first;
      EXPECT_EQ(got, expected) << "prompt: '" << c["prompt"].get<std::string>() << "' threads " << threads
                               << ": first difference at generated token " << first;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SharedModels, Golden,
                         ::testing::Combine(::testing::Values("stories260K", "TinyStories-656K-Q8_0"),
                                            ::testing::Values("cpu", "reference")),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param) + "_" + std::get<1>(info.param);
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

class GoldenLogits : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenLogits, Stories260KStepZero) {
  auto m = model::Model::load(kShared + "/models/stories260K.gguf", *model::backend_named(GetParam()).value());
  ASSERT_TRUE(m.ok()) << m.error().what();
  EXPECT_EQ((*m)->backend().name(), GetParam());
  ThreadPool pool(1);
  model::KvCache kv((*m)->hparams(), 1, 16);
  model::Context ctx(*m, 1);
  ASSERT_TRUE(ctx.decode({{1, 0, 0, true}}, kv, pool).ok());
  const float* l = ctx.logits();
  // (id, logit) from SOURCES.md, computed in float64.
  const std::pair<int, double> ref[] = {{403, 17.0235}, {385, 15.4062}, {410, 13.1083}, {317, 12.7692}, {407, 12.4181}};
  for (auto [id, v] : ref) EXPECT_NEAR(l[id], v, 1e-3) << "token " << id;
}

INSTANTIATE_TEST_SUITE_P(Backends, GoldenLogits, ::testing::Values("cpu", "reference"));

TEST(Golden, UnknownBackendIsNamed) {
  auto b = model::backend_named("cuda");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_STREQ(b.error().what(), "unknown backend 'cuda' (known: cpu, reference)");
}

TEST(Golden, QuantizedVariantsLoadAndGenerate) {
  ThreadPool pool(2);
  std::ifstream in(kShared + "/testdata/golden/TinyStories-656K-Q8_0.json");
  auto golden = nlohmann::json::parse(in);
  auto prompt = golden["cases"][1]["prompt_tokens"].get<std::vector<int32_t>>();
  auto q8 = golden["cases"][1]["completion_tokens"].get<std::vector<int32_t>>();
  for (const char* name : {"q4_0", "q4_1", "q5_1"}) {
    auto m = model::Model::load(kShared + "/models/quantized/TinyStories-656K-" + name + ".gguf");
    ASSERT_TRUE(m.ok()) << m.error().what();
    auto got = greedy(*m, prompt, 16, pool);
    ASSERT_EQ(got.size(), 16u);
    // Lower-bit weights drift from the Q8_0 output, but the start of a story is robust.
    int same = 0;
    for (size_t i = 0; i < 4; ++i) same += got[i] == q8[i];
    EXPECT_GE(same, 2) << name;
  }
}

}  // namespace
}  // namespace llmchain
