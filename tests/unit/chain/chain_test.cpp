#include <gtest/gtest.h>

#include <filesystem>

#include "chain/llm_chain.h"
#include "chain/router_chain.h"

namespace llmchain::chain {
namespace {

std::shared_ptr<FakeLLM> fake(std::vector<std::string> responses) {
  return std::make_shared<FakeLLM>(std::move(responses));
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LLMChain, SeedExample) {
  auto llm = fake({"Cozy wool socks."});
  LLMChain chain(llm, PromptTemplate::from_template("Write a product description for {product}."), "text");
  Json out = chain.invoke({{"product", "socks"}});
  EXPECT_EQ(out, (Json{{"product", "socks"}, {"text", "Cozy wool socks."}}));
  EXPECT_EQ(llm->last_call().input.prompt, "Write a product description for socks.");
  EXPECT_EQ(chain.run("socks"), "Cozy wool socks.");
  EXPECT_EQ(chain.input_keys(), (std::vector<std::string>{"product"}));
  chain.set_return_only_outputs(true);
  EXPECT_EQ(chain.invoke({{"product", "socks"}}), (Json{{"text", "Cozy wool socks."}}));
}

TEST(LLMChain, MissingInputNamed) {
  LLMChain chain(fake({"x"}), PromptTemplate::from_template("{a} {b}"));
  EXPECT_NE(error_of([&] { chain.invoke({{"a", 1}}); }).find("missing input variable 'b'"), std::string::npos);
}

TEST(LLMChain, ParamsBoundPerChainAndCompositionWithPipe) {
  auto llm = fake({"one two three four"});
  LLMChainOptions o;
  o.params.max_tokens = 2;
  o.params.temperature = 0.1f;
  LLMChain chain(llm, PromptTemplate::from_template("{q}"), "text", o);
  EXPECT_EQ(chain.run("x"), "one two");
  EXPECT_FLOAT_EQ(*llm->last_call().params.temperature, 0.1f);
  // the same with LCEL-style composition and bind()
  LlmParams p;
  p.max_tokens = 3;
  auto pipeline = PromptTemplate::from_template("{q}") | llm->bind(p) | std::make_shared<StrOutputParser>();
  EXPECT_EQ(pipeline->invoke({{"q", "x"}}), "one two three");
}

TEST(LLMChain, JsonParserUsesSchemaWhenSupported) {
  Json schema = {{"type", "object"}, {"properties", {{"t", {{"type", "string"}}}}}, {"required", {"t"}}};
  auto llm = fake({"{\"t\": \"hola\"}"});
  llm->set_supports_json_schema(true);
  LLMChainOptions o;
  o.parser = std::make_shared<JsonOutputParser>(schema);
  LLMChain chain(llm, PromptTemplate::from_template("Translate {text}. {format_instructions}"), "translation", o);
  EXPECT_EQ(chain.input_keys(), (std::vector<std::string>{"text"}));
  EXPECT_EQ(chain.run("hello"), (Json{{"t", "hola"}}));
  ASSERT_TRUE(llm->last_call().params.json_schema);
  EXPECT_EQ(*llm->last_call().params.json_schema, schema);
  EXPECT_NE(llm->last_call().input.prompt.find("JSON Schema"), std::string::npos);
  EXPECT_EQ(chain.output_key_schema("translation"), schema);
}

TEST(LLMChain, JsonParserRetriesWithoutConstrainedDecoding) {
  Json schema = {{"type", "object"}, {"required", {"t"}}};
  auto llm = fake({"sorry, no json", "{\"x\": 1}", "{\"t\": \"ok\"}"});
  LLMChainOptions o;
  o.parser = std::make_shared<JsonOutputParser>(schema);
  o.parse_retries = 2;
  LLMChain chain(llm, PromptTemplate::from_template("Q: {q}"), "a", o);
  EXPECT_EQ(chain.run("x"), (Json{{"t", "ok"}}));
  EXPECT_EQ(llm->call_count(), 3u);
  EXPECT_FALSE(llm->last_call().params.json_schema);
  EXPECT_NE(llm->last_call().input.prompt.find("could not be used"), std::string::npos);
  // out of retries: the parser's error
  auto bad = fake({"nope"});
  o.parse_retries = 1;
  LLMChain failing(bad, PromptTemplate::from_template("Q: {q}"), "a", o);
  EXPECT_NE(error_of([&] { failing.run("x"); }).find("output parser (json)"), std::string::npos);
  EXPECT_EQ(bad->call_count(), 2u);
}

TEST(LLMChain, GuardsRedactInputAndBlockOutput) {
  auto llm = fake({"the password is hunter2"});
  LLMChainOptions o;
  o.input_guards.push_back(std::make_shared<PiiGuard>(GuardAction::kRedact));
  auto deny = std::make_shared<DenyListGuard>(std::vector<std::string>{"password"}, std::vector<std::string>{},
                                              GuardAction::kBlock);
  o.output_guards.push_back(deny);
  LLMChain chain(llm, PromptTemplate::from_template("User says: {msg}"), "text", o);
  EXPECT_FALSE(chain.can_stream());
  std::string e = error_of([&] { chain.run("mail me: a@b.com"); });
  EXPECT_NE(e.find("guard 'deny_list' blocked the output"), std::string::npos) << e;
  EXPECT_EQ(llm->last_call().input.prompt, "User says: mail me: [EMAIL]");
  EXPECT_EQ(deny->blocked(), 1);
}

TEST(LLMChain, ChatPromptWithWindowMemoryPerSession) {
  auto llm = std::make_shared<FakeLLM>(
      [](const LlmInput& in, const LlmParams&) { return "reply to " + in.messages.back().content; });
  MemoryOptions mo;
  mo.kind = MemoryOptions::Kind::kWindow;
  mo.k = 1;
  LLMChainOptions o;
  o.memory = std::make_shared<ConversationMemory>(mo);
  auto prompt = ChatPromptTemplate::from_messages(
      {{"system", "Be brief."}, MessagesPlaceholder{"history"}, {"user", "{question}"}});
  LLMChain chain(llm, prompt, "answer", o);
  EXPECT_EQ(chain.input_keys(), (std::vector<std::string>{"question"}));
  RunConfig a, b;
  a.session_id = "alice";
  b.session_id = "bob";
  chain.invoke({{"question", "q1"}}, a);
  chain.invoke({{"question", "q2"}}, a);
  chain.invoke({{"question", "other"}}, b);
  chain.invoke({{"question", "q3"}}, a);
  auto msgs = llm->last_call().input.messages;
  // system + last 1 turn (q2 / reply) + q3
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[1], (Message{"user", "q2"}));
  EXPECT_EQ(msgs[2], (Message{"assistant", "reply to q2"}));
  EXPECT_EQ(o.memory->store()->load("alice").size(), 6u);
  EXPECT_EQ(o.memory->store()->load("bob").size(), 2u);
}

TEST(LLMChain, StringPromptGetsHistoryText) {
  auto llm = fake({"A1", "A2"});
  LLMChainOptions o;
  o.memory = std::make_shared<ConversationMemory>();
  LLMChain chain(llm, PromptTemplate::from_template("{history}\nHuman: {input}\nAI:"), "response", o);
  chain.run("hi");
  chain.run("again");
  EXPECT_EQ(llm->last_call().input.prompt, "Human: hi\nAI: A1\nHuman: again\nAI:");
}

TEST(LLMChain, Streams) {
  LLMChain chain(fake({"a b c"}), PromptTemplate::from_template("{q}"));
  std::string streamed;
  Json out = chain.stream("x", [&](const Json& c) { streamed += c.get<std::string>(); });
  EXPECT_EQ(streamed, "a b c");
  EXPECT_EQ(out["text"], "a b c");
}

TEST(SimpleSequentialChain, PipesSingleValues) {
  auto first =
      std::make_shared<LLMChain>(fake({"OUTLINE"}), PromptTemplate::from_template("Outline {topic}"), "outline");
  auto llm2 = fake({"DRAFT"});
  auto second = std::make_shared<LLMChain>(llm2, PromptTemplate::from_template("Draft from {outline}"), "draft");
  SimpleSequentialChain chain({first, second});
  EXPECT_EQ(chain.run("cats"), "DRAFT");
  EXPECT_EQ(llm2->last_call().input.prompt, "Draft from OUTLINE");
  auto two_inputs = std::make_shared<LLMChain>(fake({"x"}), PromptTemplate::from_template("{a}{b}"));
  EXPECT_NE(error_of([&] { SimpleSequentialChain({first, two_inputs}); }).find("step 2"), std::string::npos);
}

TEST(SequentialChain, NamedVariablesAndValidation) {
  auto outline = std::make_shared<LLMChain>(fake({"O"}),
                                            PromptTemplate::from_template("Outline {topic} for {audience}"), "outline");
  auto llm2 = fake({"D"});
  auto draft =
      std::make_shared<LLMChain>(llm2, PromptTemplate::from_template("Draft {outline} for {audience}"), "draft");
  SequentialChain chain({outline, draft}, {"topic", "audience"}, {"outline", "draft"});
  Json out = chain.invoke({{"topic", "t"}, {"audience", "kids"}});
  EXPECT_EQ(out["outline"], "O");
  EXPECT_EQ(out["draft"], "D");
  EXPECT_EQ(llm2->last_call().input.prompt, "Draft O for kids");

  draft->set_name("draft");
  std::string e = error_of([&] { SequentialChain({outline, draft}, {"topic"}, {"draft"}); });
  EXPECT_NE(e.find("step 1 ('llm_chain') needs variable 'audience'"), std::string::npos) << e;
  e = error_of([&] { SequentialChain({draft, outline}, {"topic", "audience"}); });
  EXPECT_NE(e.find("step 1 ('draft') needs variable 'outline'"), std::string::npos) << e;
  e = error_of([&] { SequentialChain({outline}, {"topic", "audience"}, {"summary"}); });
  EXPECT_NE(e.find("output variable 'summary'"), std::string::npos) << e;
}

TEST(SequentialChain, StreamsLastStep) {
  auto a = std::make_shared<LLMChain>(fake({"A"}), PromptTemplate::from_template("{x}"), "a");
  auto b = std::make_shared<LLMChain>(fake({"b1 b2"}), PromptTemplate::from_template("{a}"), "b");
  SequentialChain chain({a, b}, {"x"});
  std::vector<std::string> chunks;
  Json out = chain.stream({{"x", 1}}, [&](const Json& c) { chunks.push_back(c.get<std::string>()); });
  EXPECT_EQ(chunks, (std::vector<std::string>{"b1", " b2"}));
  EXPECT_EQ(out["b"], "b1 b2");
}

std::vector<Destination> destinations(std::shared_ptr<FakeLLM>& books_llm, std::shared_ptr<FakeLLM>& music_llm) {
  books_llm = fake({"BOOKS"});
  music_llm = fake({"MUSIC"});
  return {{"books", "book recommendations",
           std::make_shared<LLMChain>(books_llm, PromptTemplate::from_template("{query}"))},
          {"music", "music recommendations",
           std::make_shared<LLMChain>(music_llm, PromptTemplate::from_template("{query}"))}};
}

TEST(RouterChain, RuleFunction) {
  std::shared_ptr<FakeLLM> b, m;
  auto def = std::make_shared<LLMChain>(fake({"GENERAL"}), PromptTemplate::from_template("{query}"));
  RouterChain router(destinations(b, m), def, [](const Json& in) -> std::string {
    return in["query"].get<std::string>().find("song") != std::string::npos ? "music" : "";
  });
  EXPECT_EQ(router.run("a song please"), "MUSIC");
  EXPECT_EQ(router.run("anything"), "GENERAL");
}

TEST(RouterChain, ClassifierModel) {
  std::shared_ptr<FakeLLM> b, m;
  auto def = std::make_shared<LLMChain>(fake({"GENERAL"}), PromptTemplate::from_template("{query}"));
  auto classifier = fake({"Books.", "I would say music", "DEFAULT", "weather"});
  RouterChain router(destinations(b, m), def, classifier);
  EXPECT_EQ(router.run("novel?"), "BOOKS");
  EXPECT_EQ(router.run("tune?"), "MUSIC");
  EXPECT_EQ(router.run("x"), "GENERAL");
  EXPECT_EQ(router.run("y"), "GENERAL");
  auto prompt = classifier->last_call().input.prompt;
  EXPECT_NE(prompt.find("- books: book recommendations"), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("Input: y"), std::string::npos) << prompt;
  EXPECT_FLOAT_EQ(*classifier->last_call().params.temperature, 0.0f);
}

}  // namespace
}  // namespace llmchain::chain
