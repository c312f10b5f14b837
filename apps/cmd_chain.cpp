// llmchain chain run FILE NAME --input k=v ... [-m MODEL]: runs a chain declared in YAML.
// llmchain chain list FILE: lists the chains of a file (or folder) and their inputs.
#include <fmt/ranges.h>

#include <cstdio>
#include <memory>
#include <mutex>

#include "apps/command.h"
#include "base/error.h"
#include "chain/local_llm.h"
#include "chain/yaml_loader.h"
#include "engine/local_engine.h"

namespace llmchain::apps {

namespace {

struct ChainOptions {
  std::string file;
  std::string name;
  std::vector<std::string> inputs;  // k=v
  std::string input_json;
  std::string model;
  std::string session;
  bool stream = false;
  int threads = 0;
  int n_ctx = 0;
  std::string backend = "cpu";
};

// ---- local models ------------------------------------------------------------------------
// LOCAL-ENGINE HOOK: YAML models with `path:` (GGUF) are built here, on a chain's first call
// (the loader makes local models lazy). Each LocalLLM owns its engine.
chain::LocalModelFactory local_model_factory(const ChainOptions& o) {
  int threads = o.threads, n_ctx = o.n_ctx;
  std::string backend = o.backend;
  return [threads, n_ctx, backend](const chain::LocalModelSpec& spec) -> Expected<chain::LanguageModelPtr> {
    engine::EngineOptions eo;
    eo.n_threads = threads;
    eo.n_ctx = n_ctx;
    eo.backend = backend;
    eo.chat_template = spec.options.value("chat_template", "");
    eo.model_name = spec.name;
    chain::LocalLLMOptions lo;
    lo.name = spec.name;
    if (spec.options.contains("params")) {
      auto p = capture([&] { return chain::LlmParams::from_json(spec.options["params"]); });
      if (!p.ok()) return p.error();
      if (p->temperature) lo.sampling.temperature = *p->temperature;
      if (p->top_p) lo.sampling.top_p = *p->top_p;
      if (p->seed) lo.sampling.seed = *p->seed;
      if (p->max_tokens) lo.max_tokens = *p->max_tokens;
    }
    auto eng = engine::LocalEngine::load(spec.path, eo);
    if (!eng.ok()) return eng.error();
    std::shared_ptr<engine::Engine> shared = std::move(*eng);
    return chain::LanguageModelPtr(std::make_shared<chain::LocalLLM>(std::move(shared), lo));
  };
}

Expected<chain::ChainConfig> load(const ChainOptions& o) {
  chain::LoadOptions lo;
  lo.local_model_factory = local_model_factory(o);
  lo.model_override = o.model;
  return chain::load_chain_config(o.file, lo);
}

Expected<chain::Json> parse_inputs(const ChainOptions& o) {
  chain::Json input = chain::Json::object();
  if (!o.input_json.empty()) {
    input = chain::Json::parse(o.input_json, nullptr, false);
    if (input.is_discarded()) return Error(ErrorCode::kInvalidArgument, "--input-json: not valid JSON");
  }
  for (const auto& kv : o.inputs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Error(ErrorCode::kInvalidArgument, fmt::format("--input '{}': expected key=value", kv));
    }
    if (!input.is_object()) return Error(ErrorCode::kInvalidArgument, "--input needs --input-json to be an object");
    input[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return input;
}

int run_chain(const ChainOptions& o) {
  auto cfg = load(o);
  if (!cfg.ok()) throw cfg.error();
  auto input = parse_inputs(o);
  if (!input.ok()) usage_error("{}", input.error().message());
  chain::RunConfig rc;
  rc.session_id = o.session;
  Expected<chain::Json> out = Error(ErrorCode::kInternal, "not run");
  if (o.stream) {
    bool any = false;
    out = cfg->registry->stream(
        o.name, *input,
        [&](const chain::Json& c) {
          // Text chains stream text; structured chunks (partial JSON values, list items) are
          // not printed: the complete value is, once, below.
          if (!c.is_string()) return;
          std::fputs(c.get_ref<const std::string&>().c_str(), stdout);
          std::fflush(stdout);
          any = true;
        },
        rc);
    if (any) std::fputc('\n', stdout);
    if (out.ok() && out->is_string() && any) return 0;
  } else {
    out = cfg->registry->invoke(o.name, *input, rc);
  }
  if (!out.ok()) throw out.error();
  if (out->is_string()) {
    std::printf("%s\n", out->get_ref<const std::string&>().c_str());
  } else {
    std::printf("%s\n", out->dump(2).c_str());
  }
  return 0;
}

int list_chains(const ChainOptions& o) {
  auto cfg = load(o);
  if (!cfg.ok()) throw cfg.error();
  for (const auto& info : cfg->registry->list()) {
    std::printf("%-28s %-18s inputs: %s%s%s\n", info.name.c_str(), info.type.c_str(),
                fmt::format("{}", fmt::join(info.input_variables, ", ")).c_str(),
                info.description.empty() ? "" : "  # ", info.description.c_str());
  }
  return 0;
}

}  // namespace

LLMC_REGISTER_COMMAND(chain, [](CLI::App& app) -> CommandAction {
  auto* sub = app.add_subcommand("chain", "Run chains declared in a YAML file");
  sub->require_subcommand(1);
  auto o = std::make_shared<ChainOptions>();

  auto* run = sub->add_subcommand("run", "Run one chain and print its output (JSON unless it is text)");
  run->add_option("file", o->file, "YAML file or folder of YAML files")->required();
  run->add_option("name", o->name, "Chain name")->required();
  run->add_option("-i,--input", o->inputs, "Input variable as key=value (repeatable)");
  run->add_option("--input-json", o->input_json, "Whole input as JSON (merged under --input)");
  run->add_option("-m,--model", o->model, "Use this model for every chain: a name under models:, or a .gguf path");
  run->add_option("-s,--session", o->session, "Session id for chains with memory");
  run->add_flag("--stream", o->stream, "Print tokens as they are generated");
  run->add_option("-t,--threads", o->threads, "Threads for local models (0: all)");
  run->add_option("-c,--ctx-size", o->n_ctx, "Context size for local models (0: model default)");
  add_backend_option(run, o->backend);

  auto* list = sub->add_subcommand("list", "List the chains of a YAML file and their inputs");
  list->add_option("file", o->file, "YAML file or folder")->required();
  list->add_option("-m,--model", o->model, "Model override (as for run)");

  return {sub, [o, run] { return run->parsed() ? run_chain(*o) : list_chains(*o); }};
});

}  // namespace llmchain::apps
