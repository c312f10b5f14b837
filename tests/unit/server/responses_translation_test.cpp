// The Responses API without a server: request translation to chat completions, errors that
// name the Responses field, chat completions back to response objects, and the store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "responses_test_util.h"
#include "server/api_error.h"
#include "server/responses_api.h"
#include "server/responses_store.h"

namespace llmchain::server::test {
namespace {

using nlohmann::json;

// ---- translation (no server) ----

ApiError parse_error(const json& body) {
  try {
    auto r = parse_responses_request(body);
    chat_body_for(r, json::array());
  } catch (const ApiException& e) {
    return e.error();
  }
  ADD_FAILURE() << "no error for " << body.dump();
  return {};
}

TEST(ResponsesTranslation, RequestBecomesChatBody) {
  json body = {{"model", "m"},
               {"input", "hello"},
               {"instructions", "be brief"},
               {"max_output_tokens", 7},
               {"temperature", 0.5},
               {"top_p", 0.9},
               {"user", "u1"},
               {"parallel_tool_calls", false},
               {"metadata", {{"k", "v"}}},
               {"tools", {kWeatherTool}},
               {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}}};
  auto r = parse_responses_request(body);
  json chat = chat_body_for(r, json::array());
  EXPECT_EQ(chat["model"], "m");
  EXPECT_EQ(chat["max_tokens"], 7);
  EXPECT_EQ(chat["temperature"], 0.5);
  EXPECT_EQ(chat["top_p"], 0.9);
  EXPECT_EQ(chat["user"], "u1");
  EXPECT_EQ(chat["parallel_tool_calls"], false);
  EXPECT_FALSE(chat.contains("metadata"));
  ASSERT_EQ(chat["messages"].size(), 2u);
  EXPECT_EQ(chat["messages"][0], json({{"role", "system"}, {"content", "be brief"}}));
  EXPECT_EQ(chat["messages"][1], json({{"role", "user"}, {"content", "hello"}}));
  EXPECT_EQ(chat["tools"][0]["type"], "function");
  EXPECT_EQ(chat["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(chat["tools"][0]["function"]["parameters"], kWeatherTool["parameters"]);
  EXPECT_EQ(chat["tools"][0]["function"]["strict"], true);
  EXPECT_EQ(chat["tool_choice"], json({{"type", "function"}, {"function", {{"name", "get_weather"}}}}));
  EXPECT_FALSE(chat.contains("stream"));
  // What the response object repeats.
  const json& e = r.skeleton;
  EXPECT_EQ(e["instructions"], "be brief");
  EXPECT_EQ(e["max_output_tokens"], 7);
  EXPECT_EQ(e["metadata"], json({{"k", "v"}}));
  EXPECT_EQ(e["parallel_tool_calls"], false);
  EXPECT_EQ(e["tools"][0]["name"], "get_weather");
  EXPECT_EQ(e["tool_choice"], body["tool_choice"]);
  EXPECT_EQ(e["text"]["format"]["type"], "text");
  EXPECT_EQ(e["store"], true);
  EXPECT_EQ(e["user"], "u1");
}

TEST(ResponsesTranslation, ItemsBecomeMessagesAndToolTurns) {
  json input = json::array(
      {{{"role", "developer"}, {"content", "dev says"}},
       {{"type", "message"},
        {"role", "user"},
        {"content", {{{"type", "input_text"}, {"text", "part one, "}}, {{"type", "input_text"}, {"text", "two"}}}}},
       {{"type", "message"},
        {"role", "assistant"},
        {"id", "msg_1"},
        {"status", "completed"},
        {"content", {{{"type", "output_text"}, {"text", "let me look"}, {"annotations", json::array()}}}}},
       {{"type", "function_call"}, {"call_id", "call_a"}, {"name", "f"}, {"arguments", "{\"x\":1}"}, {"id", "fc_1"}},
       {{"type", "function_call"}, {"call_id", "call_b"}, {"name", "g"}, {"arguments", "{}"}},
       {{"type", "function_call_output"}, {"call_id", "call_a"}, {"output", "one"}},
       {{"type", "function_call_output"},
        {"call_id", "call_b"},
        {"output", {{{"type", "input_text"}, {"text", "two"}}}}},
       {{"type", "reasoning"}, {"id", "rs_1"}, {"summary", json::array()}}});
  auto r = parse_responses_request({{"input", input}, {"stream", true}});
  json chat = chat_body_for(r, json::array());
  const json& m = chat["messages"];
  ASSERT_EQ(m.size(), 5u) << m.dump();
  EXPECT_EQ(m[0], json({{"role", "developer"}, {"content", "dev says"}}));
  EXPECT_EQ(m[1], json({{"role", "user"}, {"content", "part one, two"}}));
  EXPECT_EQ(m[2]["role"], "assistant");
  EXPECT_EQ(m[2]["content"], "let me look");
  ASSERT_EQ(m[2]["tool_calls"].size(), 2u);
  EXPECT_EQ(m[2]["tool_calls"][0],
            json({{"id", "call_a"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{\"x\":1}"}}}}));
  EXPECT_EQ(m[2]["tool_calls"][1]["id"], "call_b");
  EXPECT_EQ(m[3], json({{"role", "tool"}, {"tool_call_id", "call_a"}, {"content", "one"}}));
  EXPECT_EQ(m[4], json({{"role", "tool"}, {"tool_call_id", "call_b"}, {"content", "two"}}));
  EXPECT_EQ(chat["stream"], true);
  EXPECT_EQ(chat["stream_options"]["include_usage"], true);
}

TEST(ResponsesTranslation, HistoryComesBeforeInputAndInstructionsAreNotCarried) {
  json history = json::array(
      {{{"type", "message"}, {"role", "user"}, {"content", "first"}},
       {{"type", "message"}, {"role", "assistant"}, {"content", {{{"type", "output_text"}, {"text", "answer"}}}}}});
  auto r = parse_responses_request({{"input", "second"}, {"previous_response_id", "resp_x"}, {"instructions", "new"}});
  json m = chat_body_for(r, history)["messages"];
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0]["content"], "new");
  EXPECT_EQ(m[1]["content"], "first");
  EXPECT_EQ(m[2]["content"], "answer");
  EXPECT_EQ(m[3]["content"], "second");
  // previous_response_id alone (no input) continues from the history.
  EXPECT_NO_THROW(parse_responses_request({{"previous_response_id", "resp_x"}}));
}

