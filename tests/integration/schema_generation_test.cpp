// Structured output from the shared tiny models, which know nothing of JSON:
// every schema in tests/data/schemas, many seeds, both models. Only the
// constraint can make the output valid; an independent validator judges it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/local_engine.h"
#include "unit/sampling/json_schema_validator.h"

namespace llmchain {
namespace {

const std::string kShared = LLMCHAIN_SHARED_DIR;

TEST(SchemaGeneration, EverySchemaManySeedsBothModels) {
  std::vector<std::filesystem::path> schemas;
  for (const auto& e : std::filesystem::directory_iterator(std::string(LLMCHAIN_SOURCE_DIR) + "/tests/data/schemas"))
    schemas.push_back(e.path());
  std::sort(schemas.begin(), schemas.end());
  ASSERT_GE(schemas.size(), 10u);
  int checked = 0;
  for (const char* model : {"stories260K.gguf", "TinyStories-656K-Q8_0.gguf"}) {
    engine::EngineOptions o;
    o.n_parallel = 4;
    o.n_ctx = 512;
    o.n_threads = 2;
    auto eng = engine::LocalEngine::load(kShared + "/models/" + model, o);
    ASSERT_TRUE(eng.ok()) << eng.error().what();
    auto prompt = *(*eng)->tokenize("Once upon a time", true, true);
    for (const auto& path : schemas) {
      std::ifstream in(path);
      auto schema = nlohmann::json::parse(in);
      for (uint64_t seed = 1; seed <= 4; ++seed) {
        engine::GenerateRequest req;
        req.prompt = prompt;
        req.max_tokens = 400;
        req.sampling.temperature = 1.0f;
        req.sampling.seed = seed;
        req.constraint.json_schema = schema;
        auto r = (*eng)->generate(req, nullptr);
        if (!r.ok()) {
          // TinyStories-656K's vocabulary has no '{' (nor byte fallback): the constraint must then fail
          // closed with an error, never return unconstrained text.
          EXPECT_NE(std::string(model), "stories260K.gguf") << path << ": " << r.error().what();
          EXPECT_NE(std::string(r.error().what()).find("constraint"), std::string::npos) << r.error().what();
          continue;
        }
        // The budget logic closes the document within max_tokens: never cut.
        EXPECT_EQ(r->finish_reason, engine::FinishReason::kStop)
            << model << " " << path.filename() << " seed " << seed << ": " << r->text;
        auto doc = nlohmann::json::parse(r->text, nullptr, false);
        ASSERT_FALSE(doc.is_discarded()) << model << " " << path.filename() << " seed " << seed << ": " << r->text;
        EXPECT_EQ(sampling::testing::validate_json(doc, schema, schema), "")
            << model << " " << path.filename() << " seed " << seed << ": " << r->text;
        ++checked;
      }
    }
  }
  // Every stories260K generation finishes inside the token budget.
  EXPECT_GE(checked, static_cast<int>(schemas.size()) * 4);
}

// The shortest document a request can get, as the engine counts it: the
// number its rejection of a too-small max_tokens names.
int shortest_document(engine::Engine& eng, engine::GenerateRequest req) {
  req.max_tokens = 1;
  auto r = eng.generate(req, nullptr);
  if (r.ok()) return 1;
  const std::string msg = r.error().what();
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << msg;
  size_t at = msg.find("takes ");
  EXPECT_NE(at, std::string::npos) << msg;
  return at == std::string::npos ? 0 : std::stoi(msg.substr(at + 6));
}

// At budgets from the shortest document up, a model that knows no JSON still
// ends every output as a complete, valid document, with finish_reason stop;
// below it the request is refused naming the minimum.
TEST(SchemaGeneration, CompletesWithinAnyBudgetFromTheShortestDocument) {
  engine::EngineOptions o;
  o.n_parallel = 4;
  o.n_ctx = 512;
  o.n_threads = 2;
  auto eng = engine::LocalEngine::load(kShared + "/models/stories260K.gguf", o);
  ASSERT_TRUE(eng.ok()) << eng.error().what();
  auto prompt = *(*eng)->tokenize("Answer in JSON:", true, true);
  std::vector<std::filesystem::path> schemas;
  for (const auto& e : std::filesystem::directory_iterator(std::string(LLMCHAIN_SOURCE_DIR) + "/tests/data/schemas"))
    schemas.push_back(e.path());
  std::sort(schemas.begin(), schemas.end());
  for (const auto& path : schemas) {
    std::ifstream in(path);
    auto schema = nlohmann::json::parse(in);
    engine::GenerateRequest req;
    req.prompt = prompt;
    req.sampling.temperature = 0.9f;
    req.constraint.json_schema = schema;
    const int need = shortest_document(**eng, req);
    ASSERT_GT(need, 1) << path;
    req.max_tokens = need - 1;
    auto refused = (*eng)->generate(req, nullptr);
    ASSERT_FALSE(refused.ok()) << path;
    EXPECT_NE(std::string(refused.error().what()).find(std::to_string(need)), std::string::npos)
        << refused.error().what();
    for (int budget : {need, need * 2, need * 4}) {
      for (uint64_t seed = 1; seed <= 5; ++seed) {
        req.max_tokens = budget;
        req.sampling.seed = seed;
        auto r = (*eng)->generate(req, nullptr);
        ASSERT_TRUE(r.ok()) << path << ": " << r.error().what();
        EXPECT_LE(r->completion_tokens, budget);
        EXPECT_EQ(r->finish_reason, engine::FinishReason::kStop)
            << path.filename() << " budget " << budget << ": " << r->text;
        auto doc = nlohmann::json::parse(r->text, nullptr, false);
        ASSERT_FALSE(doc.is_discarded()) << path.filename() << " budget " << budget << " seed " << seed << ": "
                                         << r->text;
        EXPECT_EQ(sampling::testing::validate_json(doc, schema, schema), "")
            << path.filename() << " seed " << seed << ": " << r->text;
      }
    }
  }
}

}  // namespace
}  // namespace llmchain
