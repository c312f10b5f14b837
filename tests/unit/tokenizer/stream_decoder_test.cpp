// StreamDecoder: chunks are always valid UTF-8 and add up to the full text.
#include <gtest/gtest.h>

#include "base/utf8.h"
#include "tokenizer/tokenizer.h"
#include "unit/tokenizer/test_util.h"

namespace llmchain::tokenizer {
namespace {

std::string stream(const Tokenizer& t, const std::vector<int32_t>& ids, std::vector<std::string>* chunks) {
  StreamDecoder d(t);
  std::string all;
  for (int32_t id : ids) {
    std::string c = d.push(id);
    EXPECT_TRUE(utf8::is_valid(c)) << "chunk is not valid UTF-8";
    EXPECT_EQ(utf8::incomplete_tail(c), 0u);
    if (chunks) chunks->push_back(c);
    all += c;
  }
  std::string tail = d.flush();
  EXPECT_TRUE(utf8::is_valid(tail));
  return all + tail;
}

TEST(StreamDecoder, ByteFallbackEmojiIsHeldUntilComplete) {
  auto t = test::load(test::vocab_path("llama-spm"));
  ASSERT_TRUE(t);
  const std::string text = " this is \xF0\x9F\xA6\x99.cpp";  // 🦙 has no token: 4 byte tokens
  auto ids = t->encode(text, false, false);
  int byte_tokens = 0;
  for (int32_t id : ids) byte_tokens += t->token_type(id) == TokenType::kByte;
  ASSERT_EQ(byte_tokens, 4);
  std::vector<std::string> chunks;
  EXPECT_EQ(stream(*t, ids, &chunks), " " + text);  // pieces keep SPM's prefix space
  // The three first bytes of the emoji produce empty chunks, the fourth the character.
  int empty = 0;
  for (const auto& c : chunks) empty += c.empty();
  EXPECT_EQ(empty, 3);
}

TEST(StreamDecoder, ByteLevelBpeSplitsCharacters) {
  for (const char* family : {"gpt-2", "falcon", "deepseek-llm", "starcoder"}) {
    auto t = test::load(test::vocab_path(family));
    ASSERT_TRUE(t);
    const std::string text =
        "Hello 🚀 (normal) 😶‍🌫️ нещо на Български 我想在apple工作1314151天～ "
        "កាន់តែពិសេសអាច";
    auto ids = t->encode(text, false, false);
    EXPECT_EQ(stream(*t, ids, nullptr), text) << family;
  }
}

TEST(StreamDecoder, InvalidBytesBecomeReplacementCharacters) {
  auto t = test::load(test::vocab_path("llama-spm"));
  ASSERT_TRUE(t);
  const int32_t ff = t->find_token("<0xFF>");
  const int32_t e2 = t->find_token("<0xE2>");
  const int32_t a = t->find_token("a");
  StreamDecoder d(*t);
  EXPECT_EQ(d.push(ff), "\xEF\xBF\xBD");  // can never start a character
  EXPECT_EQ(d.push(e2), "");              // might start one: held
  EXPECT_EQ(d.push(a),
            "\xEF\xBF\xBD"
            "a");  // it did not
  EXPECT_EQ(d.push(e2), "");
  EXPECT_EQ(d.flush(), "\xEF\xBF\xBD");  // incomplete at the end
  EXPECT_EQ(d.flush(), "");
}

TEST(StreamDecoder, ControlTokensRenderOnlyWhenAsked) {
  auto t = test::load(test::vocab_path("llama-spm"));
  ASSERT_TRUE(t);
  StreamDecoder quiet(*t);
  EXPECT_EQ(quiet.push(2), "");
  StreamDecoder loud(*t, /*render_special=*/true);
  EXPECT_EQ(loud.push(2), "</s>");
}

}  // namespace
}  // namespace llmchain::tokenizer
