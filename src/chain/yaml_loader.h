#pragma once
// Declarative chains: one YAML file (or a folder of *.yaml / *.yml files, merged) declares
// models, chains and server settings. Errors name the file, line, column and key path:
//
//   chains.yaml:14:9: chains.writer.steps[1]: unknown step 'outlne' (chains: draft, outline)
//
// File shape (see examples/chains.yaml for a complete one):
//
//   models:
//     local:   {path: models/qwen.gguf}                   # local GGUF, via LoadOptions::local_model_factory
//     remote:  {base_url: http://host:8080/v1, api_key_env: OPENAI_API_KEY, model: gpt-4o-mini,
//               timeout_s: 60, max_retries: 3, use_completions_endpoint: false, json_schema: true}
//     fake:    {type: fake, responses: ["..."]}            # scripted, for tests and demos
//     # every model may carry params: {temperature, top_p, max_tokens, stop, seed}
//   chains:
//     NAME:
//       type: llm                 # llm (default) | sequential | simple_sequential | router
//       description: ...
//       model: local
//       prompt: "Write a product description for {product}."
//       #  or {template: "...", format: fstring|jinja, partial: {k: v}}
//       #  or {messages: [{system: "..."}, {placeholder: history}, {user: "{question}"}]}
//       input_variables: [product]  # optional; checked against the prompt
//       params: {temperature: 0.7, max_tokens: 200}
//       output_key: text
//       parser: str | json | list | {type: json, schema: {...}} | {type: regex, pattern: "..."}
//       parse_retries: 2            # or `retry: N` inside a map parser: {type: json, schema: ..., retry: 2}
//       memory: {type: buffer|window|token_budget, k: 5, max_tokens: 1000, memory_key: history,
//                input_key: question, store: memory|sqlite, path: memory.db}
//       guards:
//         input:  [{type: pii, action: redact, kinds: [email, phone, card]},
//                  {type: max_length, max: 2000, action: block},
//                  {type: deny_list, terms: [...], patterns: [...], action: flag}]
//         output: [{type: json, action: block}, {type: deny_list, ...}, {type: max_length, ...}]
//     SEQ:  {type: sequential, input_variables: [topic], output_variables: [outline, draft],
//            steps: [outline, {chain: draft}, {prompt: "...", model: m, output_key: x}]}
//     ROUTE: {type: router, router: {model: m, prompt: "..."} | {rules: [{key: query,
//             contains: [book, novel], destination: books}]},
//             destinations: {books: {description: "...", chain: books}}, default: general}
//   server: {host: 0.0.0.0, port: 8080, ...}   # kept as JSON for the server module
//
// Relative paths (GGUF files, SQLite databases) are resolved against the YAML file's folder.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "chain/language_model.h"
#include "chain/registry.h"

namespace llmchain::chain {

struct LocalModelSpec {
  std::string name;  // key under models:
  std::string path;  // GGUF path, resolved
  Json options;      // every other key of the model's mapping (chat_template, n_ctx, params...)
};

// Builds a LanguageModel over a local GGUF (the app owns the engine). Called once per local
// model that a chain uses.
using LocalModelFactory = std::function<Expected<LanguageModelPtr>(const LocalModelSpec&)>;

struct LoadOptions {
  LocalModelFactory local_model_factory;  // unset: chains using a local model fail to load
  // When set, every chain (and router classifier) uses this model: a name under models:, or a
  // path ending in .gguf (built with local_model_factory).
  std::string model_override;
  // Environment lookup for api_key_env (tests inject one); unset: std::getenv.
  std::function<std::string(const std::string&)> getenv;
};

struct ServerSettings {
  std::string host = "0.0.0.0";
  int port = 8080;
  Json raw = Json::object();  // the whole server: mapping
};

struct ChainConfig {
  std::shared_ptr<ChainRegistry> registry;
  std::map<std::string, LanguageModelPtr> models;  // the models that chains use, built
  ServerSettings server;
  std::vector<std::string> files;  // what was read
};

// path: a YAML file or a folder of them.
Expected<ChainConfig> load_chain_config(const std::string& path, const LoadOptions& options = {});
// yaml: the text of one file; filename is used in messages and to resolve relative paths.
Expected<ChainConfig> load_chain_config_string(const std::string& yaml, const std::string& filename,
                                               const LoadOptions& options = {});

}  // namespace llmchain::chain
