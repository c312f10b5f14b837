// The pre-tokenizer regex engine: semantics of the constructs in use, and linear time
// on inputs that make naive backtracking quadratic.
#include "tokenizer/regex.h"

#include <gtest/gtest.h>

#include <chrono>

#include "base/utf8.h"
#include "tokenizer/unicode.h"

namespace llmchain::tokenizer::detail {
namespace {

std::vector<std::string> split(const std::string& pattern, const std::string& text) {
  Regex re(pattern);
  RegexText t;
  std::vector<uint32_t> cps = decode_utf8(text);
  t.assign(cps);
  std::vector<size_t> lens;
  re.split(t, 0, cps.size(), lens);
  std::vector<std::string> out;
  size_t at = 0;
  for (size_t len : lens) {
    std::string s;
    for (size_t i = at; i < at + len; ++i) append_utf8(s, cps[i]);
    out.push_back(s);
    at += len;
  }
  return out;
}

using V = std::vector<std::string>;
const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

TEST(Regex, Gpt2Pattern) {
  EXPECT_EQ(split(kGpt2, "Hello world's  best!!\t\n x"),
            (V{"Hello", " world", "'s", " ", " best", "!!", "\t\n", " x"}));
  EXPECT_EQ(split(kGpt2, "нещо 123 ½"), (V{"нещо", " 123", " ½"}));
  EXPECT_EQ(split(kGpt2, "a   "), (V{"a", "   "}));  // trailing space run: \s+ to the end
}

TEST(Regex, AlternationIsLeftmostFirstNotLongest) {
  EXPECT_EQ(split("a|ab", "ab"), (V{"a", "b"}));
  EXPECT_EQ(split("ab|a", "ab"), (V{"ab"}));
}

TEST(Regex, CountedRepeatsAndClasses) {
  EXPECT_EQ(split(R"(\p{N}{1,3})", "1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(split("[0-9][0-9][0-9]", "12345"), (V{"123", "45"}));
  EXPECT_EQ(split(R"([^\s\p{L}]+)", "ab!?cd"), (V{"ab", "!?", "cd"}));
  EXPECT_EQ(split(R"([\u{4E00}-\u{9FA5}]+)", "abc我想def"), (V{"abc", "我想", "def"}));
  EXPECT_EQ(split(R"([\-x]+)", "a-x-b"), (V{"a", "-x-", "b"}));
}

TEST(Regex, LookaheadAndCaseInsensitiveGroups) {
  EXPECT_EQ(split(R"(\s+(?!\S))", "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split(R"((?i:'s|'ll))", "IT'S WE'LL"), (V{"IT", "'S", " WE", "'LL"}));
  // (?=[\p{L}])[^a-z] is "a letter that is not a-z".
  EXPECT_EQ(split(R"(((?=[\p{L}])([^a-z]))+)", "abCDÉfg"), (V{"ab", "CDÉ", "fg"}));
  // Empty matches only split.
  EXPECT_EQ(split(R"((?=(\d{3})+(?!\d)))", "1234567"), (V{"1", "234", "567"}));
}

TEST(Regex, AnchorsAreTheRangeEnds) {
  EXPECT_EQ(split(R"(\s+$)", "a  b  "), (V{"a  b", "  "}));
  EXPECT_EQ(split(R"(^a)", "aaa"), (V{"a", "aa"}));
  EXPECT_EQ(split(R"(\d{1,3}(?=(?:\d{3})*\b))", "1234567 x"), (V{"1", "234", "567", " x"}));
}

TEST(Regex, NonAsciiWhitespaceIsSpaceNotLiteral) {
  // As llama.cpp (U+3000 is seen as U+000B): \s matches it, a literal range does not.
  EXPECT_EQ(split(R"([\u{3000}-\u{3002}]+)", "a\u3000\u3001b"), (V{"a\u3000", "\u3001", "b"}));
  EXPECT_EQ(split(R"(\s+)", "a\u3000b"), (V{"a", "\u3000", "b"}));
  // '~' is not \p{S} (llama.cpp's ASCII table), '+' is.
  EXPECT_EQ(split(R"(\p{S}+)", "a~+b"), (V{"a~", "+", "b"}));
}

TEST(Regex, RejectsUnsupportedSyntax) {
  EXPECT_ANY_THROW(Regex("(?<=a)b"));
  EXPECT_ANY_THROW(Regex("a**"));
  EXPECT_ANY_THROW(Regex("[b-a]"));
  EXPECT_ANY_THROW(Regex(R"(\p{Han})"));
  EXPECT_ANY_THROW(Regex("(a"));
}

double seconds_to_split(const std::string& pattern, const std::string& text, size_t* pieces) {
  Regex re(pattern);
  RegexText t;
  std::vector<uint32_t> cps = decode_utf8(text);
  t.assign(cps);
  std::vector<size_t> lens;
  auto start = std::chrono::steady_clock::now();
  re.split(t, 0, cps.size(), lens);
  *pieces = lens.size();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(Regex, LinearOnLongRuns) {
  size_t pieces = 0;
  // 1M spaces then a letter: "\s+$" retried at every position would be quadratic.
  std::string spaces(1 << 20, ' ');
  EXPECT_LT(seconds_to_split(R"(\s+$)", spaces + "a", &pieces), 2.0);
  EXPECT_EQ(pieces, 1u);
  EXPECT_LT(seconds_to_split(R"(\s*[\r\n]+|\s+(?!\S)|\s+)", spaces + "a", &pieces), 2.0);
  EXPECT_EQ(pieces, 3u);  // all spaces but the last, the last, "a"
  std::string letters(1 << 20, 'x');
  EXPECT_LT(seconds_to_split(kGpt2, letters, &pieces), 2.0);
  EXPECT_EQ(pieces, 1u);
  EXPECT_LT(seconds_to_split(R"(((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+)", letters, &pieces), 2.0);
  EXPECT_EQ(pieces, 1u);
}

}  // namespace
}  // namespace llmchain::tokenizer::detail
