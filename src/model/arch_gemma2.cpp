// Gemma 2: as Gemma 3 (embedding scale, post-attention and post-FFN norms, GeGLU, queries scaled
// before attention) without the Q/K norms, with attention-logit soft-capping
// (attn_logit_softcapping, default 50) and final-logit soft-capping (default 30), and sliding-
// window attention (default 4096) on every other layer, all with the same RoPE base.
#include "model/arch.h"

namespace llmchain::model {

ArchSpec gemma2_arch() {
  ArchSpec a{"gemma2", kernels::ops::RopeOrder::kNeox, false, true, false};
  a.gemma = true;
  a.swa_pattern = 2;
  return a;
}

}  // namespace llmchain::model
