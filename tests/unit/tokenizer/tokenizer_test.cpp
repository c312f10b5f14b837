// Special tokens, decoding, token bytes and metadata on the shared vocab files.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include "base/utf8.h"
#include "unit/tokenizer/test_util.h"

namespace llmchain::tokenizer {
namespace {

std::shared_ptr<const Tokenizer> vocab(const std::string& family) { return test::load(test::vocab_path(family)); }

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(TokenizerMeta, LlamaSpm) {
  auto t = vocab("llama-spm");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->model_name(), "llama");
  EXPECT_EQ(t->pre(), "default");
  EXPECT_EQ(t->n_vocab(), 32000);
  EXPECT_EQ(t->bos(), 1);
  EXPECT_EQ(t->eos(), 2);
  EXPECT_EQ(t->unk(), 0);
  EXPECT_TRUE(t->add_bos());
  EXPECT_FALSE(t->add_eos());
  EXPECT_TRUE(t->is_eog(2));
  EXPECT_FALSE(t->is_eog(1));
  EXPECT_TRUE(t->is_control(1));
  EXPECT_FALSE(t->is_control(100));
  EXPECT_EQ(t->token_type(3), TokenType::kByte);
  EXPECT_EQ(t->text(1), "<s>");
  EXPECT_EQ(t->text(-1), "");
  EXPECT_EQ(t->text(32000), "");
  EXPECT_EQ(t->find_token("<0x0A>"), 13);
  EXPECT_EQ(t->find_token("no such token"), kNoToken);
}

TEST(TokenizerMeta, Gpt2AndBert) {
  auto g = vocab("gpt-2");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->model_name(), "gpt2");
  EXPECT_EQ(g->pre(), "gpt-2");
  EXPECT_EQ(g->bos(), 50256);
  EXPECT_EQ(g->eos(), 50256);
  EXPECT_EQ(g->eot(), 50256);  // "<|endoftext|>" is found by its text
  EXPECT_FALSE(g->add_bos());
  EXPECT_EQ(g->eog_tokens(), std::vector<int32_t>{50256});

  auto b = vocab("bert-bge");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->model_name(), "bert");
  EXPECT_EQ(b->bos(), 101);  // [CLS]
  EXPECT_EQ(b->sep(), 102);
  EXPECT_EQ(b->unk(), 100);
  EXPECT_EQ(b->pad(), 0);
  EXPECT_EQ(b->mask(), 103);
  EXPECT_EQ(b->eos(), kNoToken);
}

TEST(TokenizerSpecial, AddSpecialPerFamily) {
  auto spm = vocab("llama-spm");
  ASSERT_TRUE(spm);
  auto plain = spm->encode("Hello world", false, false);
  EXPECT_EQ(spm->encode("Hello world", true, false), concat({1}, plain));
  EXPECT_EQ(spm->encode("", true, false), std::vector<int32_t>{1});
  EXPECT_TRUE(spm->encode("", false, false).empty());

  auto ds = vocab("deepseek-coder");  // add_bos_token = true in its metadata
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->encode("Hello", true, false), concat({32013}, ds->encode("Hello", false, false)));

  auto gpt2 = vocab("gpt-2");  // no add_bos: BPE default is false
  ASSERT_TRUE(gpt2);
  EXPECT_EQ(gpt2->encode("Hello", true, false), gpt2->encode("Hello", false, false));

  auto bert = vocab("bert-bge");
  ASSERT_TRUE(bert);
  EXPECT_EQ(bert->encode("hello", true, false), concat(concat({101}, bert->encode("hello", false, false)), {102}));
}

TEST(TokenizerSpecial, ParseSpecialOnlyWhenAsked) {
  auto t = vocab("llama-spm");
  ASSERT_TRUE(t);
  auto hello = t->encode("Hello", false, false);  // "▁Hello"
  // Parsed: control tokens become ids; the text after a special gets the space prefix.
  EXPECT_EQ(t->encode("<s>Hello</s>", false, true), concat(concat({1}, hello), {2}));
  // Not parsed: the markup is ordinary text.
  auto raw = t->encode("<s>Hello</s>", false, false);
  EXPECT_EQ(std::count(raw.begin(), raw.end(), 1), 0);
  EXPECT_EQ(std::count(raw.begin(), raw.end(), 2), 0);
  EXPECT_EQ(t->decode(raw), "<s>Hello</s>");
  // Unknown-type tokens are special too.
  EXPECT_EQ(t->encode("<unk>", false, true), std::vector<int32_t>{0});
}

TEST(TokenizerSpecial, UserDefinedTokensAlwaysSplit) {
  auto t = vocab("deepseek-coder");
  ASSERT_TRUE(t);
  // Ids 32000.. are user-defined tokens such as "õ"; llama.cpp matches them even
  // without parse_special.
  const std::string u = t->text(32000);
  ASSERT_EQ(t->token_type(32000), TokenType::kUserDefined);
  auto ids = t->encode("a" + u + "b", false, false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 32000), ids.end());
}

