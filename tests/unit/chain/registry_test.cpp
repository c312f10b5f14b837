#include "chain/registry.h"

#include <gtest/gtest.h>

#include "chain/llm_chain.h"

namespace llmchain::chain {
namespace {

TEST(ChainRegistry, ListInvokeBatchStreamSchemas) {
  ChainRegistry reg;
  auto llm = std::make_shared<FakeLLM>(std::vector<std::string>{"one two"});
  reg.add("desc", std::make_shared<LLMChain>(llm, PromptTemplate::from_template("Describe {product}")), "Descriptions");
  reg.add("pipe", PromptTemplate::from_template("{a}") | llm->bind());
  auto list = reg.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "desc");
  EXPECT_EQ(list[0].type, "llm");
  EXPECT_EQ(list[0].input_variables, (std::vector<std::string>{"product"}));
  EXPECT_EQ(list[1].type, "runnable");
  EXPECT_EQ(list[1].input_variables, (std::vector<std::string>{"a"}));

  EXPECT_EQ(*reg.invoke("desc", {{"product", "p"}}), "one two");
  EXPECT_EQ(*reg.invoke("pipe", {{"a", "p"}}), "one two");
  auto b = reg.batch("desc", {{{"product", "a"}}, {{"product", "b"}}});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 2u);
  std::string streamed;
  auto s = reg.stream("desc", {{"product", "p"}}, [&](const Json& c) { streamed += c.get<std::string>(); });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(streamed, "one two");
  EXPECT_EQ(*s, "one two");

  auto in = reg.input_schema("desc");
  ASSERT_TRUE(in.ok());
  EXPECT_EQ((*in)["required"], Json::array({"product"}));
  EXPECT_EQ((*in)["title"], "desc_input");
  EXPECT_EQ((*reg.output_schema("desc"))["type"], "string");
}

TEST(ChainRegistry, ErrorsAreValues) {
  ChainRegistry reg;
  reg.add("c", std::make_shared<LLMChain>(std::make_shared<FakeLLM>(), PromptTemplate::from_template("{x}{y}")));
  auto r = reg.invoke("nope", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  auto bad = reg.invoke("c", {{"x", 1}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("'y'"), std::string::npos);
  auto batch = reg.batch("c", {{{"x", 1}, {"y", 2}}, {{"x", 1}}});
  ASSERT_FALSE(batch.ok());
  EXPECT_NE(batch.error().message().find("input 1:"), std::string::npos);
  EXPECT_FALSE(reg.input_schema("nope").ok());
  EXPECT_TRUE(reg.remove("c"));
  EXPECT_FALSE(reg.contains("c"));
}

TEST(ChainRegistry, ConfigFromJson) {
  auto c = ChainRegistry::config_from_json({{"session_id", "s"}, {"metadata", {{"u", 1}}}, {"max_concurrency", 2}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->session_id, "s");
  EXPECT_EQ(c->max_concurrency, 2);
  EXPECT_FALSE(ChainRegistry::config_from_json({{"session_id", 3}}).ok());
  EXPECT_FALSE(ChainRegistry::config_from_json({{"max_concurrency", 0}}).ok());
  EXPECT_TRUE(ChainRegistry::config_from_json(nullptr).ok());
}

}  // namespace
}  // namespace llmchain::chain
