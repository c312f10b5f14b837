// Tool definitions, calls and results for templates that do not render tools
// themselves (they are lowered to plain system / assistant / user text), and
// templates that do (they get `tools` and the messages untouched).
#include "chat/chat_template.h"
#include "test_util.h"

namespace llmchain::chat::testing {
namespace {

using nlohmann::json;

const char* kPlain =
    "{% for m in messages %}[{{ m.role }}]{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% "
    "endif %}";
const char* kToolAware =
    "{% if tools %}TOOLS:{{ tools | length }}\n{% endif %}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% if "
    "m.tool_calls %}CALLS:{{ m.tool_calls | length }}{% endif %}\n{% endfor %}";

json weather_tools() {
  return json::parse(R"([{"type":"function","function":{"name":"get_weather",
      "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])");
}

std::string apply(const char* source, const json& messages, const json& tools) {
  auto t = Template::parse(source);
  if (!t.ok()) return "PARSE ERROR: " + t.error().message();
  ChatOptions opts;
  opts.tools = tools;
  auto r = apply_chat_template(*t, messages, opts);
  return r.ok() ? *r : "ERROR: " + r.error().message();
}

TEST(ChatTools, TemplateReportsWhetherItReadsTools) {
  EXPECT_FALSE(Template::parse(kPlain)->handles_tools());
  EXPECT_TRUE(Template::parse(kToolAware)->handles_tools());
}

TEST(ChatTools, PlainTemplateGetsToolsInANewSystemMessage) {
  std::string out = apply(kPlain, json::parse(R"([{"role":"user","content":"hi"}])"), weather_tools());
  ASSERT_EQ(out.rfind("[system]", 0), 0u) << out;
  EXPECT_NE(out.find(R"("name":"get_weather")"), std::string::npos) << out;
  EXPECT_NE(out.find("<tool_call>"), std::string::npos) << out;
  EXPECT_NE(out.find("[user]hi\n[assistant]"), std::string::npos) << out;
}

TEST(ChatTools, PlainTemplateAppendsToolsToTheExistingSystemMessage) {
  std::string out = apply(kPlain, json::parse(R"([{"role":"system","content":"Be brief."},
      {"role":"user","content":"hi"}])"),
                          weather_tools());
  EXPECT_EQ(out.rfind("[system]Be brief.\n\nYou may call functions", 0), 0u) << out;
  EXPECT_EQ(out.find("[system]", 1), std::string::npos) << "one system message only: " << out;
}

TEST(ChatTools, PlainTemplateGetsCallsAndResultsAsText) {
  json msgs = json::parse(R"([
      {"role":"user","content":"Weather in Rome and Oslo?"},
      {"role":"assistant","content":null,"tool_calls":[
        {"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}},
        {"id":"c2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
      {"role":"tool","tool_call_id":"c1","content":"sunny"},
      {"role":"tool","tool_call_id":"c2","content":"snow"}])");
  std::string out = apply(kPlain, msgs, nullptr);
  EXPECT_NE(out.find("[assistant]<tool_call>\n{\"arguments\":{\"city\":\"Rome\"},\"name\":\"get_weather\"}\n"
                     "</tool_call>\n<tool_call>\n{\"arguments\":{\"city\":\"Oslo\"},\"name\":\"get_weather\"}\n"
                     "</tool_call>\n"),
            std::string::npos)
      << out;
  // Both results in one user turn, so role alternation holds.
  EXPECT_NE(out.find("[user]<tool_response>\nsunny\n</tool_response>\n<tool_response>\nsnow\n</tool_response>\n"
                     "[assistant]"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("[tool]"), std::string::npos) << out;
  EXPECT_EQ(out.find("[system]"), std::string::npos) << "no tools given, none described: " << out;
}

TEST(ChatTools, ToolAwareTemplateRendersToolsItself) {
  json msgs = json::parse(R"([{"role":"user","content":"hi"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
        "function":{"name":"get_weather","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"c1","content":"sunny"}])");
  // HF conventions: trim_blocks eats the newline after a block tag; a null content renders "None".
  EXPECT_EQ(apply(kToolAware, msgs, weather_tools()), "TOOLS:1\n[user]hi[assistant]NoneCALLS:1[tool]sunny");
}

TEST(ChatTools, NoToolsLeavesMessagesAlone) {
  EXPECT_EQ(apply(kPlain, json::parse(R"([{"role":"user","content":"hi"}])"), nullptr), "[user]hi\n[assistant]");
  EXPECT_EQ(apply(kPlain, json::parse(R"([{"role":"user","content":"hi"}])"), json::array()), "[user]hi\n[assistant]");
}

}  // namespace
// Messages of the wrong shape are an Error, whatever the template (found by chat_template_fuzz:
// a numeric role escaped as a JSON library exception).
TEST(ChatTools, WrongTypesInMessagesAreErrors) {
  auto t = Template::parse(kPlain);
  ASSERT_TRUE(t.ok());
  for (const char* bad : {R"([{"role": 1, "content": "x"}])", R"([{"role": "user", "content": 5}])",
                          R"([{"role": "tool", "content": "x"}, {"role": 2}])"}) {
    auto r = apply_chat_template(*t, json::parse(bad), ChatOptions{});
    EXPECT_FALSE(r.ok()) << bad;
  }
}

}  // namespace llmchain::chat::testing
