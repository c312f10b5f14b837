#pragma once
// Kernel objects defined by the x86 SIMD translation units (extern: namespace-scope consts are
// otherwise internal).
#include "kernels/matmul_kernel.h"

namespace llmchain::kernels::x86 {
extern const MatmulKernel kAvx512Q4_0, kAvx512Q4_1, kAvx512Q5_0, kAvx512Q5_1, kAvx512Q8_0;
extern const MatmulKernel kAvx512Q4_K, kAvx512Q5_K, kAvx512Q6_K;
extern const MatmulKernel kAvx512F32, kAvx512F16, kAvx512BF16;
extern const MatmulKernel kAvx2Q4_0, kAvx2Q4_1, kAvx2Q5_0, kAvx2Q5_1, kAvx2Q8_0;
extern const MatmulKernel kAvx2Q2_K, kAvx2Q3_K, kAvx2Q4_K, kAvx2Q5_K, kAvx2Q6_K, kAvx2IQ4_XS;
extern const MatmulKernel kAvx2F32, kAvx2F16, kAvx2BF16;
}  // namespace llmchain::kernels::x86
