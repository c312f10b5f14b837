// Budget-aware constrained decoding: shortest completions against brute
// force, outputs that complete within their token budget for many schemas and
// seeds, and the bounded whitespace of the JSON grammars.
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>

#include "json_schema_validator.h"
#include "sampling/grammar.h"
#include "sampling/grammar_completion.h"
#include "sampling/grammar_matcher.h"
#include "sampling/json_schema.h"
#include "sampling/sampler.h"
#include "test_vocab.h"

namespace llmchain::sampling {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::shared_ptr<const Grammar> grammar(const std::string& gbnf) { return parse_gbnf(gbnf).value(); }

// Fewest tokens that extend `prefix` to a complete sentence: breadth-first
// over texts (a matcher's state depends only on its text), up to max_depth.
int brute_min_tokens(const std::shared_ptr<const Grammar>& g, const std::shared_ptr<const CompiledVocab>& v,
                     const std::string& prefix, int max_depth) {
  std::set<std::string> seen = {prefix};
  std::deque<std::pair<std::string, int>> todo = {{prefix, 0}};
  while (!todo.empty()) {
    auto [text, depth] = todo.front();
    todo.pop_front();
    GrammarMatcher m(g, v);
    if (!m.accept_bytes(text)) continue;
    if (m.accepting()) return depth;
    if (depth == max_depth) continue;
    for (int32_t t = 0; t < v->size(); ++t) {
      if (v->bytes(t).empty() || !m.can_accept_token(t)) continue;
      std::string next = text + v->bytes(t);
      if (seen.insert(next).second) todo.push_back({next, depth + 1});
    }
  }
  return GrammarMatcher::kNoCompletion;
}

std::vector<std::string> all_bytes() {
  std::vector<std::string> out;
  for (int b = 0; b < 256; ++b) out.emplace_back(1, static_cast<char>(b));
  return out;
}

struct Case {
  const char* gbnf;
  std::vector<std::string> prefixes;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {R"(root ::= "ab" | "c" "d"*)", {"", "a", "c", "cdd"}},
      {R"g(root ::= x x x
x ::= "(" x? ")" | [a-c]{2,3})g",
       {"", "(", "((", "ab", "abc(", "((a"}},
      {R"(root ::= "{" ws (kv (ws "," ws kv)*)? ws "}"
kv ::= "\"" [a-c]+ "\"" ws ":" ws ("[" ws "]" | "1" [0-9]*)
ws ::= " "?)",
       {"", "{", "{\"", "{\"ab", "{\"a\": [", "{\"a\":12, "}},
      {R"(root ::= "é" [α-ω]{2} | "😀")", {"", "\xC3", "é", "\xF0\x9F"}},
      {R"(root ::= [0-9]{3,} "x" | "longer" [0-9]+ "y")", {"", "1", "12", "long"}},
  };
  return c;
}

// With every byte a token and nothing else, tokens are bytes: the estimate
// must be exactly the brute-force minimum.
TEST(Budget, MinCompletionMatchesBruteForceOnBytes) {
  auto v = testing::make_vocab(all_bytes());
  for (const Case& c : cases()) {
    auto g = grammar(c.gbnf);
    for (const std::string& prefix : c.prefixes) {
      GrammarMatcher m(g, v);
      ASSERT_TRUE(m.accept_bytes(prefix)) << c.gbnf << " / " << prefix;
      EXPECT_EQ(m.min_tokens_to_complete(), brute_min_tokens(g, v, prefix, 12)) << c.gbnf << " / '" << prefix << "'";
    }
  }
}