TEST(ResponsesTranslation, TextFormats) {
  json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "string"}}}}}};
  auto r = parse_responses_request(
      {{"input", "x"},
       {"text", {{"format", {{"type", "json_schema"}, {"name", "thing"}, {"schema", schema}, {"strict", true}}}}}});
  EXPECT_EQ(
      r.chat["response_format"],
      json({{"type", "json_schema"}, {"json_schema", {{"name", "thing"}, {"schema", schema}, {"strict", true}}}}));
  EXPECT_EQ(r.skeleton["text"]["format"]["name"], "thing");
  r = parse_responses_request({{"input", "x"}, {"text", {{"format", {{"type", "json_object"}}}}}});
  EXPECT_EQ(r.chat["response_format"], json({{"type", "json_object"}}));
  r = parse_responses_request({{"input", "x"}, {"text", {{"format", {{"type", "text"}}}, {"verbosity", "low"}}}});
  EXPECT_FALSE(r.chat.contains("response_format"));
  EXPECT_EQ(r.skeleton["text"]["verbosity"], "low");
  // LangChain sends `text: {}` when it has no format.
  EXPECT_NO_THROW(parse_responses_request({{"input", "x"}, {"text", json::object()}}));
}

TEST(ResponsesTranslation, ClientMistakesNameTheField) {
  struct Case {
    json body;
    std::string param;
  };
  const std::vector<Case> cases = {
      {json::object(), "input"},
      {{{"input", 3}}, "input"},
      {{{"input", {{{"role", "wizard"}, {"content", "x"}}}}}, "input[0].role"},
      {{{"input", {{{"type", "message"}, {"role", "user"}}}}}, "input[0].content"},
      {{{"input", {{{"role", "user"}, {"content", {{{"type", "input_image"}, {"image_url", "http://x"}}}}}}}},
       "input[0].content[0].type"},
      {{{"input", {{{"type", "function_call"}, {"name", "f"}, {"arguments", "{}"}}}}}, "input[0].call_id"},
      {{{"input", {{{"type", "function_call_output"}, {"call_id", "c"}}}}}, "input[0].output"},
      {{{"input", {{{"type", "item_reference"}, {"id", "msg_1"}}}}}, "input[0].type"},
      {{{"input", "x"}, {"tools", {{{"type", "web_search"}}}}}, "tools[0].type"},
      {{{"input", "x"}, {"tools", {kWeatherTool, {{"type", "file_search"}, {"vector_store_ids", {"v"}}}}}},
       "tools[1].type"},
      {{{"input", "x"}, {"tools", {{{"type", "function"}}}}}, "tools[0].name"},
      {{{"input", "x"}, {"tool_choice", {{"type", "web_search_preview"}}}}, "tool_choice.type"},
      {{{"input", "x"}, {"tools", {kWeatherTool}}, {"tool_choice", {{"type", "function"}}}}, "tool_choice.name"},
      {{{"input", "x"}, {"text", {{"format", {{"type", "json_schema"}, {"schema", json::object()}}}}}},
       "text.format.name"},
      {{{"input", "x"}, {"text", {{"format", {{"type", "json_schema"}, {"name", "n"}}}}}}, "text.format.schema"},
      {{{"input", "x"}, {"text", {{"format", {{"type", "yaml"}}}}}}, "text.format.type"},
      {{{"input", "x"}, {"max_output_tokens", 0}}, "max_output_tokens"},
      {{{"input", "x"}, {"temperature", 3}}, "temperature"},
      {{{"input", "x"}, {"metadata", {{"k", 1}}}}, "metadata.k"},
      {{{"input", "x"}, {"store", "yes"}}, "store"},
      {{{"input", "x"}, {"background", true}}, "background"},
      {{{"input", "x"}, {"reasoning", {{"effort", "high"}}}}, "reasoning.effort"},
      {{{"input", "x"}, {"include", {"message.output_text.logprobs"}}}, "include[0]"},
      {{{"input", "x"}, {"truncation", "auto"}}, "truncation"},
      {{{"input", "x"}, {"conversation", "conv_1"}}, "conversation"},
  };
  for (const auto& c : cases) {
    ApiError e = parse_error(c.body);
    EXPECT_EQ(e.status, 400) << c.body.dump();
    EXPECT_EQ(e.param.value_or(""), c.param) << c.body.dump() << ": " << e.message;
  }
  ApiError e = parse_error({{"input", "x"}, {"tools", {{{"type", "web_search_preview"}}}}});
  EXPECT_NE(e.message.find("web_search_preview"), std::string::npos) << e.message;
  EXPECT_NO_THROW(parse_responses_request({{"input", "x"}, {"include", {"reasoning.encrypted_content"}}}));
  EXPECT_NO_THROW(parse_responses_request({{"input", "x"}, {"reasoning", {{"effort", nullptr}}}}));
}

