// BERT-family encoders, as llama.cpp's bert graph. bert (bge, MiniLM, and cross-encoders with a
// classification head): absolute position embeddings, Q/K/V and FFN biases, GELU FFN. nomic-bert:
// RoPE (NeoX order) instead of positions, Q/K/V in one matrix, SwiGLU FFN, no biases.
#include "model/arch.h"

namespace llmchain::model {

ArchSpec bert_arch() {
  ArchSpec a{"bert", kernels::ops::RopeOrder::kNeox, true, true};
  a.encoder = true;
  a.abs_pos = true;
  a.gelu_ffn = true;
  return a;
}

ArchSpec nomic_bert_arch() {
  ArchSpec a{"nomic-bert", kernels::ops::RopeOrder::kNeox, false, true};
  a.encoder = true;
  return a;
}

}  // namespace llmchain::model
