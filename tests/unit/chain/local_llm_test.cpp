// LocalLLM over a scripted engine::Engine.
#include "chain/local_llm.h"

#include <gtest/gtest.h>

#include <mutex>

#include "chain/llm_chain.h"
#include "engine/generation.h"

namespace llmchain::chain {
namespace {

class ScriptedEngine : public engine::Engine {
 public:
  const engine::ModelInfo& info() const override { return info_; }
  bool ready() const override { return true; }
  Expected<std::vector<int32_t>> tokenize(const std::string& text, bool add_special,
                                          bool parse_special) const override {
    std::lock_guard<std::mutex> lock(mu_);
    last_tokenized = text;
    last_parse_special = parse_special;
    std::vector<int32_t> t;
    if (add_special) t.push_back(1);
    for (char c : text) t.push_back(static_cast<unsigned char>(c));
    return t;
  }
  std::string detokenize(const std::vector<int32_t>&) const override { return ""; }
  Expected<std::string> apply_chat_template(const std::vector<engine::ChatMessage>& messages,
                                            bool add_generation_prompt, const std::string&,
                                            const nlohmann::json& tools) const override {
    last_tools = tools;
    last_messages = messages;
    std::string s;
    for (const auto& m : messages) s += "<|" + m.role + "|>" + m.content;
    if (add_generation_prompt) s += "<|assistant|>";
    return s;
  }
  // Produces its script at once: the generation is finished when submit() returns.
  std::shared_ptr<engine::Generation> submit(engine::GenerateRequest req) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_request = req;
    }
    auto gen = std::make_shared<engine::Generation>(req.cancel);
    engine::GenerateResult r;
    for (const auto& piece : script) {
      engine::TokenEvent ev;
      ev.text = piece;
      gen->push(ev);
      r.text += piece;
    }
    r.finish_reason = engine::FinishReason::kStop;
    r.prompt_tokens = static_cast<int32_t>(req.prompt.size());
    r.completion_tokens = 3;
    gen->finish(std::move(r));
    return gen;
  }
  Expected<std::vector<float>> embed(const std::vector<int32_t>&) override { return std::vector<float>{}; }
  engine::EngineStats stats() const override { return {}; }

  engine::ModelInfo info_{"tiny-model"};
  std::vector<std::string> script = {"Hi", "", " there"};  // what every generation produces
  mutable nlohmann::json last_tools;                       // what apply_chat_template was given
  mutable std::vector<engine::ChatMessage> last_messages;
  mutable std::mutex mu_;
  mutable std::string last_tokenized;
  mutable bool last_parse_special = false;
  engine::GenerateRequest last_request;
};

TEST(LocalLLM, PromptAndParams) {
  ScriptedEngine eng;
  LocalLLMOptions o;
  o.max_tokens = 77;
  LocalLLM llm(eng, o);
  EXPECT_EQ(llm.model_name(), "tiny-model");
  EXPECT_TRUE(llm.supports_json_schema());
  LlmParams p;
  p.temperature = 0.0f;
  p.seed = 42;
  p.stop = std::vector<std::string>{"END"};
  p.json_schema = Json{{"type", "object"}};
  auto r = llm.generate(LlmInput::text("abc"), p);
  EXPECT_EQ(r.text, "Hi there");
  EXPECT_EQ(r.prompt_tokens, 4);  // BOS + 3 bytes
  EXPECT_EQ(eng.last_tokenized, "abc");
  EXPECT_FALSE(eng.last_parse_special);
  EXPECT_EQ(eng.last_request.max_tokens, 77);
  EXPECT_FLOAT_EQ(eng.last_request.sampling.temperature, 0.0f);
  EXPECT_EQ(eng.last_request.sampling.seed, 42u);
  EXPECT_EQ(eng.last_request.stop, (std::vector<std::string>{"END"}));
  ASSERT_TRUE(eng.last_request.constraint.json_schema);
}

