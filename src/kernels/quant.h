#pragma once
// Per-type scalar row functions (reference implementations) and the type table.
#include <cstdint>

#include "base/ggml_types.h"

namespace llmchain::kernels {

using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);
// Scalar dot product of one weight row (n elements) with one activation row in act_type's format.
using VecDotFn = float (*)(int64_t n, const void* w, const void* act);

struct TypeTraits {
  GgmlType type;
  int64_t block;
  DequantizeFn dequantize;
  QuantizeFn quantize;  // nullptr when we cannot produce this type
  GgmlType act_type;    // format the activations are quantized to for matmul
  VecDotFn vec_dot;     // nullptr when matmul is unsupported
};

// nullptr for types without kernels.
const TypeTraits* type_traits(GgmlType t);

#define LLMC_DECLARE_ROW_FNS(name)                                    \
  void dequantize_row_##name(const void* src, float* dst, int64_t n); \
  void quantize_row_##name(const float* src, void* dst, int64_t n)

LLMC_DECLARE_ROW_FNS(f32);
LLMC_DECLARE_ROW_FNS(f16);
LLMC_DECLARE_ROW_FNS(bf16);
LLMC_DECLARE_ROW_FNS(q4_0);
LLMC_DECLARE_ROW_FNS(q4_1);
LLMC_DECLARE_ROW_FNS(q5_0);
LLMC_DECLARE_ROW_FNS(q5_1);
LLMC_DECLARE_ROW_FNS(q8_0);
LLMC_DECLARE_ROW_FNS(q8_1);
LLMC_DECLARE_ROW_FNS(q4_k);
LLMC_DECLARE_ROW_FNS(q5_k);
LLMC_DECLARE_ROW_FNS(q6_k);
LLMC_DECLARE_ROW_FNS(q8_k);
#undef LLMC_DECLARE_ROW_FNS
// Read, not written (quant_low_bit.cpp).
void dequantize_row_q2_k(const void* src, float* dst, int64_t n);
void dequantize_row_q3_k(const void* src, float* dst, int64_t n);
void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n);
void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n);

float vec_dot_f32(int64_t n, const void* w, const void* act);
float vec_dot_f16(int64_t n, const void* w, const void* act);
float vec_dot_bf16(int64_t n, const void* w, const void* act);
float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* act);
float vec_dot_q4_1_q8_1(int64_t n, const void* w, const void* act);
float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* act);
float vec_dot_q5_1_q8_1(int64_t n, const void* w, const void* act);
float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* act);
float vec_dot_q4_k_q8_k(int64_t n, const void* w, const void* act);
float vec_dot_q5_k_q8_k(int64_t n, const void* w, const void* act);
float vec_dot_q6_k_q8_k(int64_t n, const void* w, const void* act);
float vec_dot_q2_k_q8_k(int64_t n, const void* w, const void* act);
// Q3_K's 16 scales (6 bits each, stored 4 + 2 bits over 12 bytes), unpacked to -32..31.
void unpack_q3_k_scales(const uint8_t* packed, int8_t* out);
float vec_dot_q3_k_q8_k(int64_t n, const void* w, const void* act);
float vec_dot_iq4_nl_q8_0(int64_t n, const void* w, const void* act);
float vec_dot_iq4_xs_q8_k(int64_t n, const void* w, const void* act);

}  // namespace llmchain::kernels
