#include "chain/yaml_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "chain/lazy_llm.h"
#include "chain/llm_chain.h"

namespace llmchain::chain {
namespace {

std::string load_error(const std::string& yaml, const LoadOptions& o = {}) {
  auto r = load_chain_config_string(yaml, "chains.yaml", o);
  if (r.ok()) return "(loaded)";
  return r.error().message();
}

const char* kModels = R"(models:
  fake:
    type: fake
    responses: ["Cozy socks."]
)";

TEST(YamlLoader, SeedChainLoadsAndRuns) {
  auto cfg = load_chain_config_string(std::string(kModels) + R"(chains:
  product_description:
    description: Writes product copy
    model: fake
    prompt: "Write a product description for {product}."
    params: {temperature: 0.7, max_tokens: 64}
server:
  port: 9000
  api_key_env: LLMCHAIN_API_KEY
)",
                                      "chains.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  auto list = cfg->registry->list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "product_description");
  EXPECT_EQ(list[0].type, "llm");
  EXPECT_EQ(list[0].description, "Writes product copy");
  EXPECT_EQ(list[0].input_variables, (std::vector<std::string>{"product"}));
  auto out = cfg->registry->invoke("product_description", {{"product", "socks"}});
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(*out, "Cozy socks.");
  auto fake = std::dynamic_pointer_cast<FakeLLM>(cfg->models.at("fake"));
  EXPECT_EQ(fake->last_call().input.prompt, "Write a product description for socks.");
  EXPECT_EQ(*fake->last_call().params.max_tokens, 64);
  EXPECT_EQ(cfg->server.port, 9000);
  EXPECT_EQ(cfg->server.raw["api_key_env"], "LLMCHAIN_API_KEY");
}

TEST(YamlLoader, ErrorUnknownStep) {
  std::string e = load_error(std::string(kModels) + R"(chains:
  outline:
    model: fake
    prompt: "Outline {topic}"
    output_key: outline
  writer:
    type: sequential
    input_variables: [topic]
    steps:
      - outline
      - outlnie
)");
  EXPECT_NE(e.find("chains.yaml:15:9: chains.writer.steps[1]: unknown step 'outlnie' (chains: outline, writer)"),
            std::string::npos)
      << e;
}

TEST(YamlLoader, ErrorMissingVariable) {
  std::string e = load_error(std::string(kModels) + R"(chains:
  writer:
    type: sequential
    input_variables: [topic]
    steps:
      - {model: fake, prompt: "Outline {topic}", output_key: outline}
      - {model: fake, prompt: "Draft {outline} in {style}", output_key: draft}
)");
  EXPECT_NE(e.find("chains.yaml:11:9: chains.writer.steps[1]: step 2"), std::string::npos) << e;
  EXPECT_NE(e.find("needs variable 'style'"), std::string::npos) << e;
  // declared input_variables that miss a prompt variable
  e = load_error(std::string(kModels) + R"(chains:
  c:
    model: fake
    prompt: "{a} {b}"
    input_variables: [a]
)");
  EXPECT_NE(e.find("chains.yaml:9:22: chains.c.input_variables: missing variable: the prompt uses 'b'"),
            std::string::npos)
      << e;
}

TEST(YamlLoader, ErrorUndefinedModel) {
  std::string e = load_error(std::string(kModels) + R"(chains:
  c:
    model: gpt-9
    prompt: "hi {x}"
)");
  EXPECT_NE(e.find("chains.yaml:7:12: chains.c.model: model 'gpt-9' is not defined (models: fake)"), std::string::npos)
      << e;
}

TEST(YamlLoader, ErrorTypeMismatch) {
  std::string e = load_error(std::string(kModels) + R"(chains:
  c:
    model: fake
    prompt: "{q}"
    memory: {type: window, k: lots}
)");
  EXPECT_NE(e.find("chains.yaml:9:31: chains.c.memory.k: type mismatch: expected an integer, got 'lots'"),
            std::string::npos)
      << e;
  e = load_error(std::string(kModels) + R"(chains:
  s:
    type: sequential
    input_variables: [x]
    steps: oops
)");
  EXPECT_NE(e.find("chains.yaml:9:12: chains.s.steps: type mismatch: expected a sequence, got a scalar"),
            std::string::npos)
      << e;
  e = load_error(std::string(kModels) + R"(chains:
  c:
    model: fake
    prompt: "{q}"
    params: {max_tokens: many}
)");
  EXPECT_NE(e.find("chains.yaml:9:26: chains.c.params.max_tokens: expected an integer"), std::string::npos) << e;
}

TEST(YamlLoader, OtherErrors) {
  EXPECT_NE(load_error("chains: [1, 2\n").find("chains.yaml:"), std::string::npos);
  EXPECT_NE(load_error("chains: {}\nmodles: {}\n").find("chains.yaml:2:1: modles: unknown key 'modles'"),
            std::string::npos)
      << load_error("chains: {}\nmodles: {}\n");
  std::string e = load_error(std::string(kModels) + R"(chains:
  c:
    model: fake
    promt: "{q}"
)");
  EXPECT_NE(e.find("chains.yaml:8:5: chains.c.promt: unknown key 'promt'"), std::string::npos) << e;
  e = load_error(std::string(kModels) + R"(chains:
  c:
    model: fake
    prompt: "{q"
)");
  EXPECT_NE(e.find("chains.yaml:8:13: chains.c.prompt: prompt template: unclosed"), std::string::npos) << e;
  e = load_error(std::string(kModels) + R"(chains:
  c:
    model: fake
    prompt: "{q}"
    guards: {input: [{type: pii, action: explode}]}
)");
  EXPECT_NE(e.find("chains.c.guards.input[0]: unknown guard action 'explode'"), std::string::npos) << e;
  e = load_error(R"(models:
  local: {path: m.gguf}
chains:
  c: {model: local, prompt: "{q}"}
)");
  EXPECT_NE(e.find("chains.yaml:2:10: models.local: local models need the inference engine"), std::string::npos) << e;
  e = load_error(std::string(kModels) + R"(chains:
  a: {type: sequential, input_variables: [x], steps: [b]}
  b: {type: sequential, input_variables: [x], steps: [a]}
)");
  EXPECT_NE(e.find("refers to itself"), std::string::npos) << e;
}

TEST(YamlLoader, FullFeatureChains) {
  std::string yaml = R"(models:
  m: {type: fake, responses: ["{\"translation\": \"hola\"}"]}
  r: {type: fake, responses: ["books"]}
  remote: {base_url: "http://127.0.0.1:1/v1", api_key_env: TEST_KEY, model: x, max_retries: 0}
chains:
  support:
    model: m
    prompt:
      messages:
        - system: "You are support."
        - placeholder: history
        - user: "{question}"
    memory: {type: window, k: 3}
    guards:
      input: [{type: pii, action: redact}, {type: max_length, max: 100, action: block}]
      output: [{type: deny_list, terms: [darn], action: redact}]
  translate:
    model: m
    prompt: {template: "Translate {text} to {language}. {format_instructions}", partial: {language: Spanish}}
    parser: {type: json, schema: {type: object, required: [translation], properties: {translation: {type: string}}}}
    output_key: result
  rec:
    type: router
    router: {model: r}
    destinations:
      books: {description: Books, chain: translate}
    default: translate
  rules:
    type: router
    router: {rules: [{key: text, contains: [novel], destination: books}]}
    destinations: {books: translate}
    default: translate
  uses_remote: {model: remote, prompt: "{x}"}
)";
  LoadOptions o;
  o.getenv = [](const std::string& k) { return k == "TEST_KEY" ? std::string("sk-1") : std::string(); };
  auto cfg = load_chain_config_string(yaml, "/tmp/chains.yaml", o);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  auto& reg = *cfg->registry;
  RunConfig rc;
  rc.session_id = "u1";
  auto out = reg.invoke("support", {{"question", "mail a@b.co"}}, rc);
  ASSERT_TRUE(out.ok()) << out.error().message();
  auto m = std::dynamic_pointer_cast<FakeLLM>(cfg->models.at("m"));
  EXPECT_EQ(m->last_call().input.messages.back().content, "mail [EMAIL]");
  EXPECT_FALSE(reg.invoke("support", {{"question", std::string(200, 'x')}}).ok());
  auto t = reg.invoke("translate", {{"text", "hello"}});
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(*t, (Json{{"translation", "hola"}}));
  EXPECT_NE(m->last_call().input.prompt.find("to Spanish."), std::string::npos);
  auto schema = reg.output_schema("translate");
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ((*schema)["required"], Json::array({"translation"}));
  EXPECT_TRUE(reg.invoke("rec", {{"text", "a novel"}}).ok());
  EXPECT_TRUE(reg.invoke("rules", {{"text", "a novel"}}).ok());
  EXPECT_EQ(reg.info("rec")->type, "router");
}

