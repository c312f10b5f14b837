// Perplexity (llama-perplexity's method) on tests/data/perplexity.txt with the
// shared stories260K model: chunking and scoring counts, batch-size invariance,
// and the F32 model against its F16 and Q8_0 quantizations.
#include "model/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/model.h"
#include "model/quantize.h"
#include "tokenizer/tokenizer.h"

namespace llmchain {
namespace {

namespace fs = std::filesystem;
const std::string kModel = std::string(LLMCHAIN_SHARED_DIR) + "/models/stories260K.gguf";
const std::string kText = std::string(LLMCHAIN_SOURCE_DIR) + "/tests/data/perplexity.txt";

struct Scored {
  model::PerplexityResult r;
  int64_t n_tokens = 0;
};

Scored score(const std::string& path, int32_t n_ctx, int32_t n_batch = 0) {
  auto m = model::Model::load(path).value();
  auto tok = tokenizer::Tokenizer::from_gguf(m->file()).value();
  std::ifstream in(kText);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto tokens = tok->encode(ss.str(), true, false);
  model::PerplexityOptions o;
  o.n_ctx = n_ctx;
  o.n_batch = n_batch;
  o.threads = 2;
  o.bos = tok->add_bos() ? tok->bos() : -1;
  auto r = model::compute_perplexity(m, tokens, o);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what());
  return {r.ok() ? *r : model::PerplexityResult{}, static_cast<int64_t>(tokens.size())};
}

TEST(Perplexity, ChunksAndScoredTokensAsLlamaCpp) {
  const auto s = score(kModel, 128);
  ASSERT_GE(s.n_tokens, 1024) << "test text too short";
  EXPECT_EQ(s.r.chunks, s.n_tokens / 128);
  // Positions 64..126 predict tokens 65..127: 63 per chunk.
  EXPECT_EQ(s.r.tokens_scored, static_cast<int64_t>(s.r.chunks) * 63);
  EXPECT_GT(s.r.ppl, 1.0);
  EXPECT_LT(s.r.ppl, 100.0) << "stories260K should model simple stories well";
  EXPECT_GT(s.r.ppl_stderr, 0.0);
  EXPECT_LT(s.r.ppl_stderr, s.r.ppl);
  EXPECT_NEAR(std::exp(s.r.mean_nll), s.r.ppl, 1e-9);
}

TEST(Perplexity, BatchSizeDoesNotChangeTheResult) {
  const auto a = score(kModel, 128, 128), b = score(kModel, 128, 37);
  EXPECT_NEAR(a.r.ppl, b.r.ppl, 1e-3 * a.r.ppl);
  EXPECT_EQ(a.r.tokens_scored, b.r.tokens_scored);
}

TEST(Perplexity, QuantizedModelsStayClose) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("llmchain_ppl_test_{}", ::getpid());
  fs::create_directories(dir);
  const auto base = score(kModel, 512);
  ASSERT_GE(base.r.chunks, 1);
  for (const auto& [type, tol] : {std::pair<const char*, double>{"f16", 0.001}, {"q8_0", 0.01}}) {
    const fs::path out = dir / fmt::format("{}.gguf", type);
    ASSERT_TRUE(model::quantize_file(kModel, out.string(), type).ok());
    const auto q = score(out.string(), 512);
    EXPECT_NEAR(q.r.ppl, base.r.ppl, tol * base.r.ppl) << type << ": " << q.r.ppl << " vs F32 " << base.r.ppl;
    fs::remove(out);
  }
  fs::remove_all(dir);
}

TEST(Perplexity, TooShortTextIsAnError) {
  auto m = model::Model::load(kModel).value();
  model::PerplexityOptions o;
  o.n_ctx = 512;
  auto r = model::compute_perplexity(m, {1, 2, 3}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.error().what()).find("fewer than one context"), std::string::npos);
}

}  // namespace
}  // namespace llmchain