TEST(LocalLLM, ChatUsesTemplateAndStreams) {
  ScriptedEngine eng;
  auto llm = std::make_shared<LocalLLM>(eng);
  std::vector<std::string> pieces;
  auto r = llm->stream(LlmInput::from_messages({{"system", "S"}, {"user", "U"}}), {}, [&](const std::string& p) {
    pieces.push_back(p);
    return true;
  });
  EXPECT_EQ(eng.last_tokenized, "<|system|>S<|user|>U<|assistant|>");
  EXPECT_TRUE(eng.last_parse_special);
  EXPECT_EQ(pieces, (std::vector<std::string>{"Hi", " there"}));  // empty pieces are not emitted
  EXPECT_EQ(r.text, "Hi there");
  // stopping from the callback is a cancelled result, not an error
  auto stopped = llm->stream(LlmInput::text("x"), {}, [](const std::string&) { return false; });
  EXPECT_EQ(stopped.finish_reason, FinishReason::kCancelled);
}

// A LocalLLM built over a shared engine keeps it alive after every other owner is gone (the
// YAML model factory returns models whose engine nobody else holds).
TEST(LocalLLM, OwnsASharedEngine) {
  std::weak_ptr<ScriptedEngine> watch;
  LanguageModelPtr llm;
  {
    auto eng = std::make_shared<ScriptedEngine>();
    watch = eng;
    llm = std::make_shared<LocalLLM>(std::shared_ptr<engine::Engine>(eng));
  }
  ASSERT_FALSE(watch.expired());
  EXPECT_NO_THROW(llm->generate(LlmInput::text("hello")));
  llm.reset();
  EXPECT_TRUE(watch.expired());
}

TEST(LocalLLM, InAChain) {
  ScriptedEngine eng;
  auto llm = std::make_shared<LocalLLM>(eng);
  LLMChain chain(llm, PromptTemplate::from_template("Write a product description for {product}."));
  EXPECT_EQ(chain.run("socks"), "Hi there");
  EXPECT_EQ(eng.last_tokenized, "Write a product description for socks.");
  RunConfig cfg;
  cfg.cancel.cancel();
  EXPECT_THROW(chain.run("socks", cfg), Error);
}

const Json kWeatherTools = Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");

