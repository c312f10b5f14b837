// Qwen2 / Qwen2.5: the llama block with biases on Q, K and V, and NeoX-order RoPE.
#include "model/arch.h"

namespace llmchain::model {

ArchSpec qwen2_arch() { return {"qwen2", kernels::ops::RopeOrder::kNeox, true, true}; }

}  // namespace llmchain::model
