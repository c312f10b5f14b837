// Gemma 3 (text): embeddings scaled by sqrt(n_embd), per-head Q/K norms, post-attention and
// post-FFN norms, GeGLU, NeoX RoPE, and sliding-window attention on five layers of six
// (attention.sliding_window, attention.sliding_window_pattern) whose RoPE base is
// rope.freq_base_swa (10000) while the global layers use rope.freq_base and its scaling.
#include "model/arch.h"

namespace llmchain::model {

ArchSpec gemma3_arch() {
  ArchSpec a{"gemma3", kernels::ops::RopeOrder::kNeox, false, true, true};
  a.gemma = true;
  a.swa_pattern = 6;
  return a;
}

}  // namespace llmchain::model
