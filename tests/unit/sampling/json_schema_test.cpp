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
      {R"({"type":"number","minimum":0})", "'minimum' on type 'number'", "'/minimum'"},
      {R"({"type":["integer","number"],"exclusiveMaximum":0})", "'exclusiveMaximum' on type 'number'",
       "'/exclusiveMaximum'"},
      {R"({"maximum":0})", "'maximum' without type 'integer'", "'/maximum'"},
      {R"({"type":"integer","minimum":1e20})", "'minimum' beyond the 16-digit integers", "'/minimum'"},
      {R"({"type":"integer","multipleOf":2})", "'multipleOf'", "'/multipleOf'"},
      {R"({"properties":{"a":{"type":"string","format":"email"}}})", "format 'email'", "'/properties/a/format'"},
      {R"({"allOf":[{"type":"string","pattern":"^a"},{"pattern":"b$"}]})", "'pattern' in more than one allOf branch",
       "'/allOf/1/pattern'"},
      {R"({"allOf":[{"type":"string"},{"not":{"const":"x"}}]})", "'not'", "'/allOf/1/not'"},
      {R"({"$defs":{"b":{"type":"object","dependentRequired":{}}},"allOf":[{"$ref":"#/$defs/b"}]})",
       "'dependentRequired'", "'/$defs/b/dependentRequired'"},
      {R"({"allOf":[{"properties":{"a":{"properties":{"b":{"if":true}}}}},{"required":["a"]}]})", "'if'",
       "'/allOf/0/properties/a/properties/b/if'"},
      {R"({"type":"object","properties":{"a":{}},"minProperties":2})", "minProperties above the 1 declared",
       "'/minProperties'"},
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
  // Schemas that no value can satisfy are invalid, not unsupported.
  for (const char* schema :
       {R"({"type":"integer","minimum":5,"maximum":4})",
        R"({"type":"integer","exclusiveMinimum":4,"exclusiveMaximum":5})",
        R"({"allOf":[{"type":"string"},{"type":"integer"}]})", R"({"allOf":[{"enum":[1,2]},{"const":3}]})",
        R"({"properties":{"a":{}},"required":["a"],"allOf":[{"additionalProperties":false}]})",
        R"({"required":["a","b"],"maxProperties":1})"}) {
    auto r = json_schema_to_gbnf(json::parse(schema));
    ASSERT_FALSE(r.ok()) << schema;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << schema << " -> " << r.error().message();
  }
}

TEST(JsonSchema, IntegerRangesAreExact) {
  json range = json::parse(R"({"type":"integer","minimum":-5,"maximum":123})");
  for (const char* ok : {"-5", "-1", "0", "7", "10", "99", "100", "123"}) EXPECT_TRUE(grammar_accepts(range, ok)) << ok;
  for (const char* no : {"-6", "124", "1000", "007", "00", "-0", "+1", "1.0", "1e2", "", "-"})
    EXPECT_FALSE(grammar_accepts(range, no)) << no;
  json excl = json::parse(R"({"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10})");
  EXPECT_TRUE(grammar_accepts(excl, "1"));
  EXPECT_TRUE(grammar_accepts(excl, "9"));
  EXPECT_FALSE(grammar_accepts(excl, "0"));
  EXPECT_FALSE(grammar_accepts(excl, "10"));
  json draft4 =
      json::parse(R"({"type":"integer","minimum":5,"exclusiveMinimum":true,"maximum":8,"exclusiveMaximum":false})");
  EXPECT_FALSE(grammar_accepts(draft4, "5"));
  EXPECT_TRUE(grammar_accepts(draft4, "6"));
  EXPECT_TRUE(grammar_accepts(draft4, "8"));
  json fractional = json::parse(R"({"type":"integer","minimum":2.5,"maximum":-0.5e1,"exclusiveMaximum":7.5})");
  EXPECT_FALSE(error_of(fractional.dump()).empty());  // [3, -5]: nothing
  fractional = json::parse(R"({"type":"integer","minimum":2.5,"exclusiveMaximum":7.5})");
  EXPECT_FALSE(grammar_accepts(fractional, "2"));
  EXPECT_TRUE(grammar_accepts(fractional, "3"));
  EXPECT_TRUE(grammar_accepts(fractional, "7"));
  EXPECT_FALSE(grammar_accepts(fractional, "8"));
  json from = json::parse(R"({"type":"integer","minimum":7})");
  EXPECT_TRUE(grammar_accepts(from, "7"));
  EXPECT_TRUE(grammar_accepts(from, "9999999999999999"));  // json-int's 16 digits
  EXPECT_FALSE(grammar_accepts(from, "10000000000000000"));
  EXPECT_FALSE(grammar_accepts(from, "6"));
  EXPECT_FALSE(grammar_accepts(from, "-7"));
  json upto = json::parse(R"({"type":"integer","maximum":-3})");
  EXPECT_TRUE(grammar_accepts(upto, "-3"));
  EXPECT_TRUE(grammar_accepts(upto, "-9999999999999999"));
  EXPECT_FALSE(grammar_accepts(upto, "-2"));
  EXPECT_FALSE(grammar_accepts(upto, "0"));
  json nullable = json::parse(R"({"type":["integer","null","string"],"minimum":1,"maxLength":1})");
  EXPECT_TRUE(grammar_accepts(nullable, "null"));
  EXPECT_TRUE(grammar_accepts(nullable, "1"));
  EXPECT_TRUE(grammar_accepts(nullable, "\"0\""));
  EXPECT_FALSE(grammar_accepts(nullable, "0"));
  json big = json::parse(R"({"type":"integer","minimum":123456789012,"maximum":123456790000})");
  EXPECT_TRUE(grammar_accepts(big, "123456789012"));
  EXPECT_TRUE(grammar_accepts(big, "123456789999"));
  EXPECT_TRUE(grammar_accepts(big, "123456790000"));
  EXPECT_FALSE(grammar_accepts(big, "123456789011"));
  EXPECT_FALSE(grammar_accepts(big, "123456790001"));
}