// With multi-byte tokens the estimate may exceed the true minimum, never
// fall below it, and must be achieved by following can_accept_token_within.
TEST(Budget, MinCompletionNeverUnderestimatesWithMultiByteTokens) {
  std::vector<std::string> pieces = all_bytes();
  for (const char* p : {"ab", "cd", "ddd", "((", "))", "{\"", "\":", "\": ", "[]", "123", ", \"", "é", "αβ", "\"}",
                        "longer", "00x", "x"}) {
    pieces.push_back(p);
  }
  auto v = testing::make_vocab(pieces);
  for (const Case& c : cases()) {
    auto g = grammar(c.gbnf);
    for (const std::string& prefix : c.prefixes) {
      GrammarMatcher m(g, v);
      ASSERT_TRUE(m.accept_bytes(prefix));
      const int est = m.min_tokens_to_complete();
      const int exact = brute_min_tokens(g, v, prefix, 10);
      EXPECT_GE(est, exact) << c.gbnf << " / '" << prefix << "'";
      // Achievable: with exactly `est` tokens, greedily taking the first
      // passing token always ends in an accepting state.
      for (int left = est; left > 0 && !m.accepting(); --left) {
        int32_t pick = -1;
        for (int32_t t = 0; t < v->size() && pick < 0; ++t) {
          if (!v->is_eog(t) && m.can_accept_token_within(t, left)) pick = t;
        }
        ASSERT_GE(pick, 0) << c.gbnf << " / '" << prefix << "' stuck with " << left << " left";
        ASSERT_TRUE(m.accept_token(pick));
      }
      EXPECT_TRUE(m.accepting()) << c.gbnf << " / '" << prefix << "'";
    }
  }
}

// The priced set (tokens_within) is exactly the tokens that pass the
// one-by-one check of a matcher that never priced them.
TEST(Budget, TokensWithinMatchesTokenByTokenChecks) {
  auto v = testing::realistic_vocab(5000);  // strings allow > kSmallMaskTokens: priced
  json schema = json::parse(R"({"type":"object","properties":{"name":{"type":"string"},
      "tags":{"type":"array","items":{"type":"string"},"minItems":2},"n":{"type":"integer","minimum":-5,"maximum":900}},
      "required":["name","tags","n"]})");
  auto g = grammar(json_schema_to_gbnf(schema).value());
  int tested = 0;
  for (const std::string prefix :
       {"", "{\"n\":8", "{\"n\": -3, \"name\": \"abc", "{\"n\":0,\"name\":\"\",\"tags\":[\"x\", \"y",
        "{\"name\":\"\",\"n\":8", "{\"name\": \"abc"}) {
    GrammarMatcher priced(g, v);
    if (!priced.accept_bytes(prefix)) continue;  // one key order is valid, not both
    ++tested;
    const int need = priced.min_tokens_to_complete();
    for (int budget : {need, need + 1, need + 3, need * 2}) {
      GrammarMatcher plain(g, v);
      ASSERT_TRUE(plain.accept_bytes(prefix));
      std::vector<int32_t> expect, got;
      for (int32_t t = 0; t < v->size(); ++t) {
        if (plain.can_accept_token_within(t, budget)) expect.push_back(t);
      }
      priced.tokens_within(budget, got);
      EXPECT_EQ(got, expect) << "'" << prefix << "' budget " << budget;
      EXPECT_FALSE(got.empty());
      for (int32_t t : got) EXPECT_TRUE(priced.can_accept_token_within(t, budget));
    }
  }
  EXPECT_GE(tested, 3);
}

TEST(Budget, CompletionTableShortestStrings) {
  auto g = grammar(R"(root ::= "abc" | x "d"
x ::= [0-9] [0-9] | "é")");
  CompletionTable t(*g);
  std::string out;
  ASSERT_TRUE(t.append_suffix(g->rule_alts[g->root][1], out, 100));
  EXPECT_EQ(out, "00d");  // "éd" is 3 bytes too; the first shortest alternative wins
  EXPECT_EQ(t.suffix_bytes(g->rule_alts[g->root][0]), 3u);
  CharSet neg;
  neg.negated = true;
  neg.ranges = {{0, 0x20}, {'"', '"'}};
  EXPECT_EQ(first_match(neg, 0, 0x10FFFF), 0x21);
  CharSet sur;
  sur.ranges = {{0xD000, 0xE005}};
  EXPECT_EQ(first_match(sur, 0xD800, 0xFFFF), 0xE000);
}

// A model that knows nothing of JSON and prefers to keep writing: without the
// budget its strings and arrays run past any small max_tokens.
struct ChattyModel {
  std::vector<float> bonus;
  explicit ChattyModel(const CompiledVocab& v) : bonus(v.size(), 0.0f) {
    for (int32_t t = 0; t < v.size(); ++t) {
      const std::string& b = v.bytes(t);
      if (v.is_eog(t)) bonus[t] = -4;
      if (b.find_first_of("\"}]") != std::string::npos) bonus[t] = -3;
      if (b.find_first_of(",[{") != std::string::npos) bonus[t] = 1.5f;
    }
  }
  void fill(std::vector<float>& logits, std::mt19937& rng) const {
    std::normal_distribution<float> nd(0.0f, 1.5f);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = nd(rng) + bonus[i];
  }
};