TEST(ResponsesTranslation, ChatParamsGetResponsesNames) {
  EXPECT_EQ(responses_param("messages"), "input");
  EXPECT_EQ(responses_param("messages[3].content"), "input");
  EXPECT_EQ(responses_param("max_tokens"), "max_output_tokens");
  EXPECT_EQ(responses_param("tools[2].function.name"), "tools[2].name");
  EXPECT_EQ(responses_param("tools[0].function.parameters"), "tools[0].parameters");
  EXPECT_EQ(responses_param("tool_choice.function.name"), "tool_choice.name");
  EXPECT_EQ(responses_param("response_format.json_schema.schema"), "text.format.schema");
  EXPECT_EQ(responses_param("response_format.type"), "text.format.type");
  EXPECT_EQ(responses_param("temperature"), "temperature");
}

TEST(ResponsesTranslation, ChatCompletionBecomesResponse) {
  auto r = parse_responses_request({{"input", "x"}});
  json skeleton = r.skeleton;
  skeleton["id"] = "resp_1";
  json chat = {
      {"model", "served"},
      {"choices",
       {{{"index", 0},
         {"message",
          {{"role", "assistant"},
           {"content", "sure"},
           {"tool_calls",
            {{{"id", "call_9"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{\"a\":1}"}}}}}}}},
         {"finish_reason", "tool_calls"}}}},
      {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 4}, {"prompt_tokens_details", {{"cached_tokens", 3}}}}}};
  json resp = response_from_chat(skeleton, chat);
  EXPECT_EQ(resp["status"], "completed");
  EXPECT_EQ(resp["model"], "served");
  ASSERT_EQ(resp["output"].size(), 2u);
  EXPECT_EQ(resp["output"][0]["type"], "message");
  EXPECT_EQ(resp["output"][0]["content"][0]["text"], "sure");
  EXPECT_EQ(resp["output"][1]["type"], "function_call");
  EXPECT_EQ(resp["output"][1]["call_id"], "call_9");
  EXPECT_EQ(resp["output"][1]["arguments"], "{\"a\":1}");
  EXPECT_EQ(resp["output"][1]["id"].get<std::string>().rfind("fc_", 0), 0u);
  EXPECT_EQ(resp["usage"], json({{"input_tokens", 10},
                                 {"input_tokens_details", {{"cached_tokens", 3}}},
                                 {"output_tokens", 4},
                                 {"output_tokens_details", {{"reasoning_tokens", 0}}},
                                 {"total_tokens", 14}}));
  chat["choices"][0]["finish_reason"] = "length";
  chat["choices"][0]["message"].erase("tool_calls");
  resp = response_from_chat(skeleton, chat);
  EXPECT_EQ(resp["status"], "incomplete");
  EXPECT_EQ(resp["incomplete_details"], json({{"reason", "max_output_tokens"}}));
  EXPECT_EQ(resp["output"][0]["status"], "incomplete");
}

