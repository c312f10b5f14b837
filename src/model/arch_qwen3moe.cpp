// Qwen3-MoE: the Qwen3 block (per-head Q/K norms, NeoX RoPE) with a mixture of experts in place
// of the FFN (expert_count, expert_used_count, expert_feed_forward_length; no shared expert).
#include "model/arch.h"

namespace llmchain::model {

ArchSpec qwen3moe_arch() { return {"qwen3moe", kernels::ops::RopeOrder::kNeox, false, true, true}; }

}  // namespace llmchain::model