json random_schema(std::mt19937& rng, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  int kind = depth > 2 ? pick(5) : pick(8);
  switch (kind) {
    case 0: {
      json s = {{"type", "string"}};
      if (pick(2)) s["minLength"] = pick(4);
      if (pick(3) == 0) s["maxLength"] = 6 + pick(20);
      return s;
    }
    case 1: {
      json s = {{"type", "integer"}};
      if (pick(2)) {
        int lo = pick(2000) - 1000;
        s["minimum"] = lo;
        s["maximum"] = lo + pick(5000);
      }
      return s;
    }
    case 2: return {{"type", "number"}};
    case 3: return {{"type", "boolean"}};
    case 4: return {{"enum", {"red", "green", "a much longer value", 7}}};
    case 5:
    case 6: {
      json s = {{"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}};
      json req = json::array();
      int n = 1 + pick(4);
      for (int i = 0; i < n; ++i) {
        std::string name = std::string("field_") + static_cast<char>('a' + i);
        s["properties"][name] = random_schema(rng, depth + 1);
        if (pick(3)) req.push_back(name);
      }
      s["required"] = req;
      return s;
    }
    default: {
      json s = {{"type", "array"}, {"items", random_schema(rng, depth + 1)}};
      if (pick(2)) s["minItems"] = 1 + pick(3);
      return s;
    }
  }
}

struct Outcome {
  bool complete = false;
  int tokens = 0;
  std::string text;
};

// Runs one constrained generation of at most `budget` tokens, the budget
// logic on or off (off: the plain constraint, cut at the budget).
Outcome generate(const json& schema, const std::shared_ptr<const CompiledVocab>& v, const ChattyModel& model,
                 uint64_t seed, int budget, bool budget_logic, int* min_tokens = nullptr) {
  SamplingParams p;
  p.seed = seed;
  p.temperature = 1.0f;
  p.top_k = seed % 2 ? 40 : 0;
  p.top_p = seed % 3 == 0 ? 0.9f : 1.0f;
  p.min_p = seed % 2 ? 0.05f : 0.0f;
  Constraint c;
  c.json_schema = schema;
  auto s = Sampler::create(p, c, v).value();
  if (min_tokens) *min_tokens = s->min_tokens_to_complete();
  std::mt19937 rng(static_cast<uint32_t>(seed) * 7919u + 17u);
  std::vector<float> logits(v->size());
  Outcome o;
  for (; o.tokens < budget; ++o.tokens) {
    if (budget_logic) s->set_budget(budget - o.tokens);
    model.fill(logits, rng);
    SampleResult r = s->sample(logits.data(), v->size());
    if (r.token < 0 || !s->accept(r.token)) return o;
    if (v->is_eog(r.token)) break;
    o.text += v->bytes(r.token);
    if (s->grammar_done()) {
      ++o.tokens;
      break;
    }
  }
  o.complete = s->grammar_complete();
  return o;
}

TEST(Budget, RandomSchemasCompleteWithinBudget) {
  auto v = testing::realistic_vocab(5000);
  ChattyModel model(*v);
  std::mt19937 rng(42);
  int runs = 0, cut_without = 0;
  for (int i = 0; i < 40; ++i) {
    json schema = random_schema(rng, 0);
    if (!schema.contains("type") || schema["type"] != "object") {
      schema = {{"type", "object"}, {"properties", {{"v", schema}}}, {"required", {"v"}}};
    }
    int need = 0;
    generate(schema, v, model, 1, 0, true, &need);
    ASSERT_GT(need, 0);
    ASSERT_LT(need, 400) << schema.dump();
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      for (int budget : {need, need + 1, need * 2, need * 4}) {
        Outcome o = generate(schema, v, model, seed, budget, true);
        ++runs;
        ASSERT_TRUE(o.complete) << schema.dump() << " seed " << seed << " budget " << budget << ": " << o.text;
        EXPECT_LE(o.tokens, budget);
        json out;
        ASSERT_NO_THROW(out = json::parse(o.text)) << o.text;
        EXPECT_EQ(testing::validate_json(out, schema, schema), "") << schema.dump() << ": " << o.text;
        if (!generate(schema, v, model, seed, budget, false).complete) ++cut_without;
      }
    }
  }
  std::cout << "[ budget ] " << runs << " runs complete and valid; without the budget logic " << cut_without
            << " would have been cut\n";
  EXPECT_GT(cut_without, runs / 4);  // the test does exercise the budget
}

TEST(Budget, SchemaCorpusCompletesAtShortestBudget) {
  auto v = testing::realistic_vocab(5000);
  ChattyModel model(*v);
  const fs::path dir = fs::path(LLMCHAIN_SOURCE_DIR) / "tests/data/schemas";
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream f(e.path());
    json schema = json::parse(f);
    int need = 0;
    generate(schema, v, model, 1, 0, true, &need);
    ASSERT_NE(need, Sampler::kNoCompletion) << e.path();
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      for (int budget : {need, need * 2}) {
        Outcome o = generate(schema, v, model, seed, budget, true);
        ASSERT_TRUE(o.complete) << e.path().filename() << " budget " << budget << ": " << o.text;
        json out;
        ASSERT_NO_THROW(out = json::parse(o.text)) << o.text;
        EXPECT_EQ(testing::validate_json(out, schema, schema), "") << e.path().filename() << ": " << o.text;
      }
    }
  }
}

