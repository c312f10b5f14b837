#pragma once
// Internal interface between the matmul driver and the per-ISA kernels.
//
// A kernel packs each activation row (K floats) into its own format once per call, then computes
// tiles of up to kTileRows weight rows x kTileCols tokens, reusing every loaded weight block across
// the tile's tokens and every activation block across its rows.
#include <cstddef>
#include <cstdint>

#include "base/ggml_types.h"

namespace llmchain::kernels {

constexpr int kTileRows = 4;
constexpr int kTileCols = 4;

// Y[c*ldy + r] = dot(W row r, packed X row c) for r < nr <= kTileRows, c < nc <= kTileCols.
// W rows are w_stride bytes apart, packed X rows x_stride bytes apart.
using TileFn = void (*)(int64_t K, const uint8_t* W, size_t w_stride, int nr, const uint8_t* X, size_t x_stride, int nc,
                        float* Y, int64_t ldy);

struct MatmulKernel {
  int64_t k_multiple;  // K must be a multiple of this for the kernel to apply
  // > 0: the driver may split K into chunks of this many elements (a multiple of k_multiple) so a
  // tile's weights and activations stay in L1. Requires a linear activation layout: the packed
  // bytes of elements [k0, k1) start at act_row_bytes(k0).
  int64_t k_block;
  size_t (*act_row_bytes)(int64_t K);
  void (*pack_act)(const float* x, int64_t K, void* dst);
  TileFn tile;
};

// nullptr when the ISA has no kernel for the type (or the CPU lacks a needed extension).
const MatmulKernel* scalar_kernel(GgmlType t);
const MatmulKernel* avx2_kernel(GgmlType t);
const MatmulKernel* avx512_kernel(GgmlType t);

// Runs tile_rc<R, C> over an nr x nc tile using only the 4x4, 4x1, 1x4 and 1x1 instantiations.
#define LLMC_DEFINE_TILE_DISPATCH(name, tile_rc)                                                             \
  void name(int64_t K, const uint8_t* W, size_t ws, int nr, const uint8_t* X, size_t xs, int nc, float* Y,   \
            int64_t ldy) {                                                                                   \
    if (nr == 4) {                                                                                           \
      if (nc == 4) return tile_rc<4, 4>(K, W, ws, X, xs, Y, ldy);                                            \
      for (int c = 0; c < nc; ++c) tile_rc<4, 1>(K, W, ws, X + c * xs, xs, Y + c * ldy, ldy);                \
      return;                                                                                                \
    }                                                                                                        \
    for (int r = 0; r < nr; ++r) {                                                                           \
      if (nc == 4) {                                                                                         \
        tile_rc<1, 4>(K, W + r * ws, ws, X, xs, Y + r, ldy);                                                 \
      } else {                                                                                               \
        for (int c = 0; c < nc; ++c) tile_rc<1, 1>(K, W + r * ws, ws, X + c * xs, xs, Y + c * ldy + r, ldy); \
      }                                                                                                      \
    }                                                                                                        \
  }

}  // namespace llmchain::kernels
