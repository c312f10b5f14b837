#include "chain/prompt_template.h"

#include <gtest/gtest.h>

namespace llmchain::chain {
namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PromptTemplate, FormatsAndInfersVariables) {
  PromptTemplate t("Write a product description for {product}. Tone: {tone}. Again: {product}");
  EXPECT_EQ(t.input_variables(), (std::vector<std::string>{"product", "tone"}));
  EXPECT_EQ(t.format({{"product", "socks"}, {"tone", "fun"}, {"unused", 1}}),
            "Write a product description for socks. Tone: fun. Again: socks");
}

TEST(PromptTemplate, EscapedBraces) {
  PromptTemplate t("JSON like {{\"a\": {x}}} and }}{{");
  EXPECT_EQ(t.input_variables(), (std::vector<std::string>{"x"}));
  EXPECT_EQ(t.format({{"x", 1}}), "JSON like {\"a\": 1} and }{");
}

TEST(PromptTemplate, MissingVariableIsNamed) {
  PromptTemplate t("Hello {name}, you are {age}");
  std::string e = error_of([&] { t.format({{"name", "Ann"}}); });
  EXPECT_NE(e.find("missing variable 'age'"), std::string::npos) << e;
}

TEST(PromptTemplate, MalformedTemplates) {
  EXPECT_NE(error_of([] { PromptTemplate("oops {name"); }).find("unclosed"), std::string::npos);
  EXPECT_NE(error_of([] { PromptTemplate("oops name}"); }).find("single '}'"), std::string::npos);
  EXPECT_NE(error_of([] { PromptTemplate("oops {}"); }).find("empty placeholder"), std::string::npos);
  EXPECT_NE(error_of([] { PromptTemplate("oops {a b}"); }).find("invalid variable name"), std::string::npos);
}

TEST(PromptTemplate, PartialVariables) {
  auto t = PromptTemplate::from_template("{greeting}, {name}!");
  auto p = t->partial({{"greeting", "Hi"}});
  EXPECT_EQ(p->input_variables(), (std::vector<std::string>{"name"}));
  EXPECT_EQ(p->format({{"name", "Bo"}}), "Hi, Bo!");
  EXPECT_EQ(p->format({{"name", "Bo"}, {"greeting", "Yo"}}), "Yo, Bo!");  // call value wins
  EXPECT_EQ(t->input_variables().size(), 2u);                             // original untouched
}

TEST(PromptTemplate, RunnableAcceptsBareValueForSingleVariable) {
  auto t = PromptTemplate::from_template("Translate: {text}");
  EXPECT_EQ(t->invoke("hola"), "Translate: hola");
  EXPECT_EQ(t->invoke({{"text", "hola"}}), "Translate: hola");
  EXPECT_EQ(t->input_schema()["required"], Json::array({"text"}));
}

TEST(PromptTemplate, NonStringValues) {
  PromptTemplate t("n={n} list={l}");
  EXPECT_EQ(t.format({{"n", 3}, {"l", {1, 2}}}), "n=3 list=[1,2]");
}

TEST(PromptTemplate, JinjaVariableScan) {
  // Scanning works without the chat module; rendering needs it.
  PromptTemplate* t = nullptr;
  try {
    static PromptTemplate jt("{% for x in items %}{{ x.name | upper }}{% endfor %} {{ user }}", TemplateFormat::kJinja);
    t = &jt;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    return;
  }
  EXPECT_EQ(t->input_variables(), (std::vector<std::string>{"items", "user"}));
}

TEST(ChatPromptTemplate, MessagesAndPlaceholder) {
  auto t = ChatPromptTemplate::from_messages(
      {{"system", "You are a {role}."}, MessagesPlaceholder{"history"}, {"human", "{question}"}});
  EXPECT_EQ(t->input_variables(), (std::vector<std::string>{"role", "history", "question"}));
  Json history = Json::array({{{"role", "user"}, {"content", "hi"}}, {{"role", "ai"}, {"content", "hello"}}});
  auto msgs = t->format_messages({{"role", "helper"}, {"history", history}, {"question", "why?"}});
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0], (Message{"system", "You are a helper."}));
  EXPECT_EQ(msgs[2], (Message{"assistant", "hello"}));
  EXPECT_EQ(msgs[3], (Message{"user", "why?"}));
  Json out = t->invoke({{"role", "r"}, {"history", Json::array()}, {"question", "q"}});
  ASSERT_TRUE(out.is_array());
  EXPECT_EQ(out.size(), 2u);
}

TEST(ChatPromptTemplate, MissingPlaceholderAndOptional) {
  auto t = ChatPromptTemplate::from_messages({MessagesPlaceholder{"history"}, {"user", "{q}"}});
  std::string e = error_of([&] { t->format_messages({{"q", "x"}}); });
  EXPECT_NE(e.find("missing variable 'history'"), std::string::npos);
  auto opt = ChatPromptTemplate::from_messages({MessagesPlaceholder{"history", true}, {"user", "{q}"}});
  EXPECT_EQ(opt->format_messages({{"q", "x"}}).size(), 1u);
  EXPECT_EQ(opt->input_variables(), (std::vector<std::string>{"q"}));
  std::string bad = error_of([&] { t->format_messages({{"q", "x"}, {"history", "not a list"}}); });
  EXPECT_NE(bad.find("variable 'history'"), std::string::npos);
}

}  // namespace
}  // namespace llmchain::chain

namespace llmchain::chain {
namespace {

TEST(PromptTemplate, JinjaRendersWithChatTemplateEngine) {
  PromptTemplate t("Hello {{ name | upper }}{% for i in items %} {{ i }}{% endfor %}", TemplateFormat::kJinja);
  EXPECT_EQ(t.input_variables(), (std::vector<std::string>{"name", "items"}));
  EXPECT_EQ(t.format({{"name", "bo"}, {"items", {1, 2}}}), "Hello BO 1 2");
  try {
    t.format({{"name", "bo"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing variable 'items'"), std::string::npos);
  }
  auto p = t.partial({{"items", Json::array()}});
  EXPECT_EQ(p->format({{"name", "x"}}), "Hello X");
  EXPECT_THROW(PromptTemplate("{% if %}", TemplateFormat::kJinja), Error);
}

}  // namespace
}  // namespace llmchain::chain
