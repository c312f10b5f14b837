// AVX-512 (F/BW/VL/DQ/VNNI, BF16 where present) kernels.
#include "kernels/matmul_kernel.h"

namespace llmchain::kernels {
const MatmulKernel* avx512_kernel(GgmlType) { return nullptr; }
}  // namespace llmchain::kernels
