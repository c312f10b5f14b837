// llmchain perplexity: llama-perplexity's score of a model on a text file
// (chunks of --ctx tokens, BOS first, second half of each chunk scored), and its KL divergence
// against a base model's saved log-probabilities (llama.cpp's file format, model/kl_divergence.h):
//   llmchain perplexity -m base.gguf -f text --kl-divergence-base base.kld     # save
//   llmchain perplexity -m quant.gguf --kl-divergence-base base.kld --kl-divergence
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "apps/command.h"
#include "apps/progress_bar.h"
#include "base/log.h"
#include "base/timer.h"
#include "model/kl_divergence.h"
#include "model/model.h"
#include "model/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace llmchain::apps {
namespace {

struct PerplexityCmdOptions {
  std::string model, file, kl_base, backend = "cpu";
  int32_t n_ctx = 512, n_batch = 0, threads = 0;
  bool json = false, kl = false, ctx_given = false;
};

// --kl-divergence: the model's distributions against the base file's, position by position.
int run_kl_divergence(const PerplexityCmdOptions& o) {
  auto reader = model::LogitsReader::open(o.kl_base);
  if (!reader) {
    std::fprintf(stderr, "error: %s\n", reader.error().what());
    return 1;
  }
  const auto& h = reader->header();
  auto model = model::Model::load(o.model, *model::backend_named(o.backend).value());
  if (!model) {
    std::fprintf(stderr, "error: %s\n", model.error().what());
    return 1;
  }
  if (h.n_vocab != (*model)->hparams().n_vocab) {
    std::fprintf(stderr, "error: %s has a vocabulary of %d tokens, the model %d\n", o.kl_base.c_str(), h.n_vocab,
                 (*model)->hparams().n_vocab);
    return 1;
  }
  if (o.ctx_given && static_cast<uint32_t>(o.n_ctx) != h.n_ctx) {
    std::fprintf(stderr, "note: using the base file's context of %u tokens (not --ctx %d)\n", h.n_ctx, o.n_ctx);
  }
  auto tok = tokenizer::Tokenizer::from_gguf((*model)->file());
  if (!tok) {
    std::fprintf(stderr, "error: %s: %s\n", o.model.c_str(), tok.error().what());
    return 1;
  }
  model::KlStats stats;
  std::optional<Error> bad;
  model::PerplexityOptions po;
  po.n_ctx = static_cast<int32_t>(h.n_ctx);
  po.n_batch = o.n_batch;
  po.threads = o.threads;
  po.bos = (*tok)->add_bos() ? (*tok)->bos() : -1;
  po.on_scored = [&](const float* logits, int32_t next) {
    if (bad) return;
    auto rec = reader->next();
    if (!rec) {
      bad = rec.error();
      return;
    }
    stats.add(logits, h.n_vocab, *rec, next);
  };
  ProgressBar bar("kl-divergence");
  po.progress = [&](int32_t done, int32_t total, double) {
    if (bar.enabled())
      bar.update(done, total, fmt::format("chunk {}/{} mean KLD {:.6f}", done, total, stats.mean_kld()));
  };
  Stopwatch sw;
  auto r = model::compute_perplexity(*model, h.tokens, po);
  bar.finish();
  if (!r) {
    std::fprintf(stderr, "error: %s\n", r.error().what());
    return 1;
  }
  if (bad) {
    std::fprintf(stderr, "error: %s\n", bad->what());
    return 1;
  }
  if (o.json) {
    nlohmann::json j = {
        {"mean_kld", stats.mean_kld()},
        {"same_top", stats.same_top()},
        {"ppl", stats.ppl()},
        {"ppl_base", stats.ppl_base()},
        {"ppl_ratio", stats.ppl() / stats.ppl_base()},
        {"max_kld",
         stats.kld_values.empty() ? 0.0 : *std::max_element(stats.kld_values.begin(), stats.kld_values.end())},
        {"positions", stats.count}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s", stats.report().c_str());
  }
  std::fprintf(stderr, "%d chunks, %lld positions compared in %.2f s\n", r->chunks, static_cast<long long>(stats.count),
               sw.seconds());
  return 0;
}

int run_perplexity(const PerplexityCmdOptions& o) {
  init_command_logging("warn");
  if (o.kl) {
    if (o.kl_base.empty()) {
      std::fprintf(stderr,
                   "error: --kl-divergence needs --kl-divergence-base FILE (the base model's log-probabilities)\n");
      return 2;
    }
    return run_kl_divergence(o);
  }
  if (o.file.empty()) {
    std::fprintf(stderr, "error: -f FILE (the text) is required\n");
    return 2;
  }
  std::ifstream in(o.file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "error: cannot read text file %s\n", o.file.c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  auto model = model::Model::load(o.model, *model::backend_named(o.backend).value());
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
  std::optional<model::LogitsWriter> writer;
  if (!o.kl_base.empty()) {  // --kl-divergence-base FILE: save every scored position's log-probabilities
    const size_t n_chunk = tokens.size() / static_cast<size_t>(std::max(o.n_ctx, 1));
    const std::vector<int32_t> evaluated(tokens.begin(),
                                         tokens.begin() + static_cast<std::ptrdiff_t>(n_chunk * o.n_ctx));
    auto w = model::LogitsWriter::create(o.kl_base, o.n_ctx, (*model)->hparams().n_vocab, evaluated);
    if (!w) {
      std::fprintf(stderr, "error: %s\n", w.error().what());
      return 1;
    }
    writer.emplace(std::move(*w));
    po.on_scored = [&](const float* logits, int32_t next) { writer->add(logits, next); };
  }
  Stopwatch sw;
  auto r = model::compute_perplexity(*model, tokens, po);
  bar.finish();
  if (!r) {
    std::fprintf(stderr, "error: %s\n", r.error().what());
    return 1;
  }
  if (writer) {
    if (auto c = writer->close(); !c) {
      std::fprintf(stderr, "error: %s\n", c.error().what());
      return 1;
    }
    std::fprintf(stderr, "saved the log-probabilities of %lld positions to %s\n",
                 static_cast<long long>(r->tokens_scored), o.kl_base.c_str());
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
  add_backend_option(sub, o->backend);
  sub->add_option("-f,--file", o->file, "text file (not with --kl-divergence: the base file holds the tokens)");
  auto* ctx = sub->add_option("-c,--ctx", o->n_ctx, "tokens per chunk")->check(CLI::Range(4, 1 << 20));
  sub->add_option("--kl-divergence-base", o->kl_base,
                  "file of log-probabilities (llama.cpp's format): written with -f, read with --kl-divergence");
  sub->add_flag("--kl-divergence", o->kl, "compare with the base file: KL divergence, same top token, PPL ratio");
  sub->add_option("-b,--batch", o->n_batch, "tokens per decode call (default: --ctx)");
  sub->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  sub->add_flag("--json", o->json, "print one JSON object");
  return {sub, [o, ctx] {
            o->ctx_given = ctx->count() > 0;
            return run_perplexity(*o);
          }};
});

}  // namespace
}  // namespace llmchain::apps
