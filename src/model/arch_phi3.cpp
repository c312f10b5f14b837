// Phi-3 / Phi-3.5 / Phi-4-mini: the llama block with Q, K and V in one matrix (attn_qkv, or the
// three apart), gate and up in one (ffn_up: the gate's rows first), and NeoX-order RoPE. LongRoPE
// files (rope_factors_short / _long) run with the short factors: contexts up to the original
// training context (rope.scaling.original_context_length) are exact, longer ones are not scaled.
// Phi-3's sliding window (attention.sliding_window) is not applied, as in llama.cpp.
#include "model/arch.h"

namespace llmchain::model {

ArchSpec phi3_arch() {
  ArchSpec a{"phi3", kernels::ops::RopeOrder::kNeox, false, true};
  a.fused_gate_up = true;
  return a;
}

}  // namespace llmchain::model
