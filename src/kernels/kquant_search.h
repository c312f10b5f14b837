#pragma once
// ggml's scale searches used by the K-quant reference quantizers.
#include <cstdint>

namespace llmchain::kernels {

// Affine fit x ~ scale * L + min with L in [0, nmax] (make_qkx2_quants). Returns scale; *neg_min = -min.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* neg_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad);
// Symmetric fit x ~ scale * (L - nmax) with L in [0, 2*nmax) (make_qx_quants, weights = x^2 for rmse_type 1).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type);

}  // namespace llmchain::kernels
