// Large inputs finish in linear-ish time for every family (no quadratic merges or
// regex backtracking): 1 MB without spaces, and 1 MB of mixed text.
#include <gtest/gtest.h>

#include <chrono>

#include "tokenizer/tokenizer.h"
#include "unit/tokenizer/test_util.h"

namespace llmchain::tokenizer {
namespace {

double seconds(const std::function<void()>& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string no_space_text(size_t bytes) {
  static const char* const kParts[] = {"abcdefgh", "ЖЗИЙКЛ", "我想在", "12345", "!!??", "éèêë", "\xF0\x9F\xA6\x99"};
  std::string s;
  for (size_t i = 0; s.size() < bytes; ++i) s += kParts[(i * 7 + i / 3) % 7];
  return s;
}

class Throughput : public ::testing::TestWithParam<std::string> {};

TEST_P(Throughput, OneMegabyteWithoutSpaces) {
  auto t = test::load(test::vocab_path(GetParam()));
  ASSERT_TRUE(t);
  const std::string text = no_space_text(1 << 20);
  std::vector<int32_t> ids;
  double s = seconds([&] { ids = t->encode(text, false, false); });
  EXPECT_LT(s, 10.0) << GetParam();
  EXPECT_GT(ids.size(), 1000u);
  if (GetParam() != "bert-bge") {
    std::string back;
    s = seconds([&] { back = t->decode(ids); });
    EXPECT_LT(s, 2.0);
    EXPECT_EQ(back, text);
  }
}

// The worst case for merges: one 1M-character word whose pairs all merge.
TEST_P(Throughput, OneMegabyteOfOneCharacter) {
  if (GetParam() != "llama-spm" && GetParam() != "gpt-2" && GetParam() != "deepseek-llm") GTEST_SKIP();
  auto t = test::load(test::vocab_path(GetParam()));
  ASSERT_TRUE(t);
  for (char c : {'a', ' '}) {
    const std::string text(1 << 20, c);
    double s = seconds([&] { (void)t->encode(text, false, false); });
    EXPECT_LT(s, 10.0) << GetParam() << " '" << c << "'";
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, Throughput,
                         ::testing::Values("llama-spm", "gpt-2", "falcon", "deepseek-llm", "deepseek-coder",
                                           "starcoder", "bert-bge"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace llmchain::tokenizer