// Every integer in and around random ranges: accepted exactly when inside.
TEST(JsonSchema, IntegerRangesAgreeWithArithmetic) {
  std::mt19937 rng(11);
  auto vocab = testing::make_vocab({"x"});
  for (int round = 0; round < 40; ++round) {
    int64_t a = static_cast<int64_t>(rng() % 2400) - 1200, b = static_cast<int64_t>(rng() % 2400) - 1200;
    if (round % 4 == 0) b = a + static_cast<int64_t>(rng() % 30);  // narrow ranges too
    int64_t lo = std::min(a, b), hi = std::max(a, b);
    json schema = {{"type", "integer"}, {"minimum", lo}, {"maximum", hi}};
    auto g = parse_gbnf(json_schema_to_gbnf(schema).value()).value();
    for (int64_t x = -1300; x <= 1300; ++x) {
      GrammarMatcher m(g, vocab);
      bool accepted = m.accept_bytes(std::to_string(x)) && m.accepting();
      ASSERT_EQ(accepted, x >= lo && x <= hi) << x << " in [" << lo << ", " << hi << "]";
    }
    GrammarMatcher zeros(g, vocab);
    EXPECT_FALSE(zeros.accept_bytes("0" + std::to_string(std::max<int64_t>(lo, 1))) && zeros.accepting());
  }
}