TEST(Budget, ShortestPersonDocumentIsCompact) {
  // {"name": string, "age": integer}, both required: {"name":"","age":0}.
  json schema = json::parse(R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},
                               "required":["name","age"]})");
  auto bytes_only = testing::make_vocab(all_bytes());
  Constraint c;
  c.json_schema = schema;
  auto s = Sampler::create({}, c, bytes_only).value();
  EXPECT_EQ(s->min_tokens_to_complete(), static_cast<int32_t>(std::string(R"({"name":"","age":0})").size()));
  auto v = testing::realistic_vocab(5000);
  auto s2 = Sampler::create({}, c, v).value();
  EXPECT_LT(s2->min_tokens_to_complete(), 19);  // multi-byte tokens spell it shorter
}

TEST(Budget, GrammarDoneEndsTheDocument) {
  auto v = testing::make_vocab(all_bytes());
  Constraint c;
  c.json_object = true;
  auto s = Sampler::create({}, c, v).value();
  for (char ch : std::string("{}")) {
    EXPECT_FALSE(s->grammar_done());
    ASSERT_TRUE(s->accept(static_cast<uint8_t>(ch)));
  }
  EXPECT_TRUE(s->grammar_complete());
  EXPECT_TRUE(s->grammar_done());  // nothing may follow the object
  Constraint num;
  num.grammar = R"(root ::= [0-9]+)";
  auto n = Sampler::create({}, num, v).value();
  ASSERT_TRUE(n->accept('7'));
  EXPECT_TRUE(n->grammar_complete());
  EXPECT_FALSE(n->grammar_done());  // more digits may follow
}

// Whitespace in JSON grammars: at most one space, or a newline and up to 20
// spaces or tabs, between tokens.
TEST(Budget, JsonWhitespaceIsBounded) {
  auto v = testing::make_vocab(all_bytes());
  json schema = json::parse(R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"integer"}}},
                               "required":["a"]})");
  auto g_schema = grammar(json_schema_to_gbnf(schema).value());
  auto g_object = grammar(json_object_gbnf());
  auto accepts = [&](const std::shared_ptr<const Grammar>& g, const std::string& text) {
    GrammarMatcher m(g, v);
    return m.accept_bytes(text) && m.accepting();
  };
  const std::string indent20(20, ' '), indent21(21, ' ');
  for (const auto& g : {g_schema, g_object}) {
    EXPECT_TRUE(accepts(g, R"({"a":[1,2]})"));
    EXPECT_TRUE(accepts(g, R"({ "a" : [ 1 , 2 ] })"));
    EXPECT_TRUE(accepts(g, "{\n" + indent20 + "\"a\": [\n\t\t1,\n  2\n]\n}"));
    EXPECT_FALSE(accepts(g, R"({  "a":[1,2]})"));  // two spaces
    EXPECT_FALSE(accepts(g, "{\n" + indent21 + "\"a\":[1,2]}"));
    EXPECT_FALSE(accepts(g, "{\n\n\"a\":[1,2]}"));  // blank lines
    EXPECT_FALSE(accepts(g, "{\"a\":[1, \n2]}"));   // a space, then a newline
  }
}

}  // namespace
}  // namespace llmchain::sampling