TEST(YamlLoader, ModelOverride) {
  LoadOptions o;
  o.model_override = "other";
  auto cfg = load_chain_config_string(R"(models:
  fake: {type: fake, responses: [A]}
  other: {type: fake, responses: [B]}
chains:
  c: {model: fake, prompt: "{x}"}
)",
                                      "chains.yaml", o);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ(*cfg->registry->invoke("c", "x"), "B");
  o.model_override = "nope";
  EXPECT_FALSE(
      load_chain_config_string("models: {a: {type: fake}}\nchains: {c: {model: a, prompt: x}}\n", "f.yaml", o).ok());
}

TEST(YamlLoader, LocalModelFactoryAndFolderAndSqliteMemory) {
  auto dir = std::filesystem::temp_directory_path() / ("llmchain_yaml_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "a_models.yaml") << "models:\n  local: {path: model.gguf, chat_template: chatml}\n";
  std::ofstream(dir / "b_chains.yaml") << R"(chains:
  chat:
    model: local
    prompt: "{history}|{input}"
    memory: {store: sqlite, path: mem.db}
)";
  LocalModelSpec seen;
  LoadOptions o;
  o.local_model_factory = [&](const LocalModelSpec& s) -> Expected<LanguageModelPtr> {
    seen = s;
    return LanguageModelPtr(std::make_shared<FakeLLM>(std::vector<std::string>{"R"}));
  };
  {
    auto cfg = load_chain_config(dir.string(), o);
    ASSERT_TRUE(cfg.ok()) << cfg.error().message();
    EXPECT_EQ(cfg->files.size(), 2u);
    RunConfig rc;
    rc.session_id = "s";
    ASSERT_TRUE(cfg->registry->invoke("chat", "hello", rc).ok());
    EXPECT_EQ(seen.path, (dir / "model.gguf").string());  // built on the first call
    EXPECT_EQ(seen.options["chat_template"], "chatml");
  }
  // a restart: the history comes back from SQLite
  auto cfg = load_chain_config(dir.string(), o);
  ASSERT_TRUE(cfg.ok());
  RunConfig rc;
  rc.session_id = "s";
  ASSERT_TRUE(cfg->registry->invoke("chat", "again", rc).ok());
  auto lazy = std::dynamic_pointer_cast<LazyLLM>(cfg->models.at("local"));
  ASSERT_TRUE(lazy);
  auto fake = std::dynamic_pointer_cast<FakeLLM>(lazy->get());
  EXPECT_EQ(fake->last_call().input.prompt, "Human: hello\nAI: R|again");
  // duplicate definitions across files name both places
  std::ofstream(dir / "c_dup.yaml") << "models:\n  local: {type: fake}\n";
  auto dup = load_chain_config(dir.string(), o);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message().find("'local' is already defined at"), std::string::npos) << dup.error().message();
  std::filesystem::remove_all(dir);
}

