// The shared models and vocab files parse, and their metadata and tensor
// tables match what SOURCES.md documents.
#include <gtest/gtest.h>

#include <filesystem>

#include "base/ggml_types.h"
#include "gguf/gguf.h"

namespace llmchain::gguf {
namespace {

const std::string kShared = LLMCHAIN_SHARED_DIR;

std::shared_ptr<File> open_ok(const std::string& path) {
  auto f = File::open(path);
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message());
  return f.ok() ? *f : nullptr;
}

TEST(GgufReader, Stories260K) {
  auto f = open_ok(kShared + "/models/stories260K.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->metadata().size(), 19u);
  EXPECT_EQ(f->tensors().size(), 48u);
  EXPECT_EQ(f->data_offset(), 14176u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->file_size(), 1185376u);
  EXPECT_EQ(f->architecture(), "llama");
  EXPECT_EQ(f->get_int("llama.embedding_length", 0), 64);
  EXPECT_EQ(f->get_int("llama.feed_forward_length", 0), 172);
  EXPECT_EQ(f->get_int("llama.block_count", 0), 5);
  EXPECT_EQ(f->get_int("llama.attention.head_count", 0), 8);
  EXPECT_EQ(f->get_int("llama.attention.head_count_kv", 0), 4);
  EXPECT_EQ(f->get_int("llama.rope.dimension_count", 0), 8);
  EXPECT_EQ(f->get_int("llama.context_length", 0), 2048);
  EXPECT_NEAR(f->get_float("llama.attention.layer_norm_rms_epsilon", 0), 1e-5, 1e-9);
  EXPECT_FALSE(f->has("llama.rope.freq_base"));
  EXPECT_EQ(f->get_float("llama.rope.freq_base", 10000.0), 10000.0);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id", -1), 1);
  EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id", -1), 2);
  EXPECT_EQ(f->get_int("tokenizer.ggml.unknown_token_id", -1), 0);
  EXPECT_EQ(f->get_int("tokenizer.ggml.padding_token_id", 0), 4294967295);
  const Value* tokens = f->find("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens);
  auto tok = tokens->as_string_array();
  ASSERT_EQ(tok.size(), 512u);
  EXPECT_EQ(tok[0], "<unk>");
  EXPECT_EQ(tok[1], "<s>");
  EXPECT_EQ(f->find("tokenizer.ggml.scores")->as_float_array().size(), 512u);
  EXPECT_EQ(f->find("tokenizer.ggml.token_type")->as_int_array().size(), 512u);

  const TensorInfo* emb = f->tensor("token_embd.weight");
  ASSERT_TRUE(emb);
  EXPECT_EQ(emb->type, 0u);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(emb->n_elements(), 64 * 512);
  EXPECT_EQ(emb->size_bytes, 64u * 512u * 4u);
  const TensorInfo* out = f->tensor("output.weight");
  ASSERT_TRUE(out);
  // Tied in the original: output.weight holds the same bytes as token_embd.weight.
  EXPECT_EQ(std::memcmp(out->data, emb->data, emb->size_bytes), 0);
  for (const auto& t : f->tensors()) {
    EXPECT_EQ(t.type, 0u) << t.name;
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    EXPECT_EQ(t.data, f->tensors()[0].data - f->tensors()[0].offset + t.offset);
    EXPECT_LE(f->data_offset() + t.offset + t.size_bytes, f->file_size());
  }
  EXPECT_TRUE(f->tensor("blk.4.ffn_down.weight"));
  EXPECT_FALSE(f->tensor("blk.5.ffn_down.weight"));
}

TEST(GgufReader, TinyStoriesQ8) {
  auto f = open_ok(kShared + "/models/TinyStories-656K-Q8_0.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->metadata().size(), 34u);
  EXPECT_EQ(f->tensors().size(), 20u);
  EXPECT_EQ(f->get_int("llama.embedding_length", 0), 128);
  EXPECT_EQ(f->get_int("llama.feed_forward_length", 0), 384);
  EXPECT_EQ(f->get_int("llama.block_count", 0), 2);
  EXPECT_EQ(f->get_int("llama.rope.dimension_count", 0), 16);
  EXPECT_EQ(f->get_int("llama.vocab_size", 0), 2048);
  EXPECT_EQ(f->get_int("general.file_type", 0), 7);
  EXPECT_NEAR(f->get_float("llama.attention.layer_norm_rms_epsilon", 0), 1e-6, 1e-10);
  EXPECT_EQ(f->get_float("llama.rope.freq_base", 0), 10000.0);
  EXPECT_EQ(f->get_string("general.license"), "apache-2.0");
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre"), "default");
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_bos_token", false));
  EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_eos_token", true));
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->as_string_array().size(), 2048u);
  EXPECT_FALSE(f->tensor("output.weight"));  // tied to token_embd
  const TensorInfo* emb = f->tensor("token_embd.weight");
  ASSERT_TRUE(emb);
  EXPECT_EQ(emb->type, static_cast<uint32_t>(GgmlType::Q8_0));
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{128, 2048}));
  EXPECT_EQ(emb->size_bytes, 128u / 32 * 34 * 2048);
  const TensorInfo* norm = f->tensor("output_norm.weight");
  ASSERT_TRUE(norm);
  EXPECT_EQ(norm->type, 0u);
}

TEST(GgufReader, TypeMismatchNamesFileAndKey) {
  auto f = open_ok(kShared + "/models/stories260K.gguf");
  ASSERT_TRUE(f);
  try {
    (void)f->get_int("general.architecture", 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("stories260K.gguf"), std::string::npos) << m;
    EXPECT_NE(m.find("general.architecture"), std::string::npos) << m;
    EXPECT_NE(m.find("string"), std::string::npos) << m;
  }
}

TEST(GgufReader, EveryQuantizedModelParses) {
  for (const char* name : {"TinyStories-656K-q4_0.gguf", "TinyStories-656K-q4_1.gguf", "TinyStories-656K-q5_1.gguf"}) {
    auto f = open_ok(kShared + "/models/quantized/" + name);
    ASSERT_TRUE(f) << name;
    EXPECT_EQ(f->architecture(), "llama") << name;
    EXPECT_EQ(f->tensors().size(), 20u) << name;
    for (const auto& t : f->tensors()) EXPECT_NE(ggml_type_info(t.type), nullptr);
  }
}

TEST(GgufReader, EveryVocabFileParses) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kShared + "/testdata/tokenizer")) {
    if (entry.path().extension() != ".gguf") continue;
    auto f = open_ok(entry.path().string());
    ASSERT_TRUE(f) << entry.path();
    EXPECT_TRUE(f->tensors().empty()) << entry.path();
    EXPECT_FALSE(f->get_string("tokenizer.ggml.model").empty()) << entry.path();
    EXPECT_GT(f->find("tokenizer.ggml.tokens")->as_string_array().size(), 1000u) << entry.path();
    ++n;
  }
  EXPECT_EQ(n, 12);
}

TEST(GgufReader, MissingFileNamesPath) {
  auto f = File::open("/nonexistent/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(f.error().message().find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace llmchain::gguf
