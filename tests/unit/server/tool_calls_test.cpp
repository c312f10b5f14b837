// tools / tool_choice parsing, the forced-call constraint, and reading calls
// out of generated text, whole and streamed.
#include "server/tool_calls.h"

#include <gtest/gtest.h>

#include "server/api_error.h"

namespace llmchain::server {
namespace {

using nlohmann::json;

json body_with(const char* extra) {
  json b = json::parse(R"({"messages":[{"role":"user","content":"hi"}],
      "tools":[{"type":"function","function":{"name":"get_weather",
                 "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
               {"type":"function","function":{"name":"get_time"}}]})");
  b.update(json::parse(extra));
  return b;
}

// The param named by the 400 a body gets, or "" when it parses.
std::string rejected_param(const json& body) {
  try {
    parse_tool_request(body);
  } catch (const ApiException& e) {
    EXPECT_EQ(e.error().status, 400);
    return e.error().param.value_or("<none>");
  }
  return "";
}

TEST(ToolRequest, DefaultsToAutoWithToolsAndNoneWithout) {
  ToolRequest t = parse_tool_request(body_with("{}"));
  EXPECT_EQ(t.mode, ToolMode::kAuto);
  ASSERT_EQ(t.specs.size(), 2u);
  EXPECT_EQ(t.specs[1].parameters, json::parse(R"({"type":"object"})"));
  EXPECT_TRUE(t.tools.is_array());
  EXPECT_EQ(parse_tool_request(json::parse(R"({"messages":[]})")).mode, ToolMode::kNone);
}

TEST(ToolRequest, ToolChoiceModes) {
  EXPECT_EQ(parse_tool_request(body_with(R"({"tool_choice":"required"})")).mode, ToolMode::kRequired);
  ToolRequest none = parse_tool_request(body_with(R"({"tool_choice":"none"})"));
  EXPECT_EQ(none.mode, ToolMode::kNone);
  EXPECT_TRUE(none.tools.is_null()) << "with tool_choice none the model is not shown the tools";
  ToolRequest named =
      parse_tool_request(body_with(R"({"tool_choice":{"type":"function","function":{"name":"get_time"}}})"));
  EXPECT_EQ(named.mode, ToolMode::kNamed);
  EXPECT_EQ(named.forced, "get_time");
  EXPECT_FALSE(parse_tool_request(body_with(R"({"parallel_tool_calls":false})")).parallel);
}

TEST(ToolRequest, MalformedValuesNameTheField) {
  json no_tools = json::parse(R"({"messages":[], "tool_choice":"auto"})");
  EXPECT_EQ(rejected_param(no_tools), "tool_choice");
  json t = json::parse(R"({"tools":{}})");
  EXPECT_EQ(rejected_param(t), "tools");
  EXPECT_EQ(rejected_param(json::parse(R"({"tools":[]})")), "tools");
  EXPECT_EQ(rejected_param(json::parse(R"({"tools":[3]})")), "tools[0]");
  EXPECT_EQ(rejected_param(json::parse(R"({"tools":[{"function":{"name":"f"}}]})")), "tools[0].type");
  EXPECT_EQ(rejected_param(json::parse(R"({"tools":[{"type":"code","function":{"name":"f"}}]})")), "tools[0].type");
  EXPECT_EQ(rejected_param(json::parse(R"({"tools":[{"type":"function"}]})")), "tools[0].function");
  EXPECT_EQ(rejected_param(json::parse(R"({"tools":[{"type":"function","function":{}}]})")), "tools[0].function.name");
  EXPECT_EQ(rejected_param(json::parse(R"({"tools":[{"type":"function","function":{"name":"a b"}}]})")),
            "tools[0].function.name");
  EXPECT_EQ(rejected_param(json::parse(R"({"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]})")),
            "tools[0].function.parameters");
  EXPECT_EQ(rejected_param(json::parse(R"({"tools":[{"type":"function","function":{"name":"f"}},
                                                     {"type":"function","function":{"name":"f"}}]})")),
            "tools[1].function.name");
  EXPECT_EQ(rejected_param(body_with(R"({"tool_choice":"always"})")), "tool_choice");
  EXPECT_EQ(rejected_param(body_with(R"({"tool_choice":7})")), "tool_choice");
  EXPECT_EQ(rejected_param(body_with(R"({"tool_choice":{"type":"function","function":{"name":"nope"}}})")),
            "tool_choice.function.name");
  EXPECT_EQ(rejected_param(body_with(R"({"tool_choice":{"type":"function"}})")), "tool_choice.function");
  EXPECT_EQ(rejected_param(body_with(R"({"parallel_tool_calls":"yes"})")), "parallel_tool_calls");
  EXPECT_EQ(rejected_param(body_with(R"({"functions":[]})")), "functions");
}

TEST(ToolConstraint, NamedIsTheArgumentsSchemaRequiredIsAnyOfCalls) {
  ToolRequest named =
      parse_tool_request(body_with(R"({"tool_choice":{"type":"function","function":{"name":"get_weather"}}})"));
  auto c = tool_constraint(named);
  ASSERT_TRUE(c.json_schema);
  EXPECT_EQ((*c.json_schema)["required"], json::array({"city"}));

  auto r = tool_constraint(parse_tool_request(body_with(R"({"tool_choice":"required"})")));
  ASSERT_TRUE(r.json_schema);
  const json& any = (*r.json_schema)["anyOf"];
  ASSERT_EQ(any.size(), 2u);
  EXPECT_EQ(any[0]["properties"]["name"]["const"], "get_weather");
  EXPECT_EQ(any[1]["properties"]["arguments"], json::parse(R"({"type":"object"})"));

  EXPECT_TRUE(tool_constraint(parse_tool_request(body_with("{}"))).empty());
}

TEST(ToolOutput, NamedReplyIsTheArguments) {
  ToolRequest t =
      parse_tool_request(body_with(R"({"tool_choice":{"type":"function","function":{"name":"get_weather"}}})"));
  ToolOutput o = parse_tool_output(t, " {\"city\": \"Paris\"}\n");
  ASSERT_EQ(o.calls.size(), 1u);
  EXPECT_EQ(o.calls[0].name, "get_weather");
  EXPECT_EQ(o.calls[0].arguments, "{\"city\": \"Paris\"}");
  EXPECT_EQ(o.calls[0].id.rfind("call_", 0), 0u);
  EXPECT_STREQ(t.calls_finish_reason(), "stop");
}

TEST(ToolOutput, RequiredReplyNamesTheTool) {
  ToolRequest t = parse_tool_request(body_with(R"({"tool_choice":"required"})"));
  ToolOutput o = parse_tool_output(t, R"({"arguments":{"city":"Oslo"},"name":"get_weather"})");
  ASSERT_EQ(o.calls.size(), 1u);
  EXPECT_EQ(o.calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(o.calls[0].arguments), json::parse(R"({"city":"Oslo"})"));
  EXPECT_STREQ(t.calls_finish_reason(), "tool_calls");
}

TEST(ToolOutput, AutoRecognisesTaggedCalls) {
  ToolRequest t = parse_tool_request(body_with("{}"));
  ToolOutput o = parse_tool_output(
      t,
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>\n"
      "<tool_call>{\"name\": \"get_time\", \"arguments\": \"{\\\"zone\\\": \\\"CET\\\"}\"}");  // cut off
  ASSERT_EQ(o.calls.size(), 2u);
  EXPECT_EQ(o.content, "Let me check.");
  EXPECT_EQ(o.calls[0].arguments, R"({"city":"Rome"})");
  EXPECT_EQ(o.calls[1].name, "get_time");
  EXPECT_EQ(o.calls[1].arguments, R"({"zone": "CET"})");
  EXPECT_NE(o.calls[0].id, o.calls[1].id);
}

TEST(ToolOutput, AutoRecognisesBareJsonAndMistralCalls) {
  ToolRequest t = parse_tool_request(body_with("{}"));
  ToolOutput llama = parse_tool_output(t, R"( {"name": "get_weather", "parameters": {"city": "Lima"}})");
  ASSERT_EQ(llama.calls.size(), 1u);
  EXPECT_EQ(llama.calls[0].arguments, R"({"city":"Lima"})");
  EXPECT_TRUE(llama.content.empty());
  ToolOutput mistral =
      parse_tool_output(t, R"([TOOL_CALLS][{"name":"get_time","arguments":{}},{"name":"get_weather","arguments":{}}])");
  EXPECT_EQ(mistral.calls.size(), 2u);
}

TEST(ToolOutput, AutoLeavesOtherTextAsContent) {
  ToolRequest t = parse_tool_request(body_with("{}"));
  for (const char* text : {"Once upon a time", R"({"name": "unknown_tool", "arguments": {}})", R"({"city": "x"})",
                           "<tool_call>not json</tool_call>", "[1, 2]"}) {
    ToolOutput o = parse_tool_output(t, text);
    EXPECT_TRUE(o.calls.empty()) << text;
    EXPECT_EQ(o.content, text);
  }
}

TEST(ToolOutput, ParallelFalseKeepsTheFirstCall) {
  ToolRequest t = parse_tool_request(body_with(R"({"parallel_tool_calls":false})"));
  ToolOutput o = parse_tool_output(t, R"([{"name":"get_time","arguments":{}},{"name":"get_weather","arguments":{}}])");
  ASSERT_EQ(o.calls.size(), 1u);
  EXPECT_EQ(o.calls[0].name, "get_time");
}

// Feeds text one byte at a time, as a tokenizer with byte tokens would.
std::pair<std::string, ToolOutput> stream(const ToolRequest& t, const std::string& text) {
  ToolStreamFilter f(t);
  std::string sent;
  for (char c : text) sent += f.feed(std::string(1, c));
  ToolOutput end = f.finish();
  sent += end.content;
  return {sent, end};
}

TEST(ToolStreamFilter, PlainTextPassesThroughAsItComes) {
  ToolRequest t = parse_tool_request(body_with("{}"));
  ToolStreamFilter f(t);
  EXPECT_EQ(f.feed("Once"), "Once");
  EXPECT_EQ(f.feed(" upon <to"), " upon ") << "a possible marker start is held";
  EXPECT_EQ(f.feed("y>"), "<toy>");
  EXPECT_EQ(f.finish().content, "");
  auto [sent, end] = stream(t, "No call <here>, and [TOOL] neither.");
  EXPECT_EQ(sent, "No call <here>, and [TOOL] neither.");
  EXPECT_TRUE(end.calls.empty());
}

TEST(ToolStreamFilter, CallsAreHeldAndParsedAtTheEnd) {
  ToolRequest t = parse_tool_request(body_with("{}"));
  auto [sent, end] = stream(t, "Checking.<tool_call>{\"name\":\"get_weather\",\"arguments\":{}}</tool_call>");
  EXPECT_EQ(sent, "Checking.");
  ASSERT_EQ(end.calls.size(), 1u);
  EXPECT_EQ(end.calls[0].name, "get_weather");

  auto [sent2, end2] = stream(t, "  {\"name\":\"get_time\",\"arguments\":{}}");
  EXPECT_EQ(sent2, "");
  EXPECT_EQ(end2.calls.size(), 1u);
}

TEST(ToolStreamFilter, JsonThatIsNotACallIsSentAtTheEnd) {
  ToolRequest t = parse_tool_request(body_with("{}"));
  auto [sent, end] = stream(t, "{\"answer\": 42}");
  EXPECT_EQ(sent, "{\"answer\": 42}");
  EXPECT_TRUE(end.calls.empty());
}

}  // namespace
}  // namespace llmchain::server
