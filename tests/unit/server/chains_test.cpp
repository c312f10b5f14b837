// The LangServe-shaped /chains routes over a ChainRegistry built from YAML with scripted models.
#include "chain/language_model.h"
#include "chain/registry.h"
#include "chain/yaml_loader.h"
#include "server_fixture.h"

namespace llmchain::server::test {
namespace {

constexpr const char* kChainsYaml = R"YAML(
models:
  fake: {type: fake, responses: ["Hello there, friend"]}
  json: {type: fake, responses: ['{"translation": "Hola"}']}
chains:
  greet:
    description: Greets someone
    model: fake
    prompt: "Say hello to {name}."
    output_key: text
  translate:
    model: json
    prompt: "Translate: {text}"
    parser: {type: json}
    output_key: translation
  support:
    model: fake
    prompt:
      messages:
        - system: You help.
        - placeholder: history
        - user: "{question}"
    memory: {type: buffer}
    output_key: answer
  guarded:
    model: fake
    prompt: "Echo {text}"
    output_key: reply
    guards:
      input: [{type: deny_list, terms: [forbidden], action: block}]
  screened:
    model: fake
    prompt: "Echo {text}"
    output_key: reply
    guards:
      input: [{type: pii, action: redact}]
      output: [{type: deny_list, terms: [friend], action: flag}]
)YAML";

class ChainsTest : public ServerFixture {
 protected:
  void start_with_chains(ServerOptions opts = {}) {
    auto cfg = chain::load_chain_config_string(kChainsYaml, "chains_test.yaml");
    ASSERT_TRUE(cfg.ok()) << cfg.error().message();
    config_ = std::move(*cfg);
    opts.chains = config_.registry;
    start(opts);
  }
  std::shared_ptr<chain::FakeLLM> fake(const std::string& name) {
    return std::dynamic_pointer_cast<chain::FakeLLM>(config_.models.at(name));
  }
  chain::ChainConfig config_;
};

TEST_F(ChainsTest, ListsChainsWithInputVariables) {
  start_with_chains();
  auto r = get("/chains");
  ASSERT_EQ(r->status, 200) << r->body;
  auto data = json::parse(r->body)["data"];
  ASSERT_EQ(data.size(), 5u);
  EXPECT_EQ(data[0]["name"], "greet");
  EXPECT_EQ(data[0]["description"], "Greets someone");
  EXPECT_EQ(data[0]["input_variables"], json::array({"name"}));
}

TEST_F(ChainsTest, NoRegistryListsNothing) {
  start();
  auto r = get("/chains");
  ASSERT_EQ(r->status, 200);
  EXPECT_TRUE(json::parse(r->body)["data"].empty());
  EXPECT_EQ(post("/chains/greet/invoke", json{{"input", {{"name", "x"}}}})->status, 404);
}

TEST_F(ChainsTest, Invoke) {
  start_with_chains();
  auto r = post("/chains/greet/invoke", json{{"input", {{"name", "Ada"}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["output"], "Hello there, friend");
  EXPECT_EQ(j["metadata"]["chain"], "greet");
  EXPECT_TRUE(j["metadata"]["run_id"].is_string());
  EXPECT_EQ(fake("fake")->last_call().input.prompt, "Say hello to Ada.");
}

TEST_F(ChainsTest, InvokeParsesJson) {
  start_with_chains();
  auto r = post("/chains/translate/invoke", json{{"input", {{"text", "Hello"}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["output"], (json{{"translation", "Hola"}}));
}

TEST_F(ChainsTest, Batch) {
  start_with_chains();
  auto r = post("/chains/greet/batch", json{{"inputs", {{{"name", "a"}}, {{"name", "b"}}, {{"name", "c"}}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  ASSERT_EQ(j["output"].size(), 3u);
  for (const auto& o : j["output"]) EXPECT_EQ(o, "Hello there, friend");
  EXPECT_EQ(j["metadata"]["run_ids"].size(), 3u);
  EXPECT_EQ(fake("fake")->call_count(), 3u);
}

TEST_F(ChainsTest, BatchNeedsAnArray) {
  start_with_chains();
  auto r = post("/chains/greet/batch", json{{"inputs", {{"name", "a"}}}});
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "inputs");
}

TEST_F(ChainsTest, StreamSendsDataEventsThenEnd) {
  start_with_chains();
  auto s = post_stream("/chains/greet/stream", json{{"input", {{"name", "Ada"}}}});
  ASSERT_EQ(s.status, 200) << s.raw;
  EXPECT_NE(s.content_type.find("text/event-stream"), std::string::npos);
  // LangServe's protocol: metadata (the run id) first, data chunks, then an end without data.
  std::string text;
  size_t n_data = 0, pos = 0;
  std::vector<std::string> kinds;
  while (true) {
    size_t e = s.raw.find("\n\n", pos);
    if (e == std::string::npos) break;
    std::string block = s.raw.substr(pos, e - pos);
    pos = e + 2;
    kinds.push_back(block.substr(0, block.find('\n')));
    if (block.rfind("event: data\ndata: ", 0) == 0) {
      ++n_data;
      text += json::parse(block.substr(18)).get<std::string>();
    } else if (block.rfind("event: metadata\ndata: ", 0) == 0) {
      EXPECT_EQ(json::parse(block.substr(22))["run_id"].get<std::string>().size(), 36u) << block;
    }
  }
  ASSERT_GE(kinds.size(), 3u) << s.raw;
  EXPECT_EQ(kinds.front(), "event: metadata");
  EXPECT_EQ(kinds.back(), "event: end");
  EXPECT_EQ(s.raw.substr(s.raw.size() - 12), "event: end\n\n") << "end carries no data";
  EXPECT_GT(n_data, 1u) << s.raw;
  EXPECT_EQ(text, "Hello there, friend");
}

TEST_F(ChainsTest, StreamErrorBeforeFirstChunkHasAStatus) {
  start_with_chains();
  auto s = post_stream("/chains/greet/stream", json{{"input", {{"wrong", "x"}}}});
  EXPECT_EQ(s.status, 400) << s.raw;
  EXPECT_TRUE(json::parse(s.raw).contains("error"));
}

TEST_F(ChainsTest, Schemas) {
  start_with_chains();
  auto in = get("/chains/greet/input_schema");
  ASSERT_EQ(in->status, 200) << in->body;
  auto is = json::parse(in->body);
  EXPECT_EQ(is["type"], "object");
  EXPECT_TRUE(is["properties"].contains("name")) << is.dump();
  auto out = get("/chains/greet/output_schema");
  ASSERT_EQ(out->status, 200) << out->body;
  EXPECT_TRUE(json::parse(out->body).is_object());
  EXPECT_EQ(get("/chains/nope/input_schema")->status, 404);
}

TEST_F(ChainsTest, MemoryFollowsTheSessionId) {
  start_with_chains();
  auto first = post("/chains/support/invoke", json{{"input", {{"question", "My order 42 is late"}}},
                                                   {"config", {{"configurable", {{"session_id", "s1"}}}}}});
  ASSERT_EQ(first->status, 200) << first->body;
  auto second =
      post("/chains/support/invoke", json{{"input", {{"question", "Any news?"}}}, {"config", {{"session_id", "s1"}}}});
  ASSERT_EQ(second->status, 200) << second->body;
  auto with_history = fake("fake")->last_call().input.as_text();
  EXPECT_NE(with_history.find("My order 42 is late"), std::string::npos) << with_history;
  EXPECT_NE(with_history.find("Hello there, friend"), std::string::npos) << with_history;
  // Another session starts empty.
  auto other = post("/chains/support/invoke",
                    json{{"input", {{"question", "Hi"}}}, {"config", {{"configurable", {{"session_id", "s2"}}}}}});
  ASSERT_EQ(other->status, 200);
  EXPECT_EQ(fake("fake")->last_call().input.as_text().find("My order 42"), std::string::npos);
}

// A parser failure is the model's, not the client's: 502 output_parse_failed with the raw text.
TEST_F(ChainsTest, ParseFailureIs502WithTheRawText) {
  auto cfg = chain::load_chain_config_string(R"YAML(
models:
  bad: {type: fake, responses: ["not json at all"]}
chains:
  strict: {model: bad, prompt: "Answer {q}", parser: {type: json, retry: 1}}
)YAML",
                                             "parse_test.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  config_ = std::move(*cfg);
  ServerOptions opts;
  opts.chains = config_.registry;
  start(opts);
  auto r = post("/chains/strict/invoke", json{{"input", {{"q", "x"}}}});
  ASSERT_EQ(r->status, 502) << r->body;
  auto err = json::parse(r->body)["error"];
  EXPECT_EQ(err["code"], "output_parse_failed");
  EXPECT_NE(err["message"].get<std::string>().find("not json at all"), std::string::npos) << err.dump();
  EXPECT_EQ(fake("bad")->call_count(), 2u);  // the first answer and one retry
}

TEST_F(ChainsTest, GuardBlockIs400NamingTheGuard) {
  start_with_chains();
  auto r = post("/chains/guarded/invoke", json{{"input", {{"text", "this is forbidden"}}}});
  ASSERT_EQ(r->status, 400) << r->body;
  auto err = json::parse(r->body)["error"];
  EXPECT_EQ(err["code"], "guard_blocked");
  EXPECT_NE(err["message"].get<std::string>().find("guard '"), std::string::npos) << err.dump();
  EXPECT_EQ(fake("fake")->call_count(), 0u);
}

// Guards that flag or redact say so in the response metadata and in /metrics; a clean call
// carries no guards key.
TEST_F(ChainsTest, GuardEventsInMetadataAndMetrics) {
  start_with_chains();
  auto r = post("/chains/screened/invoke", json{{"input", {{"text", "write to me@example.org"}}}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["output"], "Hello there, friend");  // flagged output goes through
  ASSERT_TRUE(j["metadata"]["guards"].is_array()) << r->body;
  ASSERT_EQ(j["metadata"]["guards"].size(), 2u) << r->body;
  EXPECT_EQ(j["metadata"]["guards"][0]["action"], "redact");
  EXPECT_EQ(j["metadata"]["guards"][0]["stage"], "input");
  EXPECT_EQ(j["metadata"]["guards"][1]["action"], "flag");
  EXPECT_EQ(j["metadata"]["guards"][1]["stage"], "output");
  EXPECT_NE(j["metadata"]["guards"][1]["reason"].get<std::string>().find("friend"), std::string::npos);
  auto clean = json::parse(post("/chains/greet/invoke", json{{"input", {{"name", "Bo"}}}})->body);
  EXPECT_FALSE(clean["metadata"].contains("guards"));
  // blocked calls count too
  EXPECT_EQ(post("/chains/guarded/invoke", json{{"input", {{"text", "forbidden"}}}})->status, 400);
  auto m = get("/metrics")->body;
  const std::string guard = j["metadata"]["guards"][1]["guard"];
  EXPECT_NE(m.find("llmchain_guard_events_total{chain=\"screened\",guard=\"" + guard + "\",action=\"flag\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("chain=\"guarded\""), std::string::npos) << m;
}

TEST_F(ChainsTest, UnknownChainIs404) {
  start_with_chains();
  auto r = post("/chains/nope/invoke", json{{"input", {}}});
  ASSERT_EQ(r->status, 404);
  auto err = json::parse(r->body)["error"];
  EXPECT_EQ(err["code"], "chain_not_found");
  EXPECT_EQ(err["type"], "invalid_request_error");
  EXPECT_EQ(post_stream("/chains/nope/stream", json{{"input", {}}}).status, 404);
}

TEST_F(ChainsTest, MissingInputIs400) {
  start_with_chains();
  auto r = post("/chains/greet/invoke", json{{"config", {}}});
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "input");
}

TEST_F(ChainsTest, AuthAppliesAsForV1) {
  ServerOptions o;
  o.api_key = "sekrit";
  start_with_chains(o);
  EXPECT_EQ(get("/chains")->status, 401);
  EXPECT_EQ(post("/chains/greet/invoke", json{{"input", {{"name", "x"}}}})->status, 401);
  api_key_ = "sekrit";
  EXPECT_EQ(get("/chains")->status, 200);
  EXPECT_EQ(post("/chains/greet/invoke", json{{"input", {{"name", "x"}}}})->status, 200);
}

// The SSE events of a response, as {event, data} (data parsed; null when absent).
std::vector<std::pair<std::string, json>> sse_blocks(const std::string& raw) {
  std::vector<std::pair<std::string, json>> out;
  size_t pos = 0;
  while (true) {
    size_t e = raw.find("\n\n", pos);
    if (e == std::string::npos) break;
    std::string block = raw.substr(pos, e - pos);
    pos = e + 2;
    if (block.rfind("event: ", 0) != 0) continue;
    size_t nl = block.find('\n');
    std::string event = block.substr(7, nl == std::string::npos ? std::string::npos : nl - 7);
    json data = nullptr;
    if (nl != std::string::npos && block.compare(nl + 1, 6, "data: ") == 0) data = json::parse(block.substr(nl + 7));
    out.emplace_back(event, data);
  }
  return out;
}

// JSON chains stream the value parsed so far (LangChain's JsonOutputParser), so every chunk
// has the output's type, and the last one is the output.
TEST_F(ChainsTest, JsonChainsStreamPartialValues) {
  start_with_chains();
  auto s = post_stream("/chains/translate/stream", json{{"input", {{"text", "Hello"}}}});
  ASSERT_EQ(s.status, 200) << s.raw;
  json last;
  size_t n = 0;
  for (const auto& [event, data] : sse_blocks(s.raw)) {
    if (event != "data") continue;
    ++n;
    EXPECT_TRUE(data.is_object()) << data.dump();
    last = data;
  }
  EXPECT_GE(n, 1u);
  EXPECT_EQ(last, json({{"translation", "Hola"}}));
}

TEST_F(ChainsTest, StreamEventsV2) {
  start_with_chains();
  auto s = post_stream("/chains/greet/stream_events", json{{"input", {{"name", "Ada"}}}});
  ASSERT_EQ(s.status, 200) << s.raw;
  auto blocks = sse_blocks(s.raw);
  ASSERT_FALSE(blocks.empty());
  EXPECT_EQ(blocks.back().first, "end");
  EXPECT_TRUE(blocks.back().second.is_null());
  std::vector<std::string> kinds;
  std::string root_id, model_text;
  for (const auto& [event, d] : blocks) {
    if (event != "data") continue;
    kinds.push_back(d["event"]);
    EXPECT_TRUE(d.contains("run_id") && d.contains("parent_ids") && d.contains("name")) << d.dump();
    if (d["event"] == "on_chain_start" && d["parent_ids"].empty()) {
      root_id = d["run_id"];
      EXPECT_EQ(d["name"], "greet");
    }
    if (d["event"] == "on_chat_model_stream" || d["event"] == "on_llm_stream") {
      ASSERT_FALSE(root_id.empty());
      EXPECT_EQ(d["parent_ids"][0], root_id) << "a step's parents start at the root run";
      model_text += d["event"] == "on_llm_stream" ? d["data"]["chunk"]["text"].get<std::string>()
                                                  : d["data"]["chunk"]["content"].get<std::string>();
    }
  }
  auto has = [&](const char* k) { return std::find(kinds.begin(), kinds.end(), k) != kinds.end(); };
  EXPECT_TRUE(has("on_chain_start"));
  EXPECT_TRUE(has("on_prompt_start") && has("on_prompt_end"));
  EXPECT_TRUE(has("on_llm_start") || has("on_chat_model_start"));
  EXPECT_TRUE(has("on_chain_stream"));
  EXPECT_EQ(kinds.back(), "on_chain_end");
  EXPECT_EQ(model_text, "Hello there, friend");
}

// stream_log's patches, applied in order, build the final RunLog.
TEST_F(ChainsTest, StreamLogBuildsTheRunLog) {
  start_with_chains();
  auto s = post_stream("/chains/translate/stream_log", json{{"input", {{"text", "Hello"}}}, {"diff", false}});
  ASSERT_EQ(s.status, 200) << s.raw;
  json state;
  for (const auto& [event, d] : sse_blocks(s.raw)) {
    if (event != "data") continue;
    ASSERT_TRUE(d.contains("ops")) << d.dump();
    for (const auto& op : d["ops"]) {
      if (op["path"] == "") {
        state = op["value"];
        continue;
      }
      json patch = json::array({op});
      state = state.patch(patch);  // throws (fails the test) on a patch that does not apply
    }
  }
  EXPECT_EQ(state["final_output"], json({{"translation", "Hola"}}));
  EXPECT_FALSE(state["streamed_output"].empty());
  bool parser = false, model = false;
  for (auto& [key, log] : state["logs"].items()) {
    if (log["type"] == "parser") parser = true;
    if (log["type"] == "llm" || log["type"] == "chat_model")
      model = log["final_output"].is_object() || log["final_output"].is_string();
    EXPECT_FALSE(log["end_time"].is_null()) << key;
  }
  EXPECT_TRUE(parser);
  EXPECT_TRUE(model);
}

TEST_F(ChainsTest, BatchTakesOneConfigPerInput) {
  start_with_chains();
  auto r = post("/chains/greet/batch", json{{"inputs", {{{"name", "a"}}, {{"name", "b"}}}},
                                            {"config", {{{"configurable", {{"session_id", "x"}}}}, json::object()}}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["output"].size(), 2u);
  auto bad = post("/chains/greet/batch",
                  json{{"inputs", {{{"name", "a"}}}}, {"config", {json::object(), json::object(), json::object()}}});
  EXPECT_EQ(bad->status, 400) << bad->body;
}

TEST_F(ChainsTest, ConfigSchemaAndTypedInputSchema) {
  start_with_chains();
  auto c = get("/chains/support/config_schema");
  ASSERT_EQ(c->status, 200) << c->body;
  EXPECT_EQ(json::parse(c->body)["properties"]["configurable"]["properties"]["session_id"]["type"], "string");
  auto in = json::parse(get("/chains/greet/input_schema")->body);
  EXPECT_EQ(in["properties"]["name"]["type"], "string") << in.dump();
  auto p = client()->Get("/chains/greet/playground");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 302);
  EXPECT_EQ(p->get_header_value("Location"), "/?chain=greet#chains");
}

}  // namespace
}  // namespace llmchain::server::test
