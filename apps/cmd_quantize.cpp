// llmchain quantize: converts a GGUF model's weight matrices to another type
// (llama-quantize), including llama.cpp's Q4_K_M / Q5_K_M mixes.
#include <cstdio>

#include "apps/command.h"
#include "apps/progress_bar.h"
#include "base/log.h"
#include "base/timer.h"
#include "model/quantize.h"

namespace llmchain::apps {
namespace {

struct QuantizeCmdOptions {
  std::string in, out, type;
  int32_t threads = 0;
};

int run_quantize(const QuantizeCmdOptions& o) {
  init_command_logging("warn");
  if (auto t = model::parse_quant_target(o.type); !t) usage_error("{}", t.error().message());
  ProgressBar bar("quantize");
  model::QuantizeOptions qo;
  qo.threads = o.threads;
  qo.progress = [&](int64_t done, int64_t total) { bar.update(done, total); };
  Stopwatch sw;
  auto rep = model::quantize_file(o.in, o.out, o.type, qo);
  bar.finish();
  if (!rep) {
    std::fprintf(stderr, "error: %s\n", rep.error().what());
    return 1;
  }
  for (const auto& w : rep->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (rep->n_fallback > 0)
    std::fprintf(stderr, "note: %d tensor(s) have rows not divisible by 256: a legacy type was used instead\n",
                 rep->n_fallback);
  std::fprintf(stderr, "quantized %d of %d tensors: %.2f MiB -> %.2f MiB in %.2f s; wrote %s\n", rep->n_quantized,
               rep->n_tensors, static_cast<double>(rep->in_bytes) / (1 << 20),
               static_cast<double>(rep->out_bytes) / (1 << 20), sw.seconds(), o.out.c_str());
  return 0;
}

LLMC_REGISTER_COMMAND(quantize, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<QuantizeCmdOptions>();
  auto* sub = app.add_subcommand("quantize", "Convert a GGUF model's weights to another type (Q4_K_M, Q8_0, F16...)");
  sub->add_option("input", o->in, "input GGUF")->required();
  sub->add_option("output", o->out, "output GGUF")->required();
  std::string types;
  for (const auto& n : model::quant_target_names()) types += (types.empty() ? "" : " | ") + n;
  sub->add_option("type", o->type, types)->required();
  sub->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  return {sub, [o] { return run_quantize(*o); }};
});

}  // namespace
}  // namespace llmchain::apps
