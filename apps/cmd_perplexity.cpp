// llmchain perplexity: llama-perplexity's score of a model on a text file
// (chunks of --ctx tokens, BOS first, second half of each chunk scored).
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/command.h"
#include "apps/progress_bar.h"
#include "base/log.h"
#include "base/timer.h"
#include "model/model.h"
#include "model/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace llmchain::apps {
namespace {

struct PerplexityCmdOptions {
  std::string model, file;
  int32_t n_ctx = 512, n_batch = 0, threads = 0;
  bool json = false;
};

int run_perplexity(const PerplexityCmdOptions& o) {
  init_command_logging("warn");
  std::ifstream in(o.file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "error: cannot read text file %s\n", o.file.c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  auto model = model::Model::load(o.model);
  if (!model) {
    std::fprintf(stderr, "error: %s\n", model.error().what());
    return 1;
  }
  auto tok = tokenizer::Tokenizer::from_gguf((*model)->file());
  if (!tok) {
    std::fprintf(stderr, "error: %s: %s\n", o.model.c_str(), tok.error().what());
    return 1;
  }
  const bool add_bos = (*tok)->add_bos();
  const std::vector<int32_t> tokens = (*tok)->encode(text, true, false);
  std::fprintf(stderr, "perplexity: %zu tokens, %zu chunks of %d, scoring the second half of each\n", tokens.size(),
               tokens.size() / static_cast<size_t>(std::max(o.n_ctx, 1)), o.n_ctx);

  ProgressBar bar("perplexity");
  model::PerplexityOptions po;
  po.n_ctx = o.n_ctx;
  po.n_batch = o.n_batch;
  po.threads = o.threads;
  po.bos = add_bos ? (*tok)->bos() : -1;
  po.progress = [&](int32_t done, int32_t total, double ppl) {
    if (bar.enabled())
      bar.update(done, total, fmt::format("chunk {}/{} ppl {:.4f}", done, total, ppl));
    else
      std::fprintf(stderr, "[%d/%d] ppl %.4f\n", done, total, ppl);
  };
  Stopwatch sw;
  auto r = model::compute_perplexity(*model, tokens, po);
  bar.finish();
  if (!r) {
    std::fprintf(stderr, "error: %s\n", r.error().what());
    return 1;
  }
  if (o.json) {
    nlohmann::json j = {
        {"ppl", r->ppl}, {"ppl_stderr", r->ppl_stderr}, {"chunks", r->chunks}, {"tokens_scored", r->tokens_scored}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_stderr);
  }
  std::fprintf(stderr, "%d chunks, %lld tokens scored in %.2f s\n", r->chunks, static_cast<long long>(r->tokens_scored),
               sw.seconds());
  return 0;
}

LLMC_REGISTER_COMMAND(perplexity, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<PerplexityCmdOptions>();
  auto* sub = app.add_subcommand("perplexity", "Perplexity of a model on a text file (as llama-perplexity)");
  sub->add_option("-m,--model", o->model, "GGUF model file")->required();
  sub->add_option("-f,--file", o->file, "text file")->required();
  sub->add_option("-c,--ctx", o->n_ctx, "tokens per chunk")->check(CLI::Range(4, 1 << 20));
  sub->add_option("-b,--batch", o->n_batch, "tokens per decode call (default: --ctx)");
  sub->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  sub->add_flag("--json", o->json, "print one JSON object");
  return {sub, [o] { return run_perplexity(*o); }};
});

}  // namespace
}  // namespace llmchain::apps
