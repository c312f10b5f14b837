// AVX2 + FMA + F16C kernel table (x86-64-v3).
#include "kernels/matmul_kernel.h"
#include "kernels/simd/x86_kernels.h"

namespace llmchain::kernels {

const MatmulKernel* avx2_kernel(GgmlType t) {
  using G = GgmlType;
  switch (t) {
    case G::F32: return &x86::kAvx2F32;
    case G::F16: return &x86::kAvx2F16;
    case G::BF16: return &x86::kAvx2BF16;
    case G::Q4_0: return &x86::kAvx2Q4_0;
    case G::Q4_1: return &x86::kAvx2Q4_1;
    case G::Q5_0: return &x86::kAvx2Q5_0;
    case G::Q5_1: return &x86::kAvx2Q5_1;
    case G::Q8_0: return &x86::kAvx2Q8_0;
    case G::Q4_K: return &x86::kAvx2Q4_K;
    case G::Q5_K: return &x86::kAvx2Q5_K;
    case G::Q6_K: return &x86::kAvx2Q6_K;
    case G::IQ4_XS: return &x86::kAvx2IQ4_XS;
    case G::Q2_K: return &x86::kAvx2Q2_K;
    case G::Q3_K: return &x86::kAvx2Q3_K;
    default: return nullptr;
  }
}

}  // namespace llmchain::kernels
