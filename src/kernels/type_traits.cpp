#include <cstring>

#include "base/error.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"

namespace llmchain::kernels {
namespace {

using T = GgmlType;
constexpr TypeTraits kTraits[] = {
    {T::F32, 1, dequantize_row_f32, quantize_row_f32, T::F32, vec_dot_f32},
    {T::F16, 1, dequantize_row_f16, quantize_row_f16, T::F16, vec_dot_f16},
    {T::BF16, 1, dequantize_row_bf16, quantize_row_bf16, T::BF16, vec_dot_bf16},
    {T::Q4_0, 32, dequantize_row_q4_0, quantize_row_q4_0, T::Q8_0, vec_dot_q4_0_q8_0},
    {T::Q4_1, 32, dequantize_row_q4_1, quantize_row_q4_1, T::Q8_1, vec_dot_q4_1_q8_1},
    {T::Q5_0, 32, dequantize_row_q5_0, quantize_row_q5_0, T::Q8_0, vec_dot_q5_0_q8_0},
    {T::Q5_1, 32, dequantize_row_q5_1, quantize_row_q5_1, T::Q8_1, vec_dot_q5_1_q8_1},
    {T::Q8_0, 32, dequantize_row_q8_0, quantize_row_q8_0, T::Q8_0, vec_dot_q8_0_q8_0},
    {T::Q8_1, 32, dequantize_row_q8_1, quantize_row_q8_1, T::Q8_1, nullptr},
    {T::Q4_K, 256, dequantize_row_q4_k, quantize_row_q4_k, T::Q8_K, vec_dot_q4_k_q8_k},
    {T::Q5_K, 256, dequantize_row_q5_k, quantize_row_q5_k, T::Q8_K, vec_dot_q5_k_q8_k},
    {T::Q6_K, 256, dequantize_row_q6_k, quantize_row_q6_k, T::Q8_K, vec_dot_q6_k_q8_k},
    {T::Q8_K, 256, dequantize_row_q8_k, quantize_row_q8_k, T::Q8_K, nullptr},
    {T::Q2_K, 256, dequantize_row_q2_k, nullptr, T::Q8_K, vec_dot_q2_k_q8_k},
    {T::Q3_K, 256, dequantize_row_q3_k, nullptr, T::Q8_K, vec_dot_q3_k_q8_k},
    {T::IQ4_NL, 32, dequantize_row_iq4_nl, nullptr, T::Q8_0, vec_dot_iq4_nl_q8_0},
    {T::IQ4_XS, 256, dequantize_row_iq4_xs, nullptr, T::Q8_K, vec_dot_iq4_xs_q8_k},
};

}  // namespace

const TypeTraits* type_traits(GgmlType t) {
  for (const auto& e : kTraits)
    if (e.type == t) return &e;
  return nullptr;
}

void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n) {
  const TypeTraits* tt = type_traits(t);
  if (!tt || n % tt->block != 0) fail(ErrorCode::kInvalidArgument, "dequantize_row: bad type or length");
  tt->dequantize(src, dst, n);
}

void quantize_row(GgmlType t, const float* src, void* dst, int64_t n) {
  const TypeTraits* tt = type_traits(t);
  if (!tt || !tt->quantize || n % tt->block != 0) fail(ErrorCode::kInvalidArgument, "quantize_row: bad type or length");
  tt->quantize(src, dst, n);
}

bool can_quantize(GgmlType t) {
  const TypeTraits* tt = type_traits(t);
  return tt && tt->quantize;
}

bool can_matmul(GgmlType t) {
  const TypeTraits* tt = type_traits(t);
  return tt && tt->vec_dot;
}

}  // namespace llmchain::kernels