TEST(JsonSchema, AllOfMergesBranches) {
  json objects = json::parse(R"({"allOf":[
      {"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
      {"properties":{"b":{"type":"string","maxLength":2}},"required":["b"]}]})");
  EXPECT_TRUE(grammar_accepts(objects, R"({"a": 1, "b": "xy"})"));
  EXPECT_FALSE(grammar_accepts(objects, R"({"a": 1})"));
  EXPECT_FALSE(grammar_accepts(objects, R"({"a": 1, "b": "xyz"})"));
  // A $ref'd base extended by another branch, whose additionalProperties
  // allows only what it lists (so it lists the base's key too).
  json extended = json::parse(R"({"$defs":{"base":{"type":"object","properties":{"id":{"type":"integer","minimum":1}},
      "required":["id"]}},"allOf":[{"$ref":"#/$defs/base"},
      {"properties":{"id":true,"name":{"type":"string"}},"required":["name"],"additionalProperties":false}]})");
  EXPECT_TRUE(grammar_accepts(extended, R"({"id": 1, "name": "n"})"));
  EXPECT_FALSE(grammar_accepts(extended, R"({"id": 0, "name": "n"})"));
  EXPECT_FALSE(grammar_accepts(extended, R"({"name": "n"})"));
  // A property in two branches satisfies both; bounds take the tightest.
  json shared = json::parse(R"({"type":"integer","minimum":0,"allOf":[{"maximum":10},{"exclusiveMaximum":8}]})");
  EXPECT_TRUE(grammar_accepts(shared, "7"));
  EXPECT_FALSE(grammar_accepts(shared, "8"));
  EXPECT_FALSE(grammar_accepts(shared, "-1"));
  json prop = json::parse(R"({"allOf":[{"properties":{"x":{"type":"integer","minimum":0}}},
      {"properties":{"x":{"maximum":5}},"required":["x"]}]})");
  EXPECT_TRUE(grammar_accepts(prop, R"({"x": 5})"));
  EXPECT_FALSE(grammar_accepts(prop, R"({"x": 6})"));
  // Single branch, enum intersection, anyOf distributed over the other branches.
  EXPECT_TRUE(grammar_accepts(json::parse(R"({"allOf":[{"type":"integer","minimum":3}]})"), "3"));
  EXPECT_FALSE(grammar_accepts(json::parse(R"({"allOf":[{"type":"integer","minimum":3}]})"), "2"));
  json values = json::parse(R"({"allOf":[{"enum":["a","b","c"]},{"enum":["b","c","d"]}]})");
  EXPECT_TRUE(grammar_accepts(values, "\"b\""));
  EXPECT_FALSE(grammar_accepts(values, "\"a\""));
  EXPECT_FALSE(grammar_accepts(values, "\"d\""));
  json distributed =
      json::parse(R"({"allOf":[{"anyOf":[{"type":"integer"},{"type":"string"}]},{"type":["string","null"]}]})");
  EXPECT_TRUE(grammar_accepts(distributed, "\"x\""));
  EXPECT_FALSE(grammar_accepts(distributed, "1"));
  EXPECT_FALSE(grammar_accepts(distributed, "null"));
  // additionalProperties false in one branch forbids another branch's optional property.
  json forbids =
      json::parse(R"({"allOf":[{"properties":{"a":{},"b":{}}},{"properties":{"a":{}},"additionalProperties":false}]})");
  EXPECT_TRUE(grammar_accepts(forbids, R"({"a": 1})"));
  EXPECT_FALSE(grammar_accepts(forbids, R"({"a": 1, "b": 2})"));
  // Recursion through allOf (and through a property that two branches share) stays finite.
  json tree = json::parse(R"({"$defs":{
      "node":{"allOf":[{"$ref":"#/$defs/base"},{"properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}}}]},
      "base":{"type":"object","properties":{"v":{"type":"integer"}},"required":["v"]}},"$ref":"#/$defs/node"})");
  // (Properties are generated in key order.)
  EXPECT_TRUE(grammar_accepts(tree, R"({"kids": [{"v": 2}, {"kids": [], "v": 3}], "v": 1})"));
  EXPECT_FALSE(grammar_accepts(tree, R"({"kids": [{}], "v": 1})"));
  json shared_rec = json::parse(R"({"$defs":{"n":{"allOf":[{"properties":{"c":{"$ref":"#/$defs/n"}}},
      {"type":"object","properties":{"c":{"type":"object"}}}]}},"$ref":"#/$defs/n"})");
  EXPECT_TRUE(grammar_accepts(shared_rec, R"({"c": {"c": {}}})"));
  EXPECT_FALSE(grammar_accepts(shared_rec, R"({"c": 1})"));
}

TEST(JsonSchema, PropertyCounts) {
  json two = json::parse(R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},
      "c":{"type":"integer"}},"required":["c"],"minProperties":2,"maxProperties":2})");
  EXPECT_TRUE(grammar_accepts(two, R"({"a": 1, "c": 3})"));
  EXPECT_TRUE(grammar_accepts(two, R"({"b": 2, "c": 3})"));
  EXPECT_FALSE(grammar_accepts(two, R"({"a": 1, "b": 2})"));  // c required
  EXPECT_FALSE(grammar_accepts(two, R"({"c": 3})"));
  EXPECT_FALSE(grammar_accepts(two, R"({"a": 1, "b": 2, "c": 3})"));
  json free = json::parse(R"({"type":"object","maxProperties":2})");
  EXPECT_TRUE(grammar_accepts(free, "{}"));
  EXPECT_TRUE(grammar_accepts(free, R"({"x": 1, "y": [2]})"));
  EXPECT_FALSE(grammar_accepts(free, R"({"x": 1, "y": 2, "z": 3})"));
  json extra = json::parse(
      R"({"type":"object","properties":{"a":{}},"additionalProperties":{"type":"integer"},"maxProperties":2})");
  EXPECT_TRUE(grammar_accepts(extra, R"({"a": null, "zz": 1})"));
  EXPECT_TRUE(grammar_accepts(extra, R"({"zz": 1, "y": 2})"));
  EXPECT_FALSE(grammar_accepts(extra, R"({"a": 1, "x": 1, "y": 2})"));
  EXPECT_FALSE(grammar_accepts(extra, R"({"x": "s"})"));
}

TEST(JsonSchema, SamplerNeverFallsBackToFreeText) {
  auto vocab = testing::make_vocab({"a", "{", "}"});
  Constraint c;
  c.json_schema = json::parse(R"({"type":"object","properties":{"n":{"type":"integer","multipleOf":3}}})");
  auto s = Sampler::create(SamplingParams{}, c, vocab);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("multipleOf"), std::string::npos);
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
