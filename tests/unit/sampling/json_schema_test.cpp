#include "sampling/json_schema.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "json_schema_validator.h"
#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"
#include "sampling/sampler.h"
#include "test_vocab.h"

namespace llmchain::sampling {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kSchemaDir = fs::path(LLMCHAIN_SOURCE_DIR) / "tests/data/schemas";

json load(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

// Whether the grammar compiled from `schema` accepts `text` exactly.
bool grammar_accepts(const json& schema, const std::string& text) {
  auto gbnf = json_schema_to_gbnf(schema);
  EXPECT_TRUE(gbnf.ok()) << gbnf.error().message();
  auto g = parse_gbnf(*gbnf);
  EXPECT_TRUE(g.ok()) << g.error().message() << "\n" << *gbnf;
  GrammarMatcher m(*g, testing::make_vocab({"x"}));
  return m.accept_bytes(text) && m.accepting();
}

TEST(JsonSchema, EverySchemaFileCompiles) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(kSchemaDir)) {
    auto gbnf = json_schema_to_gbnf(load(e.path()));
    ASSERT_TRUE(gbnf.ok()) << e.path() << ": " << gbnf.error().message();
    auto g = parse_gbnf(*gbnf);
    ASSERT_TRUE(g.ok()) << e.path() << ": " << g.error().message() << "\n" << *gbnf;
    ++n;
  }
  EXPECT_GE(n, 10);
}

