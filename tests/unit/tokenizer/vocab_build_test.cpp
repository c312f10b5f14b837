// Small vocabularies built in memory: missing byte fallback, bad metadata, pre names.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"
#include "unit/tokenizer/test_util.h"

namespace llmchain::tokenizer {
namespace {

gguf::Writer spm_writer(const std::vector<std::string>& tokens, const std::vector<int32_t>& types) {
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", std::vector<float>(tokens.size(), 0.0f));
  w.set_i32_array("tokenizer.ggml.token_type", types);
  return w;
}

TEST(VocabBuild, SpmWithoutByteTokensMapsToUnk) {
  // No <0x..> tokens: bytes of "é" have no fallback. llama.cpp throws; we use unk.
  auto w = spm_writer({"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a",
                       "\xE2\x96\x81"
                       "a"},
                      {2, 3, 3, 1, 1, 1});
  std::shared_ptr<test::MemVocab> keep;
  auto tok = test::build(w, &keep);
  ASSERT_TRUE(tok) << tok.error().message();
  EXPECT_EQ((*tok)->encode("a\xC3\xA9", false, false), (std::vector<int32_t>{5, 0, 0}));
  EXPECT_EQ((*tok)->encode("a", true, false), (std::vector<int32_t>{1, 5}));
}

TEST(VocabBuild, SpmUnknownDefaultsToTokenZero) {
  // SPM's unknown token is id 0 unless the metadata names another one (as llama.cpp),
  // so byte fallback always has somewhere to go.
  auto w = spm_writer({"x", "<s>", "</s>", "\xE2\x96\x81", "a",
                       "\xE2\x96\x81"
                       "a"},
                      {1, 3, 3, 1, 1, 1});
  std::shared_ptr<test::MemVocab> keep;
  auto tok = test::build(w, &keep);
  ASSERT_TRUE(tok) << tok.error().message();
  EXPECT_EQ((*tok)->unk(), 0);
  EXPECT_EQ((*tok)->encode("a\xC3\xA9", false, false), (std::vector<int32_t>{5, 0, 0}));
  w.set_u32("tokenizer.ggml.unknown_token_id", 4);
  auto tok2 = test::build(w, &keep);
  ASSERT_TRUE(tok2) << tok2.error().message();
  EXPECT_EQ((*tok2)->encode("a\xC3\xA9", false, false), (std::vector<int32_t>{5, 4, 4}));
}

TEST(VocabBuild, Errors) {
  std::shared_ptr<test::MemVocab> keep;
  {
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    auto tok = test::build(w, &keep);
    ASSERT_FALSE(tok);
    EXPECT_EQ(tok.error().code(), ErrorCode::kInvalidFile);
  }
  {
    auto w = spm_writer({"a", "b", "c"}, {1, 1, 1});
    w.set_string("tokenizer.ggml.model", "t5");
    auto tok = test::build(w, &keep);
    ASSERT_FALSE(tok);
    EXPECT_EQ(tok.error().code(), ErrorCode::kUnsupported);
  }
  {
    auto w = spm_writer({"a", "b", "c"}, {1, 1, 1});
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "no-such-pre");
    w.set_string_array("tokenizer.ggml.merges", {"a b"});
    auto tok = test::build(w, &keep);
    ASSERT_FALSE(tok);
    EXPECT_EQ(tok.error().code(), ErrorCode::kUnsupported);
  }
  {
    auto w = spm_writer({"a", "b", "c"}, {1, 1});  // token_type shorter than tokens
    auto tok = test::build(w, &keep);
    ASSERT_FALSE(tok);
    EXPECT_EQ(tok.error().code(), ErrorCode::kInvalidFile);
  }
  {
    auto w = spm_writer({"a", "b", "c"}, {1, 1, 1});
    w.set_string("tokenizer.ggml.model", "gpt2");  // no merges
    auto tok = test::build(w, &keep);
    ASSERT_FALSE(tok);
    EXPECT_EQ(tok.error().code(), ErrorCode::kInvalidFile);
  }
}

TEST(VocabBuild, TinyByteLevelBpe) {
  // Byte-level vocab: every byte stand-in plus a few merges; llama3 pre-tokenizer.
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(detail::byte_to_bpe_char(static_cast<uint8_t>(b)));
  tokens.push_back("he");
  tokens.push_back("ll");
  tokens.push_back("hell");
  tokens.push_back("hello");
  tokens.push_back("<|begin_of_text|>");
  tokens.push_back("<|eot_id|>");
  std::vector<int32_t> types(tokens.size(), 1);
  types[260] = types[261] = 3;
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "llama-bpe");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", {"h e", "l l", "he ll", "hell o"});
  w.set_u32("tokenizer.ggml.bos_token_id", 260);
  std::shared_ptr<test::MemVocab> keep;
  auto tok = test::build(w, &keep);
  ASSERT_TRUE(tok) << tok.error().message();
  const auto& t = **tok;
  EXPECT_TRUE(t.add_bos());  // llama3 family default
  EXPECT_EQ(t.eot(), 261);
  EXPECT_TRUE(t.is_eog(261));
  EXPECT_EQ(t.encode("hello", true, false), (std::vector<int32_t>{260, 259}));
  EXPECT_EQ(t.encode("hellx<|eot_id|>", false, true), (std::vector<int32_t>{258, 'x', 261}));
  EXPECT_EQ(t.decode(t.encode("hello hello", false, false)), "hello hello");
}

TEST(VocabBuild, EveryKnownPreTokenizerCompiles) {
  for (const std::string& name : detail::known_pre_tokenizers()) {
    const detail::PreTokenizerSpec* spec = detail::find_pre_tokenizer(name);
    ASSERT_NE(spec, nullptr) << name;
    for (const std::string& re : spec->regexes) {
      EXPECT_NO_THROW(detail::Regex r(re)) << name << ": " << re;
    }
  }
  EXPECT_EQ(detail::find_pre_tokenizer("nope"), nullptr);
}

}  // namespace
}  // namespace llmchain::tokenizer
