// /metrics: the per-model series, the guard counter, label escaping, the text format's
// structure, and chain traffic (a chain's LocalLLM) counted like the OpenAI routes'.
#include "server/metrics.h"

#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "chain/local_llm.h"
#include "chain/yaml_loader.h"
#include "server_fixture.h"

namespace llmchain::server::test {
namespace {

bool has(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }

// The checks of the text format (0.0.4) that a scraper would trip on: every sample
// belongs to a family declared once by HELP and TYPE before its samples, the
// family's samples are contiguous, a histogram's series end with +Inf, _sum and _count,
// and a counter's name ends in _total (a gauge's does not).
void expect_well_formed(const std::string& text) {
  std::map<std::string, std::string> types;
  std::set<std::string> helped, closed;
  std::string current;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty()) << "blank line in:\n" << text;
    std::istringstream ls(line);
    if (line.rfind("# HELP ", 0) == 0) {
      std::string hash, kw, name;
      ls >> hash >> kw >> name;
      EXPECT_TRUE(helped.insert(name).second) << "second HELP for " << name;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string hash, kw, name, type;
      ls >> hash >> kw >> name >> type;
      EXPECT_TRUE(helped.count(name)) << "TYPE before HELP for " << name;
      EXPECT_TRUE(types.emplace(name, type).second) << "second TYPE for " << name;
      EXPECT_EQ(type == "counter", name.size() > 6 && name.ends_with("_total")) << name << " is a " << type;
      if (!current.empty()) closed.insert(current);
      current = name;
      continue;
    }
    std::string name = line.substr(0, line.find_first_of("{ "));
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s = suffix;
      if (!types.count(family) && name.ends_with(s)) family = name.substr(0, name.size() - s.size());
    }
    ASSERT_TRUE(types.count(family)) << "sample of an undeclared family: " << line;
    EXPECT_EQ(family, current) << "samples of " << family << " are not together: " << line;
    EXPECT_FALSE(closed.count(family)) << line;
    if (family != name) {
      EXPECT_EQ(types[family], "histogram") << line;
    }
    // value: the last field parses as a number
    std::string value = line.substr(line.rfind(' ') + 1);
    EXPECT_NO_THROW((void)std::stod(value)) << line;
  }
}

TEST(MetricsTest, TokensAndLatenciesCarryTheModelLabel) {
  Metrics m;
  {
    GenerationRecorder r(m, "llama-1b");
    EXPECT_EQ(m.inflight(), 1);
    r.on_token();
    r.on_token();
    r.on_token();
    r.on_finish(true, 7, 3);
  }
  EXPECT_EQ(m.inflight(), 0);
  const std::string text = m.render(nullptr);
  for (const char* line : {
           "llmchain_prompt_tokens_total{model=\"llama-1b\"} 7\n",
           "llmchain_generation_tokens_total{model=\"llama-1b\"} 3\n",
           "llmchain_time_to_first_token_seconds_bucket{model=\"llama-1b\",le=\"+Inf\"} 1\n",
           "llmchain_time_to_first_token_seconds_count{model=\"llama-1b\"} 1\n",
           "llmchain_inter_token_latency_seconds_count{model=\"llama-1b\"} 2\n",
           "llmchain_request_duration_seconds_bucket{model=\"llama-1b\",le=\"300\"} 1\n",
           "llmchain_request_duration_seconds_count{model=\"llama-1b\"} 1\n",
       }) {
    EXPECT_TRUE(has(text, line)) << "missing: " << line << "\n" << text;
  }
  expect_well_formed(text);
}

TEST(MetricsTest, ModelsKeepSeparateSeries) {
  Metrics m;
  GenerationRecorder(m, "a").on_finish(true, 1, 2);
  GenerationRecorder(m, "b").on_finish(true, 10, 20);
  GenerationRecorder(m, "a").on_finish(true, 1, 2);
  const std::string text = m.render(nullptr);
  EXPECT_TRUE(has(text, "llmchain_prompt_tokens_total{model=\"a\"} 2\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_prompt_tokens_total{model=\"b\"} 10\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_generation_tokens_total{model=\"b\"} 20\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_request_duration_seconds_count{model=\"a\"} 2\n")) << text;
  expect_well_formed(text);
}