// ---- the store ----

TEST(ResponsesStoreTest, PutGetRemoveAndBound) {
  ResponsesStoreOptions o;
  o.max_entries = 3;
  auto st = ResponsesStore::open(o);
  ASSERT_TRUE(st.ok()) << st.error().message();
  auto& s = **st;
  for (int i = 0; i < 5; ++i) s.put("resp_" + std::to_string(i), {{"id", i}}, json::array({i}));
  EXPECT_EQ(s.size(), 3u);
  EXPECT_FALSE(s.get("resp_0"));
  EXPECT_FALSE(s.get("resp_1"));
  auto got = s.get("resp_4");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->response, json({{"id", 4}}));
  EXPECT_EQ(got->items, json::array({4}));
  EXPECT_TRUE(s.remove("resp_4"));
  EXPECT_FALSE(s.remove("resp_4"));
  EXPECT_FALSE(s.get("resp_4"));
}

TEST(ResponsesStoreTest, FileSurvivesReopen) {
  auto dir = std::filesystem::temp_directory_path() / ("llmchain_responses_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ResponsesStoreOptions o;
  o.path = (dir / "responses.sqlite3").string();
  {
    auto st = ResponsesStore::open(o);
    ASSERT_TRUE(st.ok()) << st.error().message();
    (*st)->put("resp_a", {{"id", "resp_a"}}, json::array());
  }
  auto st = ResponsesStore::open(o);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE((*st)->get("resp_a"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace llmchain::server::test
