// Published chat templates (tests/data/chat/*.jinja) rendered for a
// system+user+assistant+user conversation and compared with expected prompts
// derived by hand from each model's documented format.
#include "chat/chat_template.h"
#include "test_util.h"

namespace llmchain::chat::testing {
namespace {

struct Case {
  const char* name;
  const char* bos;
  const char* eos;
};

const Case kCases[] = {
    {"chatml", "", ""},
    {"llama2", "<s>", "</s>"},
    {"llama3", "<|begin_of_text|>", "<|eot_id|>"},
    {"llama3_1", "<|begin_of_text|>", "<|eot_id|>"},
    {"mistral", "<s>", "</s>"},
    {"qwen2_5", "", "<|im_end|>"},
    {"gemma", "<bos>", "<eos>"},
    {"phi3", "<s>", "<|endoftext|>"},
    {"zephyr", "<s>", "</s>"},
    {"deepseek", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"},
};

nlohmann::json conversation() { return nlohmann::json::parse(read_data("conversation.json")); }

std::string apply(const std::string& file, const nlohmann::json& messages, const ChatOptions& opts) {
  auto t = Template::parse(read_data(file), file);
  if (!t.ok()) return "PARSE ERROR: " + t.error().message();
  auto r = apply_chat_template(*t, messages, opts);
  if (!r.ok()) return "ERROR: " + r.error().message();
  return *r;
}

class ModelTemplate : public ::testing::TestWithParam<Case> {};

TEST_P(ModelTemplate, WithGenerationPrompt) {
  const Case& c = GetParam();
  ChatOptions opts;
  opts.bos_token = c.bos;
  opts.eos_token = c.eos;
  opts.add_generation_prompt = true;
  EXPECT_EQ(apply(std::string(c.name) + ".jinja", conversation(), opts),
            read_data(std::string(c.name) + ".gen.expected"));
}

TEST_P(ModelTemplate, WithoutGenerationPrompt) {
  const Case& c = GetParam();
  ChatOptions opts;
  opts.bos_token = c.bos;
  opts.eos_token = c.eos;
  opts.add_generation_prompt = false;
  EXPECT_EQ(apply(std::string(c.name) + ".jinja", conversation(), opts),
            read_data(std::string(c.name) + ".nogen.expected"));
}

INSTANTIATE_TEST_SUITE_P(Published, ModelTemplate, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ModelTemplates, Qwen25Tools) {
  auto data = nlohmann::json::parse(read_data("tools_conversation.json"));
  ChatOptions opts;
  opts.eos_token = "<|im_end|>";
  opts.tools = data["tools"];
  EXPECT_EQ(apply("qwen2_5.jinja", data["messages"], opts), read_data("qwen2_5.tools.expected"));
}

TEST(ModelTemplates, Gemma7bRejectsSystemRole) {
  ChatOptions opts;
  opts.bos_token = "<bos>";
  std::string out = apply("gemma_7b.jinja", conversation(), opts);
  EXPECT_EQ(out, "ERROR: gemma_7b.jinja:1: System role not supported");
}

TEST(ModelTemplates, Gemma7bWithoutSystem) {
  auto msgs = conversation();
  msgs.erase(msgs.begin());
  ChatOptions opts;
  opts.bos_token = "<bos>";
  EXPECT_EQ(apply("gemma_7b.jinja", msgs, opts), read_data("gemma_7b.nosystem.gen.expected"));
  opts.add_generation_prompt = false;
  EXPECT_EQ(apply("gemma_7b.jinja", msgs, opts), read_data("gemma_7b.nosystem.nogen.expected"));
}

TEST(ModelTemplates, AlternationErrorFromTemplate) {
  nlohmann::json msgs = {{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", "b"}}};
  ChatOptions opts;
  std::string out = apply("llama2.jinja", msgs, opts);
  EXPECT_EQ(out, "ERROR: llama2.jinja:1: Conversation roles must alternate user/assistant/user/assistant/...");
}

TEST(ModelTemplates, GemmaContentPartsKeptForTemplatesThatHandleThem) {
  // Gemma 3 iterates content parts itself (it compares item['type'] == 'text').
  nlohmann::json msgs = {
      {{"role", "user"}, {"content", {{{"type", "text"}, {"text", " Describe "}}, {{"type", "image"}}}}}};
  ChatOptions opts;
  opts.bos_token = "<bos>";
  EXPECT_EQ(apply("gemma.jinja", msgs, opts),
            "<bos><start_of_turn>user\nDescribe<start_of_image><end_of_turn>\n<start_of_turn>model\n");
}

TEST(ModelTemplates, ContentPartsFlattenedForStringTemplates) {
  nlohmann::json msgs = {
      {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hello"}}, {{"type", "text"}, {"text", "World"}}}}}};
  ChatOptions opts;
  EXPECT_EQ(apply("chatml.jinja", msgs, opts), "<|im_start|>user\nHello\nWorld<|im_end|>\n<|im_start|>assistant\n");
  nlohmann::json image = {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}};
  EXPECT_NE(apply("chatml.jinja", image, opts).find("ERROR: messages[0].content[0]: content part type 'image_url'"),
            std::string::npos);
}

TEST(ModelTemplates, Llama31DateStringFromExtra) {
  ChatOptions opts;
  opts.bos_token = "<|begin_of_text|>";
  opts.extra = {{"date_string", "01 Jan 2025"}};
  std::string out = apply("llama3_1.jinja", conversation(), opts);
  EXPECT_NE(out.find("Today Date: 01 Jan 2025\n\n"), std::string::npos) << out;
}

// ---- built-in named templates ----

TEST(BuiltinTemplates, NamesAndSourcesMatchData) {
  auto names = builtin_template_names();
  std::vector<std::string> want = {"chatml", "llama2", "llama3", "mistral", "gemma", "phi3", "zephyr", "deepseek"};
  EXPECT_EQ(names, want);
  for (const auto& n : names) {
    auto src = builtin_template_source(n);
    ASSERT_TRUE(src.ok()) << n;
    EXPECT_EQ(*src, read_data(n + ".jinja")) << n;
  }
  auto missing = builtin_template_source("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST(BuiltinTemplates, RenderConversation) {
  for (const Case& c : kCases) {
    std::string name = c.name;
    if (name == "llama3_1" || name == "qwen2_5") continue;  // data-only templates
    auto t = builtin_template(name);
    ASSERT_TRUE(t.ok()) << name << ": " << t.error().message();
    ChatOptions opts;
    opts.bos_token = c.bos;
    opts.eos_token = c.eos;
    auto r = apply_chat_template(*t, conversation(), opts);
    ASSERT_TRUE(r.ok()) << name << ": " << r.error().message();
    EXPECT_EQ(*r, read_data(name + ".gen.expected")) << name;
    opts.add_generation_prompt = false;
    r = apply_chat_template(*t, conversation(), opts);
    ASSERT_TRUE(r.ok()) << name;
    EXPECT_EQ(*r, read_data(name + ".nogen.expected")) << name;
  }
}

TEST(ApplyChatTemplate, ValidatesMessages) {
  auto t = builtin_template("chatml");
  ASSERT_TRUE(t.ok());
  ChatOptions opts;
  auto r = apply_chat_template(*t, nlohmann::json::object(), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "messages must be a JSON array");
  r = apply_chat_template(*t, nlohmann::json::array({{{"content", "x"}}}), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "messages[0].role must be a string");
  opts.extra = {{"messages", 1}};
  r = apply_chat_template(*t, conversation(), opts);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace llmchain::chat::testing