TEST(MetricsTest, FailedOrAbandonedCallsCountLatencyNotTokens) {
  Metrics m;
  GenerationRecorder(m, "x").on_finish(false, 5, 5);
  { GenerationRecorder abandoned(m, "x"); }  // e.g. an exception between start and finish
  EXPECT_EQ(m.inflight(), 0);
  const std::string text = m.render(nullptr);
  EXPECT_TRUE(has(text, "llmchain_prompt_tokens_total{model=\"x\"} 0\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_request_duration_seconds_count{model=\"x\"} 2\n")) << text;
}

TEST(MetricsTest, ServedModelIsExportedAtZeroAndIsTheDefault) {
  auto m = std::make_shared<Metrics>();
  m->set_served_model("served");
  std::string text = m->render(nullptr);
  EXPECT_TRUE(has(text, "llmchain_prompt_tokens_total{model=\"served\"} 0\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_time_to_first_token_seconds_count{model=\"served\"} 0\n")) << text;
  expect_well_formed(text);

  auto observe = observe_generations(m);
  auto obs = observe();
  ASSERT_TRUE(obs);
  obs->on_token();
  obs->on_finish(true, 4, 1);
  text = m->render(nullptr);
  EXPECT_TRUE(has(text, "llmchain_prompt_tokens_total{model=\"served\"} 4\n")) << text;
  EXPECT_FALSE(has(text, "model=\"\"")) << text;
}

TEST(MetricsTest, GuardEventsCounter) {
  Metrics m;
  std::string text = m.render(nullptr);
  EXPECT_TRUE(has(text, "# HELP llmchain_guard_events_total ")) << text;
  EXPECT_TRUE(has(text, "# TYPE llmchain_guard_events_total counter\n")) << text;
  m.record_guard_event("customer_service", "pii", "redact");
  m.record_guard_event("customer_service", "pii", "redact");
  m.record_guard_event("customer_service", "deny_list", "flag");
  EXPECT_EQ(m.guard_event_count("customer_service", "pii", "redact"), 2u);
  EXPECT_EQ(m.guard_event_count("customer_service", "pii", "block"), 0u);
  text = m.render(nullptr);
  EXPECT_TRUE(has(text, "llmchain_guard_events_total{chain=\"customer_service\",guard=\"pii\",action=\"redact\"} 2\n"))
      << text;
  EXPECT_TRUE(
      has(text, "llmchain_guard_events_total{chain=\"customer_service\",guard=\"deny_list\",action=\"flag\"} 1\n"))
      << text;
  expect_well_formed(text);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  Metrics m;
  m.record_guard_event("say \"hi\"", "back\\slash", "two\nlines");
  m.record_http("/x\"y", 200);
  GenerationRecorder(m, "org/model \"q8\"").on_finish(true, 1, 1);
  const std::string text = m.render(nullptr);
  EXPECT_TRUE(has(text, "{chain=\"say \\\"hi\\\"\",guard=\"back\\\\slash\",action=\"two\\nlines\"} 1\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_http_requests_total{route=\"/x\\\"y\",status=\"200\"} 1\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_prompt_tokens_total{model=\"org/model \\\"q8\\\"\"} 1\n")) << text;
  expect_well_formed(text);
}

TEST(MetricsTest, KvCacheGaugesAreNotNamedLikeCounters) {
  fakes::FakeEngine engine;
  const std::string text = Metrics().render(&engine);
  EXPECT_TRUE(has(text, "# TYPE llmchain_kv_cache_cells_capacity gauge\n")) << text;
  EXPECT_FALSE(has(text, "llmchain_kv_cache_cells_total")) << text;
  expect_well_formed(text);
}

