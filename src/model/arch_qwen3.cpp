// Qwen3 (dense): the llama block without biases, an RMS norm over each head of Q and K
// (attn_q_norm / attn_k_norm, before RoPE), NeoX-order RoPE, and a head size from
// attention.key_length that need not be n_embd / n_head.
#include "model/arch.h"

namespace llmchain::model {

ArchSpec qwen3_arch() { return {"qwen3", kernels::ops::RopeOrder::kNeox, false, true, true}; }

}  // namespace llmchain::model
