// AVX2 + FMA + F16C kernels (x86-64-v3).
#include "kernels/matmul_kernel.h"

namespace llmchain::kernels {
const MatmulKernel* avx2_kernel(GgmlType) { return nullptr; }
}  // namespace llmchain::kernels
