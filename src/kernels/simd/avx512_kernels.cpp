// AVX-512 kernel table (F/BW/VL/DQ/VNNI; BF16 weights use AVX512-BF16 when the CPU has it).
#include "kernels/matmul_kernel.h"
#include "kernels/simd/x86_kernels.h"

namespace llmchain::kernels {

const MatmulKernel* avx512_kernel(GgmlType t) {
  using G = GgmlType;
  switch (t) {
    case G::F32: return &x86::kAvx512F32;
    case G::F16: return &x86::kAvx512F16;
    case G::BF16: {
      static const bool has_bf16 = __builtin_cpu_supports("avx512bf16");
      return has_bf16 ? &x86::kAvx512BF16 : nullptr;
    }
    case G::Q4_0: return &x86::kAvx512Q4_0;
    case G::Q4_1: return &x86::kAvx512Q4_1;
    case G::Q5_0: return &x86::kAvx512Q5_0;
    case G::Q5_1: return &x86::kAvx512Q5_1;
    case G::Q8_0: return &x86::kAvx512Q8_0;
    case G::Q4_K: return &x86::kAvx512Q4_K;
    case G::Q5_K: return &x86::kAvx512Q5_K;
    case G::Q6_K: return &x86::kAvx512Q6_K;
    default: return nullptr;
  }
}

}  // namespace llmchain::kernels
