// Llama 2/3, Mistral, TinyLlama and llama2.c conversions: RMSNorm, GQA,
// SwiGLU, RoPE on adjacent pairs (the GGUF converter permutes Q/K for it).
#include "model/arch.h"

namespace llmchain::model {

ArchSpec llama_arch() { return {"llama", kernels::ops::RopeOrder::kNorm, false, true}; }

}  // namespace llmchain::model
