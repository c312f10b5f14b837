// Run-time CPU feature detection and ISA selection.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/matmul_kernel.h"

namespace llmchain::kernels {
namespace {

Isa detect_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vnni");
  if (avx512) return Isa::kAvx512;
  if (avx2) return Isa::kAvx2;
#endif
  return Isa::kScalar;
}

Isa initial_isa() {
  Isa isa = best_supported_isa();
  // LLMCHAIN_ISA caps the path (scalar|avx2|avx512), e.g. to compare paths in production.
  if (const char* env = std::getenv("LLMCHAIN_ISA")) {
    Isa want = isa;
    if (!std::strcmp(env, "scalar")) want = Isa::kScalar;
    if (!std::strcmp(env, "avx2")) want = Isa::kAvx2;
    if (static_cast<int>(want) < static_cast<int>(isa)) isa = want;
  }
  return isa;
}

std::atomic<Isa>& isa_state() {
  static std::atomic<Isa> state{initial_isa()};
  return state;
}

}  // namespace

Isa best_supported_isa() {
  static const Isa best = detect_isa();
  return best;
}

Isa active_isa() { return isa_state().load(std::memory_order_relaxed); }

void set_isa_for_testing(Isa isa) {
  const Isa best = best_supported_isa();
  if (static_cast<int>(isa) > static_cast<int>(best)) isa = best;
  isa_state().store(isa, std::memory_order_relaxed);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

#if !(defined(__x86_64__) || defined(__i386__))
const MatmulKernel* avx2_kernel(GgmlType) { return nullptr; }
const MatmulKernel* avx512_kernel(GgmlType) { return nullptr; }
#endif

}  // namespace llmchain::kernels
