// llmchain embed / rerank: what /v1/embeddings and /v1/rerank return, from the command line
// (llama-embedding's use): embeddings pooled as the model declares and L2-normalised, or a
// reranker's scores of documents for a query. stdout: the JSON (OpenAI's embeddings list, or
// llama-server's rerank results, best first).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "engine/local_engine.h"
#include "engine/rerank.h"

namespace llmchain::apps {
namespace {

struct EmbedOptions {
  std::string model;
  std::vector<std::string> texts;
  std::string query;  // rerank
  std::string backend = "cpu";
  int32_t threads = 0;
  int32_t ctx = 0;
};

std::unique_ptr<engine::LocalEngine> load(const EmbedOptions& o) {
  init_command_logging("warn");
  engine::EngineOptions eo;
  eo.n_parallel = 1;
  eo.n_ctx = o.ctx;
  eo.n_threads = o.threads;
  eo.backend = o.backend;
  return engine::LocalEngine::load(o.model, eo).value();
}

int run_embed(const EmbedOptions& o) {
  auto eng = load(o);
  nlohmann::json data = nlohmann::json::array();
  int64_t total = 0;
  for (size_t i = 0; i < o.texts.size(); ++i) {
    auto toks = eng->tokenize(o.texts[i], true, false).value();
    total += static_cast<int64_t>(toks.size());
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", eng->embed(toks).value()}});
  }
  nlohmann::json out = {{"object", "list"},
                        {"data", data},
                        {"model", eng->info().name},
                        {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int run_rerank(const EmbedOptions& o) {
  auto eng = load(o);
  auto scores = engine::rerank(*eng, o.query, o.texts).value();
  nlohmann::json results = nlohmann::json::array();
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  for (size_t i : order) results.push_back({{"index", i}, {"relevance_score", scores[i]}});
  std::printf("%s\n", nlohmann::json({{"model", eng->info().name}, {"results", results}}).dump().c_str());
  return 0;
}

}  // namespace

LLMC_REGISTER_COMMAND(embed, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<EmbedOptions>();
  auto* sub = app.add_subcommand("embed", "Print the embeddings of texts as JSON (as /v1/embeddings returns them)");
  sub->add_option("-m,--model", o->model, "GGUF model")->required();
  sub->add_option("texts", o->texts, "Texts to embed")->required();
  sub->add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  add_backend_option(sub, o->backend);
  sub->add_option("-c,--ctx", o->ctx, "Context size (default: the model's, at most 4096)");
  return {sub, [o] { return run_embed(*o); }};
});

LLMC_REGISTER_COMMAND(rerank, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<EmbedOptions>();
  auto* sub = app.add_subcommand("rerank", "Score documents for a query with a reranking model (JSON, best first)");
  sub->add_option("-m,--model", o->model, "GGUF reranking model (pooling 'rank')")->required();
  sub->add_option("-q,--query", o->query, "The query")->required();
  sub->add_option("documents", o->texts, "Documents to score")->required();
  sub->add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  add_backend_option(sub, o->backend);
  sub->add_option("-c,--ctx", o->ctx, "Context size (default: the model's, at most 4096)");
  return {sub, [o] { return run_rerank(*o); }};
});

}  // namespace llmchain::apps