// Loading a file (and listing its chains) builds no local model and opens no database: both
// happen on a chain's first call. Relative memory paths go under LLMCHAIN_MEMORY_DIR when set.
TEST(YamlLoader, LocalModelsAndMemoryOpenOnFirstUse) {
  auto dir = std::filesystem::temp_directory_path() / ("llmchain_lazy_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "conf");
  const auto yaml = dir / "conf" / "chains.yaml";
  std::ofstream(yaml) << R"(models:
  local: {path: missing.gguf}
chains:
  chat:
    model: local
    prompt: "{history}|{input}"
    memory: {store: sqlite, path: sub/mem.db}
  other:
    model: local
    prompt: "{input}"
)";
  int built = 0;
  LoadOptions o;
  o.local_model_factory = [&](const LocalModelSpec&) -> Expected<LanguageModelPtr> {
    ++built;
    return LanguageModelPtr(std::make_shared<FakeLLM>(std::vector<std::string>{"R"}));
  };
  const auto memdir = dir / "state";
  o.getenv = [&](const std::string& k) { return k == "LLMCHAIN_MEMORY_DIR" ? memdir.string() : std::string(); };
  auto cfg = load_chain_config(yaml.string(), o);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ(cfg->registry->list().size(), 2u);
  EXPECT_EQ(built, 0);
  EXPECT_FALSE(std::filesystem::exists(memdir / "sub" / "mem.db"));
  EXPECT_FALSE(std::filesystem::exists(dir / "conf" / "sub"));
  ASSERT_TRUE(cfg->registry->invoke("other", "x").ok());
  EXPECT_EQ(built, 1);
  EXPECT_FALSE(std::filesystem::exists(memdir / "sub" / "mem.db"));
  ASSERT_TRUE(cfg->registry->invoke("chat", "hello").ok());
  EXPECT_EQ(built, 1);  // one model, built once
  EXPECT_TRUE(std::filesystem::exists(memdir / "sub" / "mem.db"));
  EXPECT_FALSE(std::filesystem::exists(dir / "conf" / "sub"));

  // A model that fails to load fails the call, naming the declaration; the next call retries.
  LoadOptions bad = o;
  int tries = 0;
  bad.local_model_factory = [&](const LocalModelSpec& s) -> Expected<LanguageModelPtr> {
    ++tries;
    return Error(ErrorCode::kNotFound, "cannot open " + s.path);
  };
  auto cfg2 = load_chain_config(yaml.string(), bad);
  ASSERT_TRUE(cfg2.ok()) << cfg2.error().message();
  auto r = cfg2->registry->invoke("other", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("models.local"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("missing.gguf"), std::string::npos) << r.error().message();
  EXPECT_FALSE(cfg2->registry->invoke("other", "x").ok());
  EXPECT_EQ(tries, 2);
  std::filesystem::remove_all(dir);
}

// Aliases are followed with a budget: a self-reference and a "billion laughs" file are clean
// errors naming the file, not a stack overflow or an out-of-memory kill.
TEST(YamlLoader, AliasExpansionIsBounded) {
  auto self = load_chain_config_string(
      "models:\n  m: &x {type: fake, responses: [a], params: {stop: *x}}\nchains:\n  c: {model: m, prompt: '{q}'}\n",
      "self.yaml");
  ASSERT_FALSE(self.ok());
  EXPECT_NE(self.error().message().find("self.yaml:"), std::string::npos) << self.error().message();
  EXPECT_NE(self.error().message().find("refers to itself"), std::string::npos) << self.error().message();

  std::string laughs = "server:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 8; ++i) {
    laughs += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) laughs += (k ? ", *a" : "*a") + std::to_string(i - 1);
    laughs += "]\n";
  }
  auto big = load_chain_config_string(laughs, "laughs.yaml");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message().find("aliases are expanded"), std::string::npos) << big.error().message();
}

