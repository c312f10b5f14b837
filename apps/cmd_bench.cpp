// llmchain bench: prompt-processing (pp) and generation (tg) speed of the
// forward pass, like llama-bench: pp = one batch of P tokens from an empty
// cache; tg = N single-token steps from an empty cache. Means over -r runs.
// With --seqs S, tg decodes S sequences together (one token of each per step,
// as the server's batched decode does) and reports the total tokens/s.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "apps/command.h"
#include "base/log.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "kernels/kernels.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace llmchain::apps {
namespace {

struct BenchOptions {
  std::string model, backend = "cpu";
  int32_t threads = 0, n_prompt = 128, n_gen = 32, reps = 3, n_seq = 1;
  bool json = false;
};

struct Stat {
  double mean = 0, stddev = 0;
};

Stat stat_of(const std::vector<double>& v) {
  Stat s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(s.stddev / static_cast<double>(v.size() - 1)) : 0;
  return s;
}

int bench(const BenchOptions& o) {
  init_command_logging("warn");
  auto model = model::Model::load(o.model, *model::backend_named(o.backend).value()).value();
  const auto& hp = model->hparams();
  ThreadPool pool(o.threads);
  const int32_t n_ctx = std::max(o.n_prompt, o.n_gen) + 1;
  model::KvCache kv(hp, o.n_seq, n_ctx);
  model::Context ctx(model, std::max(o.n_prompt, o.n_seq));
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> pick(0, hp.n_vocab - 1);

  // Warm-up: touch every weight page once.
  ctx.decode({{1 % hp.n_vocab, 0, 0, true}}, kv, pool).value();

  std::vector<double> pp, tg;
  for (int r = 0; r < o.reps; ++r) {
    if (o.n_prompt > 0) {
      std::vector<model::BatchToken> batch;
      for (int32_t i = 0; i < o.n_prompt; ++i) batch.push_back({pick(rng), i, 0, i + 1 == o.n_prompt});
      kv.set_used(0, 0);
      Stopwatch sw;
      ctx.decode(batch, kv, pool).value();
      pp.push_back(o.n_prompt / sw.seconds());
    }
    if (o.n_gen > 0) {
      for (int32_t q = 0; q < o.n_seq; ++q) kv.set_used(q, 0);
      std::vector<model::BatchToken> step(o.n_seq);
      Stopwatch sw;
      for (int32_t i = 0; i < o.n_gen; ++i) {
        for (int32_t q = 0; q < o.n_seq; ++q) step[q] = {pick(rng), i, q, true};
        ctx.decode(step, kv, pool).value();
      }
      tg.push_back(static_cast<double>(o.n_gen) * o.n_seq / sw.seconds());
    }
  }
  Stat spp = stat_of(pp), stg = stat_of(tg);
  const double gib = static_cast<double>(model->weight_bytes()) / (1024.0 * 1024 * 1024);
  const double bytes_tok = static_cast<double>(model->bytes_per_token());
  if (o.json) {
    nlohmann::json j = {{"model", o.model},
                        {"threads", pool.size()},
                        {"isa", kernels::isa_name(kernels::active_isa())},
                        {"weights_gib", gib},
                        {"n_prompt", o.n_prompt},
                        {"n_gen", o.n_gen},
                        {"n_seq", o.n_seq},
                        {"repetitions", o.reps},
                        {"pp_tokens_per_s", spp.mean},
                        {"pp_stddev", spp.stddev},
                        {"tg_tokens_per_s", stg.mean},
                        {"tg_stddev", stg.stddev},
                        {"tg_weight_gb_per_s", stg.mean * bytes_tok / 1e9}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("| model | size | threads | isa | test | t/s |\n| --- | --- | --- | --- | --- | --- |\n");
    if (o.n_prompt > 0)
      std::printf("| %s | %.2f GiB | %d | %s | pp%d | %.2f ± %.2f |\n", o.model.c_str(), gib, pool.size(),
                  kernels::isa_name(kernels::active_isa()), o.n_prompt, spp.mean, spp.stddev);
    if (o.n_gen > 0 && o.n_seq == 1)
      std::printf("| %s | %.2f GiB | %d | %s | tg%d | %.2f ± %.2f (weights read at %.1f GB/s) |\n", o.model.c_str(),
                  gib, pool.size(), kernels::isa_name(kernels::active_isa()), o.n_gen, stg.mean, stg.stddev,
                  stg.mean * bytes_tok / 1e9);
    if (o.n_gen > 0 && o.n_seq > 1)
      std::printf("| %s | %.2f GiB | %d | %s | tg%d x%d seqs | %.2f ± %.2f (total) |\n", o.model.c_str(), gib,
                  pool.size(), kernels::isa_name(kernels::active_isa()), o.n_gen, o.n_seq, stg.mean, stg.stddev);
  }
  return 0;
}

LLMC_REGISTER_COMMAND(bench, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<BenchOptions>();
  auto* sub = app.add_subcommand("bench", "Measure prompt processing (pp) and generation (tg) speed");
  sub->add_option("-m,--model", o->model, "GGUF model file")->required();
  add_backend_option(sub, o->backend);
  sub->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  sub->add_option("-p,--n-prompt", o->n_prompt, "prompt tokens for pp (0: skip)")->check(CLI::NonNegativeNumber);
  sub->add_option("-n,--n-gen", o->n_gen, "generated tokens for tg (0: skip)")->check(CLI::NonNegativeNumber);
  sub->add_option("-r,--repetitions", o->reps, "repetitions")->check(CLI::PositiveNumber);
  sub->add_option("-s,--seqs", o->n_seq, "sequences decoded together in tg (batched decode)")
      ->check(CLI::Range(1, 256));
  sub->add_flag("--json", o->json, "print one JSON object");
  return {sub, [o] { return bench(*o); }};
});

}  // namespace
}  // namespace llmchain::apps