// A chain whose model is a LocalLLM over the server's engine (what `llmchain serve` builds for
// a models: {x: {path: ...}} entry) counts in /metrics under the server's model id.
TEST(MetricsTest, ChainTrafficCountsUnderTheServedModel) {
  fakes::FakeEngine engine;
  auto metrics = std::make_shared<Metrics>();
  chain::LoadOptions lo;
  lo.local_model_factory = [&](const chain::LocalModelSpec& spec) -> Expected<chain::LanguageModelPtr> {
    chain::LocalLLMOptions llo;
    llo.name = spec.name;
    llo.observe = observe_generations(metrics);
    return chain::LanguageModelPtr(std::make_shared<chain::LocalLLM>(engine, llo));
  };
  auto cfg = chain::load_chain_config_string(R"YAML(
models:
  local: {path: unused.gguf}
chains:
  echo:
    model: local
    prompt: "echo: {text}"
    output_key: out
)YAML",
                                             "metrics_test.yaml", lo);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  ServerOptions opts;
  opts.host = "127.0.0.1";
  opts.port = 0;
  opts.chains = cfg->registry;
  opts.metrics = metrics;
  HttpServer server(engine, opts);
  auto port = server.start();
  ASSERT_TRUE(port.ok()) << port.error().message();
  EXPECT_EQ(&server.metrics(), metrics.get());
  httplib::Client c("127.0.0.1", *port);
  c.set_read_timeout(30, 0);

  auto r = c.Post("/chains/echo/invoke", json{{"input", {{"text", "hello"}}}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["output"], "hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the access log/metrics run after the reply
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  const std::string& text = m->body;
  // "hello" is 5 byte-tokens plus EOS; the prompt is BOS + "echo: hello".
  EXPECT_TRUE(has(text, "llmchain_generation_tokens_total{model=\"fake-model\"} 5\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_prompt_tokens_total{model=\"fake-model\"} 12\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_time_to_first_token_seconds_count{model=\"fake-model\"} 1\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_request_duration_seconds_count{model=\"fake-model\"} 1\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_http_requests_total{route=\"/chains/{name}/invoke\",status=\"200\"} 1\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_requests_inflight 0\n")) << text;
  expect_well_formed(text);

  // The OpenAI routes add to the same series.
  auto o = c.Post("/v1/completions", json{{"prompt", "echo: abc"}}.dump(), "application/json");
  ASSERT_TRUE(o);
  ASSERT_EQ(o->status, 200) << o->body;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string after = c.Get("/metrics")->body;
  EXPECT_TRUE(has(after, "llmchain_generation_tokens_total{model=\"fake-model\"} 8\n")) << after;
  EXPECT_TRUE(has(after, "llmchain_request_duration_seconds_count{model=\"fake-model\"} 2\n")) << after;
  server.shutdown();
}

class MetricsRoutesTest : public ServerFixture {};

// Route labels are templates, not the router's regexes (one series per route, whatever the names).
TEST_F(MetricsRoutesTest, RouteLabelsAreTemplates) {
  start();
  get("/v1/models/fake-model");
  get("/v1/models/org/other");
  post("/chains/one/invoke", json{{"input", json::object()}});
  post("/chains/two/invoke", json{{"input", json::object()}});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string text = get("/metrics")->body;
  EXPECT_TRUE(has(text, "llmchain_http_requests_total{route=\"/v1/models/{model}\",status=\"200\"} 1\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_http_requests_total{route=\"/v1/models/{model}\",status=\"404\"} 1\n")) << text;
  EXPECT_TRUE(has(text, "llmchain_http_requests_total{route=\"/chains/{name}/invoke\",status=\"404\"} 2\n")) << text;
  EXPECT_FALSE(has(text, "([^/]+)")) << text;
  EXPECT_FALSE(has(text, "(.+)")) << text;
  // The served model's series exist before any generation.
  EXPECT_TRUE(has(text, "llmchain_prompt_tokens_total{model=\"fake-model\"} 0\n")) << text;
  expect_well_formed(text);
}

}  // namespace
}  // namespace llmchain::server::test
