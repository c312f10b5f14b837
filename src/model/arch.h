#pragma once
// Per-architecture facts, as data. Adding an architecture means one small
// arch_<name>.cpp returning its ArchSpec, listed in arch.cpp; the forward
// pass is shared.
#include <string>
#include <string_view>
#include <vector>

#include "kernels/ops.h"

namespace llmchain::model {

struct ArchSpec {
  std::string name;                    // general.architecture value
  kernels::ops::RopeOrder rope_order;  // llama: pairs; qwen2: halves
  bool qkv_bias = false;               // attn_q/k/v.bias tensors present
  bool output_optional = true;         // output.weight may be absent (tied to token_embd)
  bool qk_norm = false;                // attn_q_norm / attn_k_norm: RMS norm of each head before RoPE
  bool fused_gate_up = false;          // ffn_up holds the gate's rows, then the up rows (2 n_ff); no ffn_gate
  // Gemma: token embeddings scaled by sqrt(n_embd), RMS norms after attention and after the FFN
  // (attn_post_norm, ffn_post_norm) before each residual add, and GeGLU instead of SwiGLU.
  bool gemma = false;
  // Sliding-window layers: il % swa_pattern < swa_pattern - 1 (0: none); the default where the file
  // has no attention.sliding_window_pattern.
  int swa_pattern = 0;
  // BERT-family encoders (model/encoder.h): bidirectional attention over one sequence, LayerNorm
  // with bias after attention and after the FFN, token-type and (abs_pos) position embeddings;
  // they embed and rerank, they do not generate.
  bool encoder = false;
  bool abs_pos = false;   // position_embd rows added to the input (bert); else RoPE (nomic-bert)
  bool gelu_ffn = false;  // FFN up -> GELU -> down without a gate (bert); else SwiGLU
};

const ArchSpec* find_arch(std::string_view name);
std::vector<std::string> supported_archs();

}  // namespace llmchain::model
