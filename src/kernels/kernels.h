#pragma once
// Tensor types, quantization and matrix multiplication for ggml-layout weights.
// Every fast path has a scalar twin (matmul_reference and the kScalar ISA);
// the SIMD path is chosen once at start-up from the CPU's features.
#include <cstdint>

#include "base/ggml_types.h"
#include "base/thread_pool.h"

namespace llmchain::kernels {

enum class Isa { kScalar, kAvx2, kAvx512 };

Isa active_isa();               // detected once at start-up (LLMCHAIN_ISA=scalar|avx2|avx512 caps it)
void set_isa_for_testing(Isa);  // tests force a path; clamps to what the CPU supports
const char* isa_name(Isa);
Isa best_supported_isa();  // what this CPU can run

// Row conversion (n elements, n a multiple of the block size).
void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n);
// Reference quantizers, bit-identical to ggml's quantize_row_*_ref (Q8_0, Q8_1, Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_K, Q4_K, Q5_K, Q6_K); F16/BF16 by round-to-nearest-even; F32 is a copy.
void quantize_row(GgmlType t, const float* src, void* dst, int64_t n);
bool can_quantize(GgmlType t);
// True when matmul supports weights of type t.
bool can_matmul(GgmlType t);

// Y[t*ldy + r] = sum_k W[r][k] * X[t*K + k]  for r < N (weight rows), t < T (tokens).
// W: N rows of K elements of type wt, each row ggml_row_bytes(wt, K) bytes. X: T x K floats, row-major.
// Activations are quantized like llama.cpp's CPU backend (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1,
// Q8_K for K-quants, F16 for F16, BF16 for BF16). Multi-threaded over pool (all threads participate);
// scratch is kept per calling thread and reused, so steady-state calls do not allocate.
// Must not be called from inside a job of the same pool (run() is not reentrant); Y must not alias X
// or W. Throws llmchain::Error(kUnsupported) when wt has no kernel: check can_matmul() first.
void matmul(GgmlType wt, const void* W, int64_t N, int64_t K, const float* X, int64_t T, float* Y, int64_t ldy,
            ThreadPool& pool);

// The same on the kernels of `isa` at most (Isa::kScalar: the scalar twins, as the reference backend).
void matmul(GgmlType wt, const void* W, int64_t N, int64_t K, const float* X, int64_t T, float* Y, int64_t ldy,
            ThreadPool& pool, Isa isa);

// Scalar reference of the same (dequantize + double accumulation), single-threaded: the test oracle.
void matmul_reference(GgmlType wt, const void* W, int64_t N, int64_t K, const float* X, int64_t T, float* Y,
                      int64_t ldy);

}  // namespace llmchain::kernels
