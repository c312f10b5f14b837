// The Responses API (/v1/responses) served: response objects and stream events against the
// FakeEngine, errors that name the Responses field, the store (previous_response_id, GET,
// DELETE) on the engine server and through the gateway. Translation and the store alone:
// responses_translation_test.cpp.
#include <algorithm>
#include <chrono>
#include <thread>

#include "gateway/pool.h"
#include "gateway/server.h"
#include "responses_test_util.h"
#include "server/api_error.h"
#include "server/responses_api.h"
#include "server_fixture.h"

namespace llmchain::server::test {
namespace {

// One SSE event of the Responses stream: its `event:` name and parsed `data:`.
struct TypedEvent {
  std::string event;
  json data;
};

std::vector<TypedEvent> typed_events(const std::string& raw) {
  std::vector<TypedEvent> out;
  size_t pos = 0;
  for (size_t end; (end = raw.find("\n\n", pos)) != std::string::npos; pos = end + 2) {
    std::string block = raw.substr(pos, end - pos);
    if (block.empty() || block[0] == ':') continue;
    TypedEvent e;
    size_t line_start = 0;
    while (line_start < block.size()) {
      size_t eol = block.find('\n', line_start);
      std::string line = block.substr(line_start, eol == std::string::npos ? std::string::npos : eol - line_start);
      line_start = eol == std::string::npos ? block.size() : eol + 1;
      if (line.rfind("event: ", 0) == 0) e.event = line.substr(7);
      if (line.rfind("data: ", 0) == 0) e.data = json::parse(line.substr(6));
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> types_of(const std::vector<TypedEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.data.value("type", ""));
  return out;
}

json error_of(const httplib::Result& r) { return json::parse(r->body).at("error"); }

// ---- against the FakeEngine ----

class ResponsesServerTest : public ServerFixture {
 protected:
  void SetUp() override { start(); }

  json create(const json& body) {
    auto r = post("/v1/responses", body);
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  }
  std::vector<TypedEvent> stream(json body) {
    body["stream"] = true;
    SseResult s = post_stream("/v1/responses", body);
    EXPECT_EQ(s.status, 200) << s.raw;
    EXPECT_NE(s.content_type.find("text/event-stream"), std::string::npos);
    return typed_events(s.raw);
  }
  static std::string output_text(const json& resp) {
    std::string text;
    for (const auto& item : resp["output"]) {
      if (item["type"] != "message") continue;
      for (const auto& part : item["content"]) text += part.value("text", "");
    }
    return text;
  }
};

TEST_F(ResponsesServerTest, PlainResponseShape) {
  json resp = create({{"model", "fake-model"}, {"input", "echo: hi there"}, {"metadata", {{"run", "1"}}}});
  EXPECT_EQ(resp["id"].get<std::string>().rfind("resp_", 0), 0u);
  EXPECT_EQ(resp["object"], "response");
  EXPECT_TRUE(resp["created_at"].is_number_integer());
  EXPECT_TRUE(resp["completed_at"].is_number_integer());
  EXPECT_EQ(resp["status"], "completed");
  EXPECT_TRUE(resp["error"].is_null());
  EXPECT_TRUE(resp["incomplete_details"].is_null());
  EXPECT_EQ(resp["model"], "fake-model");
  ASSERT_EQ(resp["output"].size(), 1u);
  const json& msg = resp["output"][0];
  EXPECT_EQ(msg["type"], "message");
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_EQ(msg["status"], "completed");
  EXPECT_EQ(msg["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(msg["content"][0], json({{"type", "output_text"},
                                     {"text", "hi there"},
                                     {"annotations", json::array()},
                                     {"logprobs", json::array()}}));
  EXPECT_GT(resp["usage"]["input_tokens"].get<int>(), 0);
  EXPECT_EQ(resp["usage"]["output_tokens"], 8);
  EXPECT_EQ(resp["usage"]["total_tokens"], resp["usage"]["input_tokens"].get<int>() + 8);
  EXPECT_EQ(resp["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
  EXPECT_TRUE(resp["usage"]["input_tokens_details"]["cached_tokens"].is_number_integer());
  EXPECT_EQ(resp["metadata"], json({{"run", "1"}}));
  EXPECT_EQ(resp["temperature"], 1.0);
  EXPECT_EQ(resp["top_p"], 1.0);
  EXPECT_EQ(resp["tools"], json::array());
  EXPECT_EQ(resp["tool_choice"], "auto");
  EXPECT_EQ(resp["text"]["format"]["type"], "text");
  EXPECT_EQ(resp["parallel_tool_calls"], true);
  EXPECT_EQ(resp["store"], true);
  EXPECT_TRUE(resp["previous_response_id"].is_null());
}

TEST_F(ResponsesServerTest, MaxOutputTokensGivesIncomplete) {
  json resp = create({{"input", "echo: abcdefgh"}, {"max_output_tokens", 3}});
  EXPECT_EQ(resp["status"], "incomplete");
  EXPECT_EQ(resp["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(output_text(resp), "abc");
  EXPECT_EQ(resp["max_output_tokens"], 3);
}

TEST_F(ResponsesServerTest, ErrorsNameResponsesFields) {
  auto r = post("/v1/responses", json{{"input", "x"}, {"tools", {{{"type", "computer_use_preview"}}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r)["param"], "tools[0].type");
  EXPECT_NE(error_of(r)["message"].get<std::string>().find("computer_use_preview"), std::string::npos);
  // Checked by the chat route, renamed on the way back.
  json bad_tool = kWeatherTool;
  bad_tool["name"] = "bad name";
  r = post("/v1/responses", json{{"input", "x"}, {"tools", {bad_tool}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r)["param"], "tools[0].name") << r->body;
  EXPECT_NE(error_of(r)["message"].get<std::string>().find("'tools[0].name'"), std::string::npos) << r->body;
  r = post("/v1/responses", json{{"input", std::string(600, 'x')}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r)["param"], "input");
  EXPECT_EQ(error_of(r)["code"], "context_length_exceeded");
  r = post("/v1/responses", json{{"input", "x"}, {"model", "gpt-4o"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r)["code"], "model_not_found");
  r = post("/v1/responses", "{not json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client()->Put("/v1/responses", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
}

TEST_F(ResponsesServerTest, ForcedFunctionCallThenItsOutput) {
  json resp = create({{"input", "What is the weather in Paris?"},
                      {"tools", {kWeatherTool}},
                      {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}}});
  ASSERT_EQ(resp["output"].size(), 1u) << resp.dump();
  const json& call = resp["output"][0];
  EXPECT_EQ(call["type"], "function_call");
  EXPECT_EQ(call["name"], "get_weather");
  EXPECT_EQ(call["status"], "completed");
  EXPECT_EQ(call["call_id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(call["id"].get<std::string>().rfind("fc_", 0), 0u);
  json args = json::parse(call["arguments"].get<std::string>());
  EXPECT_TRUE(args["city"].is_string());
  EXPECT_TRUE(args["days"].is_number_integer());
  EXPECT_EQ(resp["tools"][0]["name"], "get_weather");
  EXPECT_EQ(resp["tool_choice"]["name"], "get_weather");
  // The result goes back as a function_call_output item, by id.
  json follow = create(
      {{"previous_response_id", resp["id"]},
       {"tools", {kWeatherTool}},
       {"input", {{{"type", "function_call_output"}, {"call_id", call["call_id"]}, {"output", "echo: sunny"}}}}});
  EXPECT_EQ(output_text(follow), "sunny");
  EXPECT_EQ(follow["previous_response_id"], resp["id"]);
  // ... or with the whole turn resent, without the store.
  json again =
      create({{"store", false},
              {"tools", {kWeatherTool}},
              {"input",
               {{{"role", "user"}, {"content", "Weather?"}},
                call,
                {{"type", "function_call_output"}, {"call_id", call["call_id"]}, {"output", "echo: rainy"}}}}});
  EXPECT_EQ(output_text(again), "rainy");
  EXPECT_EQ(again["store"], false);
}

TEST_F(ResponsesServerTest, JsonSchemaFormat) {
  json schema = {{"type", "object"},
                 {"properties", {{"name", {{"type", "string"}}}, {"age", {{"type", "integer"}}}}},
                 {"required", {"name", "age"}},
                 {"additionalProperties", false}};
  json resp = create(
      {{"input", "A person as JSON"},
       {"text", {{"format", {{"type", "json_schema"}, {"name", "person"}, {"schema", schema}, {"strict", true}}}}}});
  json obj = json::parse(output_text(resp));
  EXPECT_TRUE(obj["name"].is_string());
  EXPECT_TRUE(obj["age"].is_number_integer());
  EXPECT_EQ(resp["text"]["format"]["type"], "json_schema");
  EXPECT_EQ(resp["text"]["format"]["name"], "person");
  resp = create({{"input", "JSON please"}, {"text", {{"format", {{"type", "json_object"}}}}}});
  EXPECT_TRUE(json::parse(output_text(resp)).is_object());
}

TEST_F(ResponsesServerTest, StoreRetrieveDeleteAndFollowUp) {
  json first = create({{"input", "echo: first answer"}, {"instructions", "be nice"}});
  EXPECT_EQ(output_text(first), "first answer");
  auto got = get("/v1/responses/" + first["id"].get<std::string>());
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200);
  EXPECT_EQ(json::parse(got->body), first);
  // The follow-up has no "echo:" of its own: the FakeEngine echoes the last one in the prompt,
  // which is the first turn's, so the answer shows the history was there.
  json second = create({{"input", "and now?"}, {"previous_response_id", first["id"]}});
  EXPECT_EQ(output_text(second), "first answer");
  EXPECT_GT(second["usage"]["input_tokens"].get<int>(), first["usage"]["input_tokens"].get<int>());
  // A chain of three: the second's own output is history for the third.
  json third = create({{"input", "echo: third"}, {"previous_response_id", second["id"]}});
  EXPECT_EQ(output_text(third), "third");

  auto del = client()->Delete("/v1/responses/" + first["id"].get<std::string>());
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 200);
  EXPECT_EQ(json::parse(del->body), json({{"id", first["id"]}, {"object", "response.deleted"}, {"deleted", true}}));
  got = get("/v1/responses/" + first["id"].get<std::string>());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 404);
  EXPECT_EQ(error_of(got)["code"], "response_not_found");
  del = client()->Delete("/v1/responses/" + first["id"].get<std::string>());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 404);
  // The second still continues: each stored response holds its whole conversation.
  json fourth = create({{"input", "more"}, {"previous_response_id", second["id"]}});
  EXPECT_EQ(output_text(fourth), "first answer");

  auto r = post("/v1/responses", json{{"input", "x"}, {"previous_response_id", "resp_nope"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r)["param"], "previous_response_id");
  EXPECT_EQ(error_of(r)["code"], "previous_response_not_found");

  json unstored = create({{"input", "echo: x"}, {"store", false}});
  got = get("/v1/responses/" + unstored["id"].get<std::string>());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 404);

  auto metrics = get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("route=\"/v1/responses/{id}\""), std::string::npos);
  EXPECT_NE(metrics->body.find("route=\"/v1/responses\""), std::string::npos);
}

TEST_F(ResponsesServerTest, StreamedTextEvents) {
  auto events = stream({{"input", "echo: streamed words"}});
  ASSERT_GE(events.size(), 9u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].data["sequence_number"], i);
    EXPECT_EQ(events[i].event, events[i].data["type"]);
  }
  auto types = types_of(events);
  EXPECT_EQ(types[0], "response.created");
  EXPECT_EQ(types[1], "response.in_progress");
  EXPECT_EQ(types[2], "response.output_item.added");
  EXPECT_EQ(types[3], "response.content_part.added");
  const size_t n = types.size();
  EXPECT_EQ(types[n - 4], "response.output_text.done");
  EXPECT_EQ(types[n - 3], "response.content_part.done");
  EXPECT_EQ(types[n - 2], "response.output_item.done");
  EXPECT_EQ(types[n - 1], "response.completed");
  EXPECT_EQ(events[0].data["response"]["status"], "in_progress");
  EXPECT_EQ(events[0].data["response"]["output"], json::array());
  EXPECT_EQ(events[2].data["item"]["content"], json::array());
  const std::string item_id = events[2].data["item"]["id"];
  std::string text;
  for (const auto& e : events) {
    if (e.data["type"] != "response.output_text.delta") continue;
    EXPECT_EQ(e.data["item_id"], item_id);
    EXPECT_EQ(e.data["output_index"], 0);
    EXPECT_EQ(e.data["content_index"], 0);
    text += e.data["delta"].get<std::string>();
  }
  EXPECT_EQ(text, "streamed words");
  EXPECT_EQ(events[n - 4].data["text"], "streamed words");
  const json& done = events[n - 1].data["response"];
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(output_text(done), "streamed words");
  EXPECT_EQ(done["usage"]["output_tokens"], 14);
  EXPECT_EQ(done["id"], events[0].data["response"]["id"]);
  // Stored as it completed.
  auto got = get("/v1/responses/" + done["id"].get<std::string>());
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200);
  EXPECT_EQ(json::parse(got->body), done);
}

TEST_F(ResponsesServerTest, StreamedIncomplete) {
  auto events = stream({{"input", "echo: abcdefgh"}, {"max_output_tokens", 3}});
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().data["type"], "response.incomplete");
  EXPECT_EQ(events.back().data["response"]["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(output_text(events.back().data["response"]), "abc");
}

TEST_F(ResponsesServerTest, StreamedFunctionCall) {
  auto events = stream({{"input", "Weather in Oslo?"},
                        {"tools", {kWeatherTool}},
                        {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}}});
  auto types = types_of(events);
  ASSERT_GE(types.size(), 6u);
  EXPECT_EQ(types[2], "response.output_item.added");
  const json& item = events[2].data["item"];
  EXPECT_EQ(item["type"], "function_call");
  EXPECT_EQ(item["arguments"], "");
  EXPECT_EQ(item["name"], "get_weather");
  std::string args;
  size_t deltas = 0;
  for (const auto& e : events) {
    if (e.data["type"] == "response.function_call_arguments.delta") {
      EXPECT_EQ(e.data["item_id"], item["id"]);
      args += e.data["delta"].get<std::string>();
      ++deltas;
    }
  }
  EXPECT_GT(deltas, 1u);  // forced calls stream their arguments
  const size_t n = types.size();
  EXPECT_EQ(types[n - 3], "response.function_call_arguments.done");
  EXPECT_EQ(events[n - 3].data["arguments"], args);
  EXPECT_EQ(events[n - 3].data["name"], "get_weather");
  EXPECT_EQ(types[n - 2], "response.output_item.done");
  EXPECT_EQ(types[n - 1], "response.completed");
  const json& done = events[n - 1].data["response"];
  ASSERT_EQ(done["output"].size(), 1u);
  EXPECT_EQ(done["output"][0]["arguments"], args);
  EXPECT_TRUE(json::parse(args)["city"].is_string());
}

TEST_F(ResponsesServerTest, AutoModeCallsAfterText) {
  // The FakeEngine echoes a reply holding a call; the chat route recognises it (auto mode).
  const std::string reply =
      R"(Let me check. <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "days": 2}}</tool_call>)";
  json body = {{"input", "echo: " + reply}, {"tools", {kWeatherTool}}};
  json resp = create(body);
  ASSERT_EQ(resp["output"].size(), 2u) << resp.dump();
  EXPECT_EQ(resp["output"][0]["type"], "message");
  EXPECT_EQ(output_text(resp), "Let me check.");
  EXPECT_EQ(resp["output"][1]["type"], "function_call");
  EXPECT_EQ(resp["output"][1]["name"], "get_weather");
  EXPECT_EQ(json::parse(resp["output"][1]["arguments"].get<std::string>()), json({{"city", "Oslo"}, {"days", 2}}));
  EXPECT_EQ(resp["status"], "completed");

  // Streamed: the text streams, the call (recognised at the end) follows as its own item.
  auto events = stream(body);
  std::vector<std::string> items;  // output_item.added types, in order
  std::string args;
  for (const auto& e : events) {
    if (e.data["type"] == "response.output_item.added") items.push_back(e.data["item"]["type"]);
    if (e.data["type"] == "response.function_call_arguments.delta") args += e.data["delta"].get<std::string>();
  }
  EXPECT_EQ(items, (std::vector<std::string>{"message", "function_call"}));
  EXPECT_EQ(json::parse(args), json({{"city", "Oslo"}, {"days", 2}}));
  const json& done = events.back().data;
  EXPECT_EQ(done["type"], "response.completed");
  ASSERT_EQ(done["response"]["output"].size(), 2u);
  EXPECT_EQ(done["response"]["output"][0]["status"], "completed");
  EXPECT_EQ(done["response"]["output"][1]["arguments"], args);
  // A message item is done before the call's item is added.
  auto types = types_of(events);
  auto msg_done = std::find(types.begin(), types.end(), "response.output_item.done");
  auto call_added = std::find(msg_done, types.end(), "response.output_item.added");
  EXPECT_NE(call_added, types.end());
}

TEST_F(ResponsesServerTest, AutoModeCallOnly) {
  json body = {{"input", R"(echo: {"name": "get_weather", "arguments": {"city": "Rome", "days": 1}})"},
               {"tools", {kWeatherTool}}};
  json resp = create(body);
  ASSERT_EQ(resp["output"].size(), 1u) << resp.dump();
  EXPECT_EQ(resp["output"][0]["type"], "function_call");
  auto events = stream(body);
  auto types = types_of(events);
  EXPECT_EQ(std::count(types.begin(), types.end(), "response.output_item.added"), 1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "response.output_text.delta"), 0);
  EXPECT_EQ(events.back().data["response"]["output"][0]["type"], "function_call");
}

TEST_F(ResponsesServerTest, StreamErrorsBeforeTheStreamAreHttpErrors) {
  SseResult s = post_stream("/v1/responses", json{{"input", std::string(600, 'x')}, {"stream", true}});
  EXPECT_EQ(s.status, 400);
  EXPECT_EQ(json::parse(s.raw)["error"]["param"], "input");
}

TEST_F(ResponsesServerTest, AuthIsRequiredWhenKeyed) {
  TearDown();
  ServerOptions o;
  o.api_key = "k";
  start(o);
  auto r = post("/v1/responses", json{{"input", "echo: x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = get("/v1/responses/resp_x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  api_key_ = "k";
  r = post("/v1/responses", json{{"input", "echo: x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

class ResponsesStreamLimitsTest : public ServerFixture {};

TEST_F(ResponsesStreamLimitsTest, ClientAbortCancelsTheGeneration) {
  start({}, {.token_delay_ms = 20});
  std::string raw;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/responses";
  req.body = json{{"input", "echo: " + std::string(200, 'z')}, {"stream", true}}.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    raw.append(d, n);
    return typed_events(raw).size() < 6;  // created, in_progress, item, part, 2 deltas: then gone
  };
  client()->send(req);
  for (int i = 0; i < 100 && engine_->cancelled_total() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(engine_->cancelled_total(), 1);
  expect_still_serving();
}

TEST_F(ResponsesStreamLimitsTest, FailureMidStreamIsErrorThenFailed) {
  start({.request_timeout_s = 0.3}, {.token_delay_ms = 50});
  SseResult s = post_stream("/v1/responses", json{{"input", "echo: " + std::string(100, 't')}, {"stream", true}});
  ASSERT_EQ(s.status, 200) << s.raw;
  auto events = typed_events(s.raw);
  ASSERT_GE(events.size(), 4u) << s.raw;
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].data["sequence_number"], i);
  EXPECT_EQ(events.front().data["type"], "response.created");
  const json& err = events[events.size() - 2].data;
  EXPECT_EQ(err["type"], "error");
  EXPECT_EQ(err["code"], "timeout");
  EXPECT_TRUE(err["message"].is_string());
  const json& failed = events.back().data;
  EXPECT_EQ(failed["type"], "response.failed");
  EXPECT_EQ(failed["response"]["status"], "failed");
  EXPECT_EQ(failed["response"]["error"]["code"], "server_error");
  EXPECT_EQ(failed["response"]["output"][0]["status"], "incomplete");
  // A failed response is not stored.
  auto got = get("/v1/responses/" + failed["response"]["id"].get<std::string>());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 404);
}

// ---- through the gateway ----

struct EngineServer {
  EngineServer() {
    fake = std::make_unique<fakes::FakeEngine>();
    ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.parallel = 4;
    so.shutdown_grace_s = 1;
    http = std::make_unique<HttpServer>(*fake, so);
    port = *http->start();
  }
  ~EngineServer() {
    if (http) http->shutdown();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  std::unique_ptr<fakes::FakeEngine> fake;
  std::unique_ptr<HttpServer> http;
  int port = 0;
};

using gateway::GatewayServer;
using gateway::UpstreamPool;
using gateway::UpstreamPoolOptions;

class ResponsesGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UpstreamPoolOptions po;
    po.upstreams = {a_.url(), b_.url()};
    po.health_interval_s = 0.2;
    auto p = UpstreamPool::create(po);
    ASSERT_TRUE(p.ok()) << p.error().message();
    pool_ = *p;
    ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.api_key = "gw";
    so.shutdown_grace_s = 2;
    gw_ = std::make_unique<GatewayServer>(pool_, so);
    pool_->start();
    auto port = gw_->start();
    ASSERT_TRUE(port.ok());
    cli_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    cli_->set_read_timeout(30, 0);
    cli_->set_bearer_token_auth("gw");
    for (int i = 0; i < 200 && pool_->healthy_count() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  void TearDown() override {
    if (gw_) gw_->shutdown();
    gw_.reset();
    if (pool_) pool_->stop();
  }
  json create(const json& body) {
    auto r = cli_->Post("/v1/responses", body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  }

  EngineServer a_, b_;
  std::shared_ptr<UpstreamPool> pool_;
  std::unique_ptr<GatewayServer> gw_;
  std::unique_ptr<httplib::Client> cli_;
};

TEST_F(ResponsesGatewayTest, CreateStreamFollowUpRetrieveDelete) {
  json first = create({{"input", "echo: through the gateway"}});
  EXPECT_EQ(first["object"], "response");
  EXPECT_EQ(first["output"][0]["content"][0]["text"], "through the gateway");
  // Follow-ups land on either engine: the conversation is the gateway's.
  for (int i = 0; i < 4; ++i) {
    json next = create({{"input", "again"}, {"previous_response_id", first["id"]}});
    EXPECT_EQ(next["output"][0]["content"][0]["text"], "through the gateway");
  }
  EXPECT_GT(a_.fake->generate_calls(), 0);
  EXPECT_GT(b_.fake->generate_calls(), 0);

  std::string raw;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/responses";
  req.body = json{{"input", "echo: streamed via gateway"}, {"stream", true}}.dump();
  req.set_header("Content-Type", "application/json");
  req.set_header("Authorization", "Bearer gw");
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    raw.append(d, n);
    return true;
  };
  auto sr = cli_->send(req);
  ASSERT_TRUE(sr);
  EXPECT_EQ(sr->status, 200);
  auto events = typed_events(raw);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().data["type"], "response.created");
  EXPECT_EQ(events.back().data["type"], "response.completed");
  std::string text;
  for (const auto& e : events) {
    if (e.data["type"] == "response.output_text.delta") text += e.data["delta"].get<std::string>();
  }
  EXPECT_EQ(text, "streamed via gateway");

  const std::string id = first["id"];
  auto got = cli_->Get("/v1/responses/" + id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(json::parse(got->body)["id"], id);
  auto del = cli_->Delete("/v1/responses/" + id);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(json::parse(del->body)["deleted"], true);
  got = cli_->Get("/v1/responses/" + id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 404);

  auto r = cli_->Post("/v1/responses", json{{"input", "x"}, {"tools", {{{"type", "web_search"}}}}}.dump(),
                      "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "tools[0].type");
  httplib::Client anon("127.0.0.1", gw_->port());
  r = anon.Post("/v1/responses", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = anon.Get("/v1/responses/resp_x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

}  // namespace
}  // namespace llmchain::server::test