TEST(YamlLoader, ExamplesFileLoads) {
  // a copy, so the SQLite memory it declares is created in a temporary folder
  auto dir = std::filesystem::temp_directory_path() / ("llmchain_examples_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(std::string(LLMCHAIN_SOURCE_DIR) + "/examples/chains.yaml", dir / "chains.yaml",
                             std::filesystem::copy_options::overwrite_existing);
  LoadOptions o;
  o.model_override = "demo";  // the examples declare a fake "demo" model
  auto cfg = load_chain_config((dir / "chains.yaml").string(), o);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  auto names = cfg->registry->list();
  std::vector<std::string> got;
  for (const auto& i : names) got.push_back(i.name);
  for (const char* want :
       {"product_description", "customer_service", "writing_assistant", "translation", "recommendation"}) {
    EXPECT_NE(std::find(got.begin(), got.end(), want), got.end()) << want;
  }
  for (const auto& [name, input] :
       std::vector<std::pair<std::string, Json>>{{"product_description", {{"product", "socks"}}},
                                                 {"customer_service", {{"question", "where is my order? me@x.org"}}},
                                                 {"writing_assistant", {{"topic", "tea"}, {"audience", "kids"}}},
                                                 {"translation", {{"text", "hello"}}},
                                                 {"recommendation", {{"query", "a good novel"}}}}) {
    auto out = cfg->registry->invoke(name, input);
    EXPECT_TRUE(out.ok()) << name << ": " << out.error().message();
  }
  EXPECT_EQ((*cfg->registry->invoke("translation", {{"text", "hello"}}))["translation"], "Hola, mundo");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace llmchain::chain

namespace llmchain::chain {
namespace {

// `retry: N` on a parser re-asks the model with the parse error appended; when
// every answer fails, the error is output_parse_failed with the raw text.
TEST(YamlLoader, ParserRetryReasksAndFailsDistinctly) {
  auto cfg = load_chain_config_string(R"(models:
  fake: {type: fake, responses: ["no json here", "{\"t\": \"ok\"}"]}
chains:
  c:
    model: fake
    prompt: "Q: {q}"
    parser: {type: json, schema: {type: object, required: [t]}, retry: 1}
)",
                                      "chains.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  auto out = cfg->registry->invoke("c", {{"q", "x"}});
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ((*out)["t"], "ok");
  auto fake = std::dynamic_pointer_cast<FakeLLM>(cfg->models.at("fake"));
  EXPECT_EQ(fake->call_count(), 2u);
  EXPECT_NE(fake->last_call().input.prompt.find("no JSON value found"), std::string::npos);

  auto none = load_chain_config_string(R"(models:
  fake: {type: fake, responses: ["still no json"]}
chains:
  c:
    model: fake
    prompt: "Q: {q}"
    parser: {type: json, retry: 0}
)",
                                       "chains.yaml");
  ASSERT_TRUE(none.ok()) << none.error().message();
  auto failed = none->registry->invoke("c", {{"q", "x"}});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code(), ErrorCode::kOutputParseFailed);
  EXPECT_NE(failed.error().message().find("still no json"), std::string::npos) << failed.error().message();
  EXPECT_EQ(std::dynamic_pointer_cast<FakeLLM>(none->models.at("fake"))->call_count(), 1u);

  EXPECT_NE(load_error(R"(models: {fake: {type: fake}}
chains:
  c: {model: fake, prompt: "{q}", parse_retries: 1, parser: {type: json, retry: 2}}
)")
                .find("not both"),
            std::string::npos);
  EXPECT_NE(load_error(R"(models: {fake: {type: fake}}
chains:
  c: {model: fake, prompt: "{q}", parser: {type: json, retry: -1}}
)")
                .find("retry must be"),
            std::string::npos);
}

}  // namespace
}  // namespace llmchain::chain
