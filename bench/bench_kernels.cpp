// Kernel benchmark: matvec (T=1) weight-read bandwidth and GEMM (T=128) throughput on the
// TinyLlama-1.1B matrix shapes, next to a measured memory-read bandwidth, plus whole-model
// estimates (sum over the 22 layers' matrices and the output matrix; no attention or norms).
//
//   bench_kernels [--threads N] [--types q4_0,q8_0,...] [--tokens T] [--isa scalar|avx2|avx512] [--clock wall|cpu]
//   [--packed 0|1]
//   [--hot 1]
//
// --clock cpu divides process CPU time by the thread count instead of using wall time: on a
// shared, oversubscribed machine this approximates the speed on idle cores (use with --threads 1;
// pool workers spin while idle, which inflates CPU time for more threads).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "base/timer.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"

using namespace llmchain;
using namespace llmchain::kernels;

namespace {

bool g_cpu_clock = false;
bool g_hot = false;  // --hot: one weight copy (cache resident), to see the compute ceiling
int g_threads = 2;

double now() {
  if (!g_cpu_clock) return now_seconds();
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (ts.tv_sec + ts.tv_nsec * 1e-9) / g_threads;
}

struct Shape {
  int64_t N, K;
  int per_model;  // occurrences in TinyLlama-1.1B (22 layers + output)
  const char* what;
};
constexpr Shape kShapes[] = {
    {2048, 2048, 44, "attn q,o"}, {256, 2048, 44, "attn k,v"}, {5632, 2048, 44, "ffn gate,up"},
    {2048, 5632, 22, "ffn down"}, {32000, 2048, 1, "output"},
};

double read_bandwidth_gbs(ThreadPool& pool) {
  const size_t bytes = size_t{1} << 30;
  std::vector<uint64_t> buf(bytes / 8);
  for (size_t i = 0; i < buf.size(); i += 512) buf[i] = i;
  std::vector<uint64_t> sums(pool.size() * 8);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    Stopwatch sw;
    pool.parallel_for(static_cast<int64_t>(buf.size()), [&](int64_t b, int64_t e, int ith) {
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t i = b; i + 4 <= e; i += 4) {
        s0 += buf[i];
        s1 += buf[i + 1];
        s2 += buf[i + 2];
        s3 += buf[i + 3];
      }
      sums[ith * 8] = s0 + s1 + s2 + s3;
    });
    best = std::min(best, sw.seconds());
  }
  return bytes / best / 1e9;
}

bool g_packed = true;

struct Weights {
  std::vector<std::vector<uint8_t>> copies;            // enough copies to defeat the caches
  std::vector<std::unique_ptr<PackedWeights>> packed;  // the same, repacked (as the model loader does)
  size_t bytes_per_copy = 0;
};

Weights make_weights(GgmlType t, const Shape& s) {
  Weights w;
  const size_t row = ggml_row_bytes(t, s.K);
  w.bytes_per_copy = row * s.N;
  // A few distinct quantized rows, repeated: kernel speed does not depend on the values.
  const int distinct = 16;
  std::vector<uint8_t> rows(row * distinct);
  std::vector<float> x(s.K);
  uint32_t seed = 12345;
  for (int r = 0; r < distinct; ++r) {
    for (auto& v : x) {
      seed = seed * 1664525u + 1013904223u;
      v = (static_cast<int>(seed >> 9) % 2001 - 1000) / 1000.0f;
    }
    quantize_row(t, x.data(), rows.data() + r * row, s.K);
  }
  const size_t n_copies = std::max<size_t>(1, (size_t{512} << 20) / w.bytes_per_copy);
  w.copies.resize(g_hot ? 1 : std::min<size_t>(n_copies, 64));
  for (auto& c : w.copies) {
    c.resize(w.bytes_per_copy);
    for (int64_t r = 0; r < s.N; ++r) std::memcpy(c.data() + r * row, rows.data() + (r % distinct) * row, row);
  }
  if (g_packed && PackedWeights::supported(t, s.N, s.K) && active_isa() == Isa::kAvx512) {
    for (auto& c : w.copies) w.packed.push_back(PackedWeights::pack(t, c.data(), s.N, s.K));
    w.copies.clear();
    w.copies.shrink_to_fit();
  }
  return w;
}