// Tools reach the chat template; a call the model writes in its family's format comes back as an
// OpenAI-shaped tool call, and none of its markup streams out as text.
TEST(LocalLLM, ToolCallsComeBackParsed) {
  ScriptedEngine eng;
  eng.script = {"Let me check. ", "<tool_call>", R"({"name": "get_weather", )", R"("arguments": {"city": "Paris"}})",
                "</tool_call>"};
  auto llm = std::make_shared<LocalLLM>(eng);
  LlmParams p;
  p.tools = kWeatherTools;
  std::string streamed;
  auto r = llm->stream(LlmInput::from_messages({{"user", "Weather in Paris?"}}), p, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(eng.last_tools, kWeatherTools);
  EXPECT_FALSE(eng.last_request.constraint.json_schema) << "tool_choice auto: the model may answer in text";
  ASSERT_EQ(r.tool_calls.size(), 1u) << r.text;
  EXPECT_EQ(r.tool_calls[0]["type"], "function");
  EXPECT_EQ(r.tool_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(Json::parse(r.tool_calls[0]["function"]["arguments"].get<std::string>()), Json({{"city", "Paris"}}));
  EXPECT_EQ(r.tool_calls[0]["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(r.finish_reason, FinishReason::kToolCalls);
  EXPECT_EQ(r.text, "Let me check.");
  EXPECT_EQ(streamed.find("tool_call"), std::string::npos) << streamed;

  // A reply without a call is text, streamed whole.
  eng.script = {"It is ", "sunny."};
  streamed.clear();
  r = llm->stream(LlmInput::from_messages({{"user", "Hi"}}), p, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.text, "It is sunny.");
  EXPECT_EQ(streamed, "It is sunny.");
  EXPECT_EQ(r.finish_reason, FinishReason::kStop);
}

// A call that must be made (tool_choice required or named) is constrained to a valid call; the
// named form's reply is the arguments object itself.
TEST(LocalLLM, ForcedToolCallIsConstrained) {
  ScriptedEngine eng;
  eng.script = {R"({"city": )", R"("Oslo"})"};
  auto llm = std::make_shared<LocalLLM>(eng);
  LlmParams p;
  p.tools = kWeatherTools;
  p.tool_choice = Json{{"type", "function"}, {"function", {{"name", "get_weather"}}}};
  p.json_schema = Json{{"type", "array"}};  // replaced by the call's schema
  std::string streamed;
  auto r = llm->stream(LlmInput::from_messages({{"user", "Weather?"}}), p, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  ASSERT_TRUE(eng.last_request.constraint.json_schema);
  EXPECT_EQ((*eng.last_request.constraint.json_schema)["properties"]["city"]["type"], "string");
  ASSERT_EQ(r.tool_calls.size(), 1u) << r.text;
  EXPECT_EQ(r.tool_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(Json::parse(r.tool_calls[0]["function"]["arguments"].get<std::string>()), Json({{"city", "Oslo"}}));
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(streamed, "") << "a forced call is not text";
}

// The next turn after a call: the assistant's call and the tool's answer reach the chat template
// as OpenAI's fields (what the server's /v1/chat/completions passes on too), and survive JSON.
TEST(LocalLLM, ToolResultsReachTheTemplate) {
  const Json conversation = Json::parse(R"([
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "18 C, sunny"}])");
  auto messages = messages_from_json(conversation);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[1].content, "");
  EXPECT_EQ(messages[2].tool_call_id, "call_1");
  auto back = messages_to_json(messages);
  EXPECT_EQ(back[1]["tool_calls"], conversation[1]["tool_calls"]);
  EXPECT_EQ(back[2]["tool_call_id"], "call_1");
  EXPECT_EQ(messages_from_json(back), messages);

  ScriptedEngine eng;
  LocalLLM llm(eng);
  LlmParams p;
  p.tools = kWeatherTools;
  auto r = llm.generate(LlmInput::from_messages(messages), p);
  EXPECT_EQ(r.text, "Hi there");
  ASSERT_EQ(eng.last_messages.size(), 3u);
  EXPECT_EQ(eng.last_messages[1].extra["tool_calls"], conversation[1]["tool_calls"]);
  EXPECT_EQ(eng.last_messages[2].role, "tool");
  EXPECT_EQ(eng.last_messages[2].extra["tool_call_id"], "call_1");
  EXPECT_EQ(eng.last_messages[2].extra["name"], "get_weather");

  EXPECT_THROW(messages_from_json(Json::parse(R"([{"role": "assistant", "tool_calls": {"id": 1}}])")), Error);
  EXPECT_THROW(messages_from_json(Json::parse(R"([{"role": "tool", "tool_call_id": 7, "content": "x"}])")), Error);
}

// Bad tools are refused naming the field, before anything is generated; tools need messages.
TEST(LocalLLM, BadToolsAreRefused) {
  try {
    LlmParams::from_json(Json{{"tools", Json::array({{{"type", "function"}, {"function", {{"name", "a b"}}}}})}});
    FAIL() << "accepted a function name with a space";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("params.tools[0].function.name"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LlmParams::from_json(Json{{"tool_choice", "required"}}), Error);  // no tools
  auto p = LlmParams::from_json(Json{{"tools", kWeatherTools}, {"tool_choice", "required"}});
  EXPECT_EQ(p.to_json()["tool_choice"], "required");
  ScriptedEngine eng;
  LocalLLM llm(eng);
  try {
    llm.generate(LlmInput::text("plain prompt"), p);
    FAIL() << "tools with a text prompt";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace llmchain::chain
