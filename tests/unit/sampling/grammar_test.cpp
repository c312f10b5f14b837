#include "sampling/grammar.h"

#include <gtest/gtest.h>

#include <random>

#include "sampling/grammar_matcher.h"
#include "test_vocab.h"

namespace llmchain::sampling {
namespace {

using testing::make_vocab;

bool matches(const std::string& gbnf, const std::string& text) {
  auto g = parse_gbnf(gbnf);
  EXPECT_TRUE(g.ok()) << g.error().message();
  GrammarMatcher m(*g, make_vocab({"a"}));
  return m.accept_bytes(text) && m.accepting();
}

std::string parse_error(const std::string& gbnf) {
  auto g = parse_gbnf(gbnf);
  return g.ok() ? "" : g.error().message();
}

TEST(Gbnf, LiteralsAlternativesGroups) {
  const std::string g = "root ::= \"ab\" (\"c\" | \"d\" \"e\")  # comment\n";
  EXPECT_TRUE(matches(g, "abc"));
  EXPECT_TRUE(matches(g, "abde"));
  EXPECT_FALSE(matches(g, "abd"));
  EXPECT_FALSE(matches(g, "abce"));
  EXPECT_FALSE(matches(g, ""));
}

TEST(Gbnf, Repetitions) {
  EXPECT_TRUE(matches("root ::= \"a\"*", ""));
  EXPECT_TRUE(matches("root ::= \"a\"*", "aaaa"));
  EXPECT_FALSE(matches("root ::= \"a\"+", ""));
  EXPECT_TRUE(matches("root ::= \"a\"+ \"b\"?", "aab"));
  EXPECT_FALSE(matches("root ::= \"a\"+ \"b\"?", "abb"));
  const std::string r = "root ::= [0-9]{2,4} \"x\"{3} (\"ab\"){1,}";
  EXPECT_FALSE(matches(r, "1xxxab"));
  EXPECT_TRUE(matches(r, "12xxxab"));
  EXPECT_TRUE(matches(r, "1234xxxabab"));
  EXPECT_FALSE(matches(r, "12345xxxab"));
  EXPECT_FALSE(matches(r, "12xxab"));
  EXPECT_FALSE(matches(r, "12xxx"));
  EXPECT_TRUE(matches("root ::= \"a\"{0,2}", ""));
  EXPECT_FALSE(matches("root ::= \"a\"{0,2}", "aaa"));
}

// x* and x+ where x can match "" are not left recursion: they mean (x without "")*.
TEST(Gbnf, RepetitionOfWhatCanBeEmpty) {
  const std::string g = "root ::= (\"foo\" | \"\")+ \"rba\"";
  EXPECT_TRUE(matches(g, "rba"));
  EXPECT_TRUE(matches(g, "foofoorba"));
  EXPECT_FALSE(matches(g, "fooforba"));
  const std::string seq = "root ::= (a? b? \"c\"? a)* \"!\"\na ::= \"x\"*\nb ::= \"y\" | \"\"";
  EXPECT_TRUE(matches(seq, "!"));
  EXPECT_TRUE(matches(seq, "xyc!"));
  EXPECT_TRUE(matches(seq, "yxxcyx!"));
  EXPECT_TRUE(matches(seq, "cc!"));
  EXPECT_FALSE(matches(seq, "yz!"));
  EXPECT_TRUE(matches("root ::= (\"\" | (\"\")*)* \"a\"", "a"));  // only "" inside
  EXPECT_FALSE(matches("root ::= (\"\" | (\"\")*)* \"a\"", "aa"));
  EXPECT_TRUE(matches("root ::= (\"a\"?){2,} \"b\"", "aaab"));
  EXPECT_TRUE(matches("root ::= (\"a\"?){2,} \"b\"", "b"));
  // still refused: recursion before anything is consumed
  EXPECT_NE(parse_error("root ::= (\"\" root)* \"a\"").find("left-recursive"), std::string::npos);
}

// Against a brute-force reading: every string over {a, b} up to length 6 matches the
// grammar exactly when it matches the same pattern with the nullable group spelled out.
TEST(Gbnf, RepetitionOfWhatCanBeEmptyAgreesWithExpansion) {
  const std::string nullable = "root ::= (\"a\"? \"b\"?)* \"b\"";
  const std::string expanded = "root ::= (\"a\" | \"b\")* \"b\"";
  for (int len = 0; len <= 6; ++len) {
    for (int bits = 0; bits < (1 << len); ++bits) {
      std::string s;
      for (int i = 0; i < len; ++i) s += (bits >> i) & 1 ? 'b' : 'a';
      EXPECT_EQ(matches(nullable, s), matches(expanded, s)) << s;
    }
  }
}

TEST(Gbnf, CharClassesAndEscapes) {
  const std::string g = "root ::= [a-cx] [^0-9\\n] . [\\x41-\\u0043] \"\\t\\\"\\\\\"";
  EXPECT_TRUE(matches(g, "a!zB\t\"\\"));
  EXPECT_TRUE(matches(g, "xé日C\t\"\\"));
  EXPECT_FALSE(matches(g, "d!zB\t\"\\"));
  EXPECT_FALSE(matches(g, "a5zB\t\"\\"));
  EXPECT_FALSE(matches(g, "a\nzB\t\"\\"));
  EXPECT_FALSE(matches(g, "a!zD\t\"\\"));
  EXPECT_TRUE(matches("root ::= [^\"]+", "日本語"));
  EXPECT_TRUE(matches("root ::= \"日本\"", "日本"));
}

TEST(Gbnf, RulesRecursionAndMultiline) {
  const std::string g = R"g(
# balanced parentheses
root  ::= item+
item  ::= "(" root? ")"
        | [a-z]
)g";
  EXPECT_TRUE(matches(g, "(a(b)c)"));
  EXPECT_TRUE(matches(g, "(())x"));
  EXPECT_FALSE(matches(g, "(()"));
  EXPECT_FALSE(matches(g, "())"));
  const std::string nested = "root ::= (\n  \"a\"\n  | \"b\"\n)  \"c\"\n";
  EXPECT_TRUE(matches(nested, "bc"));
}

TEST(Gbnf, Errors) {
  EXPECT_NE(parse_error("root ::= foo"), "");
  EXPECT_NE(parse_error("root ::= foo").find("'foo'"), std::string::npos);
  EXPECT_NE(parse_error("rot ::= \"a\"").find("no 'root'"), std::string::npos);
  EXPECT_NE(parse_error("root ::= \"a").find("unterminated"), std::string::npos);
  EXPECT_NE(parse_error("root ::= root \"a\" | \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(parse_error("root ::= x? root \"a\"\nx ::= \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(parse_error("root ::= \"a\"\nroot ::= \"b\"").find("twice"), std::string::npos);
  EXPECT_NE(parse_error("root ::= [b-a]"), "");
  EXPECT_NE(parse_error("root ::= *"), "");
  EXPECT_NE(parse_error("root ::= \"\\q\"").find("line 1"), std::string::npos);
}

bool allowed(const std::vector<uint64_t>& mask, int32_t t) { return (mask[t >> 6] >> (t & 63)) & 1; }

std::vector<int32_t> allowed_list(GrammarMatcher& m) {
  std::vector<int32_t> out;
  const auto& mask = m.allowed_tokens();
  for (int32_t t = 0; t < static_cast<int32_t>(mask.size() * 64); ++t) {
    if (allowed(mask, t)) out.push_back(t);
  }
  return out;
}

TEST(GrammarMatcher, MasksToyVocab) {
  //                        0    1    2     3     4     5    6     7    8 (control) 9 (EOG)
  auto vocab = make_vocab({"a", "b", "ab", "ac", "c1", "1", "12", "x", ""});
  GrammarMatcher m(*parse_gbnf("root ::= \"ab\" | \"ac\" [0-9]*"), vocab);
  EXPECT_EQ(allowed_list(m), (std::vector<int32_t>{0, 2, 3}));
  ASSERT_TRUE(m.accept_token(0));
  EXPECT_EQ(allowed_list(m), (std::vector<int32_t>{1, 4}));
  ASSERT_TRUE(m.accept_token(4));  // "ac1"
  EXPECT_EQ(allowed_list(m), (std::vector<int32_t>{5, 6, 9}));
  EXPECT_FALSE(m.accept_token(7));
  EXPECT_FALSE(m.accept_token(8));
  ASSERT_TRUE(m.accept_token(6));
  EXPECT_TRUE(m.accepting());
  ASSERT_TRUE(m.accept_token(9));
  EXPECT_TRUE(m.finished());
  EXPECT_TRUE(allowed_list(m).empty());
}

TEST(GrammarMatcher, TokensSplittingUtf8Characters) {
  // "é" = C3 A9, "日" = E6 97 A5
  auto vocab = make_vocab({"\xC3", "\xA9", "\xE6", "\x97\xA5", "e", "\xC3\xA9"});
  GrammarMatcher m(*parse_gbnf("root ::= [^a-z]"), vocab);
  // Lead bytes may start an allowed character; a lone continuation byte may not; "e" is excluded.
  EXPECT_EQ(allowed_list(m), (std::vector<int32_t>{0, 2, 5}));
  ASSERT_TRUE(m.accept_token(2));
  // E6 A9 could still become U+6A40..U+6A7F, all outside [a-z]: allowed too.
  EXPECT_EQ(allowed_list(m), (std::vector<int32_t>{1, 3}));
  ASSERT_TRUE(m.accept_token(3));
  EXPECT_TRUE(m.accepting());
  // A class limited to ASCII rejects any lead byte.
  GrammarMatcher ascii(*parse_gbnf("root ::= [a-z]"), vocab);
  EXPECT_EQ(allowed_list(ascii), (std::vector<int32_t>{4}));
  // A class that contains only "é" allows the C3 lead byte but not E6.
  GrammarMatcher e(*parse_gbnf("root ::= \"é\""), vocab);
  EXPECT_EQ(allowed_list(e), (std::vector<int32_t>{0, 5}));
}

TEST(GrammarMatcher, MaskAgreesWithTokenByTokenCheckOnRealisticVocab) {
  auto vocab = testing::realistic_vocab(3000);
  auto g = *parse_gbnf(R"(root ::= "{" ws "\"k\":" ws ("\"" [^"\\]{0,12} "\"" | [0-9]+) ws "}"
ws ::= [ \n]{0,3})");
  GrammarMatcher m(g, vocab);
  std::mt19937 rng(5);
  for (int step = 0; step < 40 && !m.finished(); ++step) {
    const auto& mask = m.allowed_tokens();
    std::vector<int32_t> ok;
    for (int32_t t = 0; t < vocab->size(); ++t) {
      bool can = m.can_accept_token(t);  // brute force: token by token, no trie
      ASSERT_EQ(can, allowed(mask, t)) << "step " << step << " token '" << vocab->bytes(t) << "'";
      if (can) ok.push_back(t);
    }
    ASSERT_FALSE(ok.empty());
    ASSERT_TRUE(m.accept_token(ok[rng() % ok.size()]));
  }
}

}  // namespace
}  // namespace llmchain::sampling