TEST(TokenizerSpecial, Phi3SpecialsEatFollowingWhitespace) {
  auto t = vocab("phi-3");
  ASSERT_TRUE(t);
  const int32_t end = t->find_token("<|end|>");
  const int32_t user = t->find_token("<|user|>");
  ASSERT_NE(end, kNoToken);
  EXPECT_EQ(t->eot(), end);
  EXPECT_TRUE(t->is_eog(end));
  // RSTRIP: "\n  " after <|user|> is dropped, and "Hi" then gets the SPM space prefix.
  EXPECT_EQ(t->encode("<|user|>\n  Hi<|end|>", false, true),
            concat(concat({user}, t->encode("Hi", false, false)), {end}));
}

TEST(TokenizerDecode, LeadingSpaceAndSpecials) {
  auto t = vocab("llama-spm");
  ASSERT_TRUE(t);
  auto ids = t->encode("Hello world", true, false);  // [1, ▁Hello, ▁world]
  EXPECT_EQ(t->decode(ids), "<s> Hello world");
  EXPECT_EQ(t->decode(ids, /*remove_special=*/true), " Hello world");  // as llama_detokenize
  EXPECT_EQ(t->decode(ids, false, /*unparse_special=*/false), " Hello world");
  EXPECT_EQ(t->decode(t->encode("Hello world", false, false)), "Hello world");
  // Out-of-range ids contribute nothing.
  EXPECT_EQ(t->decode({-5, 15043, 99999999}), "Hello");
  EXPECT_EQ(t->token_to_piece(15043), " Hello");
  EXPECT_EQ(t->token_to_piece(1, false), "");
  EXPECT_EQ(t->token_to_piece(1, true), "<s>");
  EXPECT_EQ(t->token_to_piece(-1), "");
}

TEST(TokenizerDecode, CleanSpacesForBpe) {
  auto t = vocab("gpt-2");  // clean_spaces: true for gpt-2
  ASSERT_TRUE(t);
  EXPECT_EQ(t->decode(t->encode("Hello , world ! It 's ' a ' test", false, false)), "Hello, world! It's'a'test");
  auto ds = vocab("deepseek-llm");  // clean_spaces: false
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->decode(ds->encode("Hello , world !", false, false)), "Hello , world !");
}

TEST(TokenizerBytes, ControlEmptyBytesExact) {
  auto t = vocab("llama-spm");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->token_bytes(1), "");
  EXPECT_EQ(t->token_bytes(2), "");
  EXPECT_EQ(t->token_bytes(0), "");  // <unk>
  EXPECT_EQ(t->token_bytes(t->find_token("<0xE2>")), "\xE2");
  EXPECT_EQ(t->token_bytes(15043), " Hello");
  EXPECT_EQ(t->token_bytes(123456), "");
  auto g = vocab("gpt-2");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->token_bytes(g->find_token("\xC4\xA0the")), " the");  // "Ġthe"
  EXPECT_EQ(g->token_bytes(50256), "");
  // Every id of every vocab has bytes that concatenate to the decoded text.
  for (const char* family : {"llama-spm", "gpt-2", "bert-bge"}) {
    auto v = vocab(family);
    ASSERT_TRUE(v);
    for (int32_t id = 0; id < v->n_vocab(); ++id) {
      if (!v->is_control(id)) {
        EXPECT_EQ(v->token_bytes(id), v->token_to_piece(id, false)) << family << " " << id;
      }
    }
  }
}

TEST(TokenizerInput, InvalidUtf8NeverThrows) {
  const std::string bad = std::string("a\xFF") + "b\xE2\x82" + "c\xC0\x80" + "\xED\xA0\x80" + "\xF4\x90\x80\x80z";
  // SPM works on bytes: byte fallback keeps it lossless.
  auto spm = vocab("llama-spm");
  ASSERT_TRUE(spm);
  EXPECT_EQ(spm->decode(spm->encode(bad, false, false)), bad);
  // BPE sees each invalid byte as U+FFFD (as llama.cpp); surrogates and overlongs decode leniently.
  auto gpt2 = vocab("gpt-2");
  ASSERT_TRUE(gpt2);
  EXPECT_EQ(gpt2->decode(gpt2->encode("a\xFF"
                                      "b",
                                      false, false)),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_FALSE(gpt2->encode(bad, false, false).empty());
  auto bert = vocab("bert-bge");
  ASSERT_TRUE(bert);
  EXPECT_EQ(bert->encode("a\xFF"
                         "b",
                         false, false),
            bert->encode("ab", false, false));  // U+FFFD is dropped
  for (const char* family : {"phi-3", "falcon", "deepseek-llm", "starcoder"}) {
    auto v = vocab(family);
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->encode(bad, true, true).empty()) << family;
  }
}

}  // namespace
}  // namespace llmchain::tokenizer
