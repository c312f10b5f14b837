// Quantization speed (issue 8): converts a TinyLlama-1.1B-shaped F16 GGUF to Q4_K_M with
// model::quantize_file (the code behind `llmchain quantize`) and prints input MB, seconds and MB/s.
//
//   bench_quantize [--input models/tinyllama-f16.gguf] [--type q4_k_m] [--threads 2] [--reps 1]
//                  [--output PATH] [--keep]
//
// Make the input once (random weights, TinyLlama-1.1B shapes, 2.05 GiB):
//   ./build/apps/llmchain gen-model --shape tinyllama --type f16
//       --vocab ../shared/testdata/tokenizer/ggml-vocab-llama-spm.gguf -o models/tinyllama-f16.gguf
// (scripts/bench_quantize.sh does that, then runs this.)
//
// MB = 10^6 bytes of tensor data read (the F16 weights); seconds are wall clock for the whole
// file (read through mmap, quantize, write), so a cold page cache or a busy machine shows up. The
// process CPU time is printed beside it: on a shared machine CPU s / threads approximates the
// wall time on idle cores (pool workers that spin while waiting make it an over-estimate).
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/timer.h"
#include "kernels/kernels.h"
#include "model/quantize.h"

using namespace llmchain;

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_quantize [--input F16.gguf] [--type q4_k_m] [--threads 2] [--reps 1] [--output PATH] "
               "[--keep]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string input = "models/tinyllama-f16.gguf", type = "q4_k_m", output;
  int threads = 2, reps = 1;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_val = i + 1 < argc;
    if (a == "--keep") {
      keep = true;
    } else if (a == "--input" && has_val) {
      input = argv[++i];
    } else if (a == "--type" && has_val) {
      type = argv[++i];
    } else if (a == "--output" && has_val) {
      output = argv[++i];
    } else if (a == "--threads" && has_val) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--reps" && has_val) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      return usage();
    }
  }
  if (!std::filesystem::exists(input)) {
    std::fprintf(stderr,
                 "error: %s not found; make it with\n"
                 "  ./build/apps/llmchain gen-model --shape tinyllama --type f16 "
                 "--vocab ../shared/testdata/tokenizer/ggml-vocab-llama-spm.gguf -o %s\n",
                 input.c_str(), input.c_str());
    return 1;
  }
  if (output.empty()) {
    std::filesystem::path p(input);
    output = (p.parent_path() / (p.stem().string() + ".bench-" + type + ".gguf")).string();
  }
  const double file_mb = static_cast<double>(std::filesystem::file_size(input)) / 1e6;

  model::QuantizeOptions qo;
  qo.threads = threads;
  std::vector<double> wall, cpu;
  model::QuantizeReport rep{};
  for (int r = 0; r < reps; ++r) {
    const double c0 = cpu_seconds();
    Stopwatch sw;
    auto res = model::quantize_file(input, output, type, qo);
    const double s = sw.seconds();
    if (!res) {
      std::fprintf(stderr, "error: %s\n", res.error().what());
      return 1;
    }
    wall.push_back(s);
    cpu.push_back(cpu_seconds() - c0);
    rep = *res;
  }
  if (!keep) std::filesystem::remove(output);

  double mean = 0, cpu_mean = 0;
  for (double s : wall) mean += s;
  for (double s : cpu) cpu_mean += s;
  mean /= static_cast<double>(wall.size());
  cpu_mean /= static_cast<double>(cpu.size());
  const double best = *std::min_element(wall.begin(), wall.end());
  const double in_mb = static_cast<double>(rep.in_bytes) / 1e6;
  const double out_mb = static_cast<double>(rep.out_bytes) / 1e6;

  std::printf("quantize %s -> %s: isa=%s threads=%d reps=%d\n", input.c_str(), type.c_str(),
              kernels::isa_name(kernels::active_isa()), threads, reps);
  std::printf("tensors: %d (%d quantized), input %.1f MB of tensor data (file %.1f MB), output %.1f MB\n",
              rep.n_tensors, rep.n_quantized, in_mb, file_mb, out_mb);
  std::printf("time: %.2f s mean, %.2f s best (wall); CPU %.2f s (%.2f s per thread)\n", mean, best, cpu_mean,
              cpu_mean / std::max(1, threads));
  std::printf("speed: %.1f MB/s of input tensor data (best %.1f MB/s); from CPU time / threads: %.1f MB/s\n",
              in_mb / mean, in_mb / best, in_mb / (cpu_mean / std::max(1, threads)));
  return 0;
}
