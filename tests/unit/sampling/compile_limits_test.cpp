// Constraints from requests are outside input: however large or deep, compiling one ends with
// a clean error (never a crash, a hang or a stall of the decode loop), within its budget.
#include <gtest/gtest.h>

#include <chrono>
#include <stop_token>
#include <string>

#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"
#include "sampling/json_schema.h"
#include "sampling/sampler.h"
#include "test_vocab.h"

namespace llmchain::sampling {
namespace {

using nlohmann::json;

// prefix + i (not operator+: g++ 12 warns falsely on it, -Wrestrict)
std::string numbered(const char* prefix, size_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

Expected<std::unique_ptr<Sampler>> compile(const json& schema, const CompileBudget& budget = {}) {
  Constraint c;
  c.json_schema = schema;
  return Sampler::create(SamplingParams{}, c, testing::realistic_vocab(), budget);
}

// Wide objects compile (rule names used to be found by a linear scan: n^2 for n members).
TEST(CompileLimits, WideObjectsCompile) {
  json props = json::object(), required = json::array();
  for (int i = 0; i < 5000; ++i) {
    props[numbered("p", i)] = {{"type", "integer"}};
    if (i % 2 == 0) required.push_back(numbered("p", i));
  }
  auto s = compile({{"type", "object"}, {"properties", props}, {"required", required}});
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_TRUE((*s)->constrained());
}

TEST(CompileLimits, TooManyOpenAlternativesIs400) {
  json any = json::array();
  for (size_t i = 0; i < GrammarMatcher::kMaxStacks + 100; ++i) any.push_back({{"const", numbered("v", i)}});
  auto s = compile({{"anyOf", any}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("too complex"), std::string::npos) << s.error().message();
  // A few thousand branches are fine.
  any.erase(any.begin() + 3000, any.end());
  EXPECT_TRUE(compile({{"anyOf", any}}).ok());
}

TEST(CompileLimits, DeadlineAndStop) {
  json props = json::object();
  for (int i = 0; i < 2000; ++i) props[numbered("p", i)] = {{"type", "string"}};
  const json schema = {{"type", "object"}, {"properties", props}};
  CompileBudget past;
  past.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto late = compile(schema, past);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(late.error().message().find("too expensive"), std::string::npos);

  std::stop_source stop;
  stop.request_stop();
  CompileBudget stopped;
  stopped.stop = stop.get_token();
  auto cancelled = compile(schema, stopped);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().code(), ErrorCode::kCancelled);
}

// Nesting that the compilers recurse on is bounded: an error, never a stack overflow.
TEST(CompileLimits, DeepNestingIsAnError) {
  // $ref chains (JSON nesting itself is bounded by the server's body parser).
  json defs = json::object();
  for (int i = 0; i < 2000; ++i) defs[numbered("d", i)] = {{"$ref", numbered("#/$defs/d", i + 1)}};
  defs["d2000"] = {{"type", "string"}};
  auto chain = json_schema_to_gbnf({{"$defs", defs}, {"$ref", "#/$defs/d0"}});
  ASSERT_FALSE(chain.ok());
  EXPECT_NE(chain.error().message().find("nested"), std::string::npos) << chain.error().message();

  // Regex groups in a string pattern.
  auto pattern =
      json_schema_to_gbnf({{"type", "string"}, {"pattern", std::string(40000, '(') + std::string(40000, ')')}});
  ASSERT_FALSE(pattern.ok());

  // GBNF groups.
  auto groups = parse_gbnf("root ::= " + std::string(40000, '(') + "\"a\"" + std::string(40000, ')') + "\n");
  ASSERT_FALSE(groups.ok());

  // GBNF rule chains: each rule's first element calls the next.
  std::string chain_gbnf = "root ::= r0\n";
  for (int i = 0; i < 5000; ++i) chain_gbnf += numbered("r", i) + " ::= r" + std::to_string(i + 1) + " \"x\"\n";
  chain_gbnf += "r5000 ::= \"y\"\n";
  Constraint c;
  c.grammar = chain_gbnf;
  auto deep = Sampler::create(SamplingParams{}, c, testing::realistic_vocab());
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
// Found by the fuzz harnesses: each is refused with an error that says what is wrong.
TEST(CompileLimits, SchemaShapesTheGrammarCannotHold) {
  // "^a|b" is (^a)|(b): anchors bind one branch; silently anchoring both would be wrong.
  auto anchored = json_schema_to_gbnf({{"type", "string"}, {"pattern", "^a|b"}});
  ASSERT_FALSE(anchored.ok());
  EXPECT_NE(anchored.error().message().find("group the alternatives"), std::string::npos);
  EXPECT_TRUE(json_schema_to_gbnf({{"type", "string"}, {"pattern", "^(a|b)$"}}).ok());
  // A $ref cycle with nothing in between describes no document.
  auto cycle = compile(
      json::parse(R"({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}})"));
  ASSERT_FALSE(cycle.ok());
  EXPECT_NE(cycle.error().message().find("cycle"), std::string::npos) << cycle.error().message();
  // Through anyOf, the cycle reaches the grammar, whose left recursion is reported in schema terms.
  auto left = compile(
      json::parse(R"({"$ref": "#/$defs/a", "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]}}})"));
  ASSERT_FALSE(left.ok());
  EXPECT_NE(left.error().message().find("refers back to itself"), std::string::npos) << left.error().message();
}

}  // namespace llmchain::sampling