// Seconds per call, best of several passes over the weight copies (each pass reads from DRAM).
double time_matmul(GgmlType t, const Weights& w, const Shape& s, int64_t T, ThreadPool& pool) {
  std::vector<float> X(T * s.K), Y(T * s.N);
  for (size_t i = 0; i < X.size(); ++i) X[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
  auto call = [&](size_t i) {
    if (!w.packed.empty()) {
      const PackedProduct p{w.packed[i % w.packed.size()].get(), Y.data(), s.N};
      matmul_packed(&p, 1, X.data(), T, pool);
    } else {
      matmul(t, w.copies[i % w.copies.size()].data(), s.N, s.K, X.data(), T, Y.data(), s.N, pool);
    }
  };
  call(0);  // warm-up, scratch
  const double flops = 2.0 * s.N * s.K * T;
  const int calls = static_cast<int>(std::clamp(2e9 / flops, 4.0, 400.0));
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const double t0 = now();
    for (int i = 0; i < calls; ++i) call(static_cast<size_t>(i));
    best = std::min(best, (now() - t0) / calls);
  }
  return best;
}

std::vector<GgmlType> parse_types(const std::string& list) {
  std::vector<GgmlType> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t e = list.find(',', pos);
    if (e == std::string::npos) e = list.size();
    std::string name = list.substr(pos, e - pos);
    for (auto& ch : name) ch = static_cast<char>(std::toupper(ch));
    for (uint32_t id = 0; id < 40; ++id)
      if (name == ggml_type_name(id) && can_matmul(static_cast<GgmlType>(id))) out.push_back(static_cast<GgmlType>(id));
    pos = e + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  int64_t T = 128;
  std::string types = "q4_0,q8_0,q4_k,f16,q4_1,q5_0,q5_1,q5_k,q6_k,bf16,f32";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    if (a == "--types") types = argv[i + 1];
    if (a == "--tokens") T = std::atoll(argv[i + 1]);
    if (a == "--packed") g_packed = std::string(argv[i + 1]) == "1";
    if (a == "--hot") g_hot = std::string(argv[i + 1]) == "1";
    if (a == "--clock") g_cpu_clock = std::string(argv[i + 1]) == "cpu";
    if (a == "--isa") {
      const std::string v = argv[i + 1];
      set_isa_for_testing(v == "scalar" ? Isa::kScalar : v == "avx2" ? Isa::kAvx2 : Isa::kAvx512);
    }
  }
  g_threads = threads;
  ThreadPool pool(threads);
  std::printf("isa=%s threads=%d clock=%s packed=%d\n", isa_name(active_isa()), threads, g_cpu_clock ? "cpu" : "wall",
              g_packed ? 1 : 0);
  std::printf("memory read bandwidth (1 GiB, %d threads): %.1f GB/s\n\n", threads, read_bandwidth_gbs(pool));
  std::printf("%-5s %-12s %6s %6s | %9s %8s | %10s %9s\n", "type", "matrix", "N", "K", "T=1 us", "GB/s", "GEMM ms",
              "GFLOP/s");
  for (GgmlType t : parse_types(types)) {
    double tg_s = 0, pp_s = 0, model_bytes = 0;
    for (const Shape& s : kShapes) {
      const Weights w = make_weights(t, s);
      const double mv = time_matmul(t, w, s, 1, pool);
      const double mm = time_matmul(t, w, s, T, pool);
      std::printf("%-5s %-12s %6lld %6lld | %9.1f %8.1f | %10.2f %9.1f\n", ggml_type_name(uint32_t(t)), s.what,
                  static_cast<long long>(s.N), static_cast<long long>(s.K), mv * 1e6, w.bytes_per_copy / mv / 1e9,
                  mm * 1e3, 2.0 * s.N * s.K * T / mm / 1e9);
      tg_s += mv * s.per_model;
      pp_s += mm * s.per_model;
      model_bytes += static_cast<double>(w.bytes_per_copy) * s.per_model;
    }
    std::printf(
        "%-5s model estimate (matmuls only, %.0f MiB of weights): tg %.1f tok/s (%.1f GB/s), pp%lld %.1f tok/s\n\n",
        ggml_type_name(uint32_t(t)), model_bytes / (1 << 20), 1.0 / tg_s, model_bytes / tg_s / 1e9,
        static_cast<long long>(T), T / pp_s);
  }
  return 0;
}