TEST(JsonSchema, AcceptsAndRejectsHandWrittenInstances) {
  json person = load(kSchemaDir / "person.json");
  EXPECT_TRUE(grammar_accepts(person, R"({"age": 30, "name": "Ann"})"));
  EXPECT_TRUE(grammar_accepts(person, R"({"age":-1,"email":"a@b.org","name":"B\"o"})"));
  EXPECT_FALSE(grammar_accepts(person, R"({"name": "Ann"})"));                  // age required
  EXPECT_FALSE(grammar_accepts(person, R"({"age": 1, "name": ""})"));           // minLength
  EXPECT_FALSE(grammar_accepts(person, R"({"age": 1.5, "name": "A"})"));        // integer
  EXPECT_FALSE(grammar_accepts(person, R"({"age": 1, "name": "A", "x": 1})"));  // additionalProperties false
  EXPECT_FALSE(grammar_accepts(person, R"({"age": 1, "email": "A@b.com", "name": "A"})"));  // pattern
  json add = load(kSchemaDir / "additional.json");
  EXPECT_TRUE(grammar_accepts(add, R"({"id": 1, "zz": "abc", "idy": ""})"));
  EXPECT_FALSE(grammar_accepts(add, R"({"id": 1, "id": "abc"})"));  // declared key as an extra
  EXPECT_FALSE(grammar_accepts(add, R"({"id": 1, "zz": "abcdef"})"));
  json fmt = load(kSchemaDir / "formats.json");
  const std::string uuid = "\"123e4567-e89b-12d3-a456-426614174000\"";
  EXPECT_TRUE(
      grammar_accepts(fmt, R"({"at": "2024-01-31T23:59:59.5+05:30", "day": "2023-04-30", "id": )" + uuid + "}"));
  EXPECT_FALSE(grammar_accepts(fmt, R"({"at": "2024-01-31T23:59:59Z", "day": "2023-04-31", "id": )" + uuid + "}"));
  EXPECT_TRUE(grammar_accepts(json::parse(R"({"type":"string","pattern":"^a\"b\\\\c\\n$"})"), R"("a\"b\\c\n")"));
  EXPECT_TRUE(grammar_accepts(json::parse(R"({"type":"object"})"), R"({"a": [1, {"b": null}], "c": "d"})"));
}

std::string error_of(const std::string& schema) {
  auto r = json_schema_to_gbnf(json::parse(schema));
  return r.ok() ? "" : r.error().message();
}

TEST(JsonSchema, UnsupportedKeywordsNameKeywordAndLocation) {
  struct Case {
    const char* schema;
    const char* keyword;
    const char* where;
  };
  const Case cases[] = {
      {R"({"type":"integer","minimum":0})", "'minimum'", "'/minimum'"},
      {R"({"properties":{"a":{"type":"string","format":"email"}}})", "format 'email'", "'/properties/a/format'"},
      {R"({"allOf":[{"type":"string"}]})", "'allOf'", "'/allOf'"},
      {R"({"type":"array","uniqueItems":true})", "'uniqueItems'", "'/uniqueItems'"},
      {R"({"not":{"type":"null"}})", "'not'", "'/not'"},
      {R"({"items":{"if":{"type":"null"}}})", "'if'", "'/items/if'"},
      {R"({"$ref":"https://example.com/s.json"})", "non-local $ref", "'/$ref'"},
      {R"({"type":"string","pattern":"^(?=a)b$"})", "lookaround", "'/pattern'"},
      {R"({"type":"string","pattern":"(a)\\1"})", "escape '\\1'", "'/pattern'"},
      {R"({"anyOf":[{"type":"string"}],"type":"string"})", "'type' next to 'anyOf'", "'/type'"},
      {R"({"$defs":{"x":{"type":"string","contentEncoding":"base64"}},"type":"null"})", "'contentEncoding'",
       "'/$defs/x/contentEncoding'"},
      {R"({"type":"array","items":[{"type":"null"}]})", "tuple", "'/items'"},
      {R"({"oneOf":[{"type":"string"},{"type":"string","maxLength":3}]})", "oneOf whose branches 0 and 1", "'/oneOf'"},
      {R"({"oneOf":[{"type":"number"},{"type":"integer"}]})", "oneOf whose branches 0 and 1", "'/oneOf'"},
      {R"({"properties":{"a/b":{"propertyNames":{}}}})", "'propertyNames'", "'/properties/a~1b/propertyNames'"},
  };
  for (const auto& c : cases) {
    std::string e = error_of(c.schema);
    EXPECT_NE(e.find(c.keyword), std::string::npos) << c.schema << " -> " << e;
    EXPECT_NE(e.find(c.where), std::string::npos) << c.schema << " -> " << e;
    auto r = json_schema_to_gbnf(json::parse(c.schema));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kUnsupported) << c.schema;
  }
  EXPECT_EQ(error_of(R"({"oneOf":[{"const":"a"},{"enum":["b","c"]},{"type":"integer"}]})"), "");
  EXPECT_NE(error_of(R"({"type":"strin"})"), "");
  EXPECT_NE(error_of(R"({"type":"string","minLength":5,"maxLength":2})"), "");
  EXPECT_NE(error_of(R"({"$ref":"#/$defs/missing"})"), "");
  EXPECT_EQ(error_of(R"({"title":"t","description":"d","examples":[1],"default":1,"$id":"x","type":"integer"})"), "");
}

TEST(JsonSchema, SamplerNeverFallsBackToFreeText) {
  auto vocab = testing::make_vocab({"a", "{", "}"});
  Constraint c;
  c.json_schema = json::parse(R"({"type":"object","properties":{"n":{"type":"integer","maximum":3}}})");
  auto s = Sampler::create(SamplingParams{}, c, vocab);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("maximum"), std::string::npos);
}

// A random "model": noisy logits each step, with a mild preference for tokens
// that close things (and EOG), so outputs finish in a reasonable length.
struct RandomModel {
  std::vector<float> bonus;
  explicit RandomModel(const CompiledVocab& v) : bonus(v.size(), 0.0f) {
    for (int32_t t = 0; t < v.size(); ++t) {
      const std::string& b = v.bytes(t);
      if (v.is_eog(t)) bonus[t] = 6;
      if (b.find_first_of("\"}]") != std::string::npos) bonus[t] = 2.5f;
    }
  }
  void fill(std::vector<float>& logits, std::mt19937& rng) const {
    std::normal_distribution<float> nd(0.0f, 1.5f);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = nd(rng) + bonus[i];
  }
};

TEST(JsonSchema, RandomModelOutputsValidateIndependently) {
  auto vocab = testing::realistic_vocab(5000);
  RandomModel model(*vocab);
  const int kSeeds = 25, kMaxTokens = 1500;
  int total = 0, finished = 0;
  for (const auto& e : fs::directory_iterator(kSchemaDir)) {
    json schema = load(e.path());
    for (int seed = 0; seed < kSeeds; ++seed) {
      SamplingParams p;
      p.seed = seed;
      p.temperature = 1.0f;
      p.top_k = 0;
      p.top_p = 1.0f;
      p.min_p = 0.0f;
      Constraint c;
      c.json_schema = schema;
      auto s = Sampler::create(p, c, vocab);
      ASSERT_TRUE(s.ok()) << e.path() << ": " << s.error().message();
      std::mt19937 rng(1000 + seed);
      std::vector<float> logits(vocab->size());
      std::string text;
      bool done = false;
      for (int step = 0; step < kMaxTokens; ++step) {
        model.fill(logits, rng);
        SampleResult r = (*s)->sample(logits.data(), vocab->size());
        ASSERT_GE(r.token, 0) << e.path() << " seed " << seed << " dead end after: " << text;
        ASSERT_TRUE((*s)->accept(r.token));
        if (vocab->is_eog(r.token)) {
          done = true;
          break;
        }
        text += vocab->bytes(r.token);
      }
      ++total;
      if (!done) continue;
      ++finished;
      json out;
      ASSERT_NO_THROW(out = json::parse(text)) << e.path() << " seed " << seed << ": " << text;
      std::string err = testing::validate_json(out, schema, schema);
      EXPECT_EQ(err, "") << e.path().filename() << " seed " << seed << ": " << text;
    }
  }
  // Nearly every run should reach EOG; the unfinished ones hit kMaxTokens.
  EXPECT_GE(finished, total * 9 / 10) << finished << "/" << total;
  std::cout << "[ schemas ] " << finished << "/" << total << " generations finished and validated\n";
}

TEST(JsonSchema, JsonObjectModeGivesObjects) {
  auto vocab = testing::realistic_vocab(5000);
  RandomModel model(*vocab);
  for (int seed = 0; seed < 20; ++seed) {
    SamplingParams p;
    p.seed = seed;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    Constraint c;
    c.json_object = true;
    auto s = Sampler::create(p, c, vocab).value();
    std::mt19937 rng(seed);
    std::vector<float> logits(vocab->size());
    std::string text;
    for (int step = 0; step < 1500; ++step) {
      model.fill(logits, rng);
      auto r = s->sample(logits.data(), vocab->size());
      ASSERT_GE(r.token, 0);
      ASSERT_TRUE(s->accept(r.token));
      if (vocab->is_eog(r.token)) break;
      text += vocab->bytes(r.token);
    }
    if (!s->grammar_complete()) continue;
    json out;
    ASSERT_NO_THROW(out = json::parse(text)) << text;
    EXPECT_TRUE(out.is_object()) << text;
  }
}

}  // namespace
}  // namespace llmchain::sampling
