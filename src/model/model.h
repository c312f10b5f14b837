#pragma once
// A loaded model: hyper-parameters and weights sliced from the memory-mapped
// GGUF file. Immutable after load and shared by every session; per-sequence
// state lives in KvCache and scratch lives in Context (forward.h).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/ggml_types.h"
#include "gguf/gguf.h"
#include "kernels/backend.h"
#include "model/arch.h"

namespace llmchain::model {

// How an embedding is made of a sequence's hidden states ({arch}.pooling_type, llama.cpp's values).
enum class Pooling { kNone = 0, kMean = 1, kCls = 2, kLast = 3, kRank = 4 };
const char* to_string(Pooling p);

struct HParams {
  std::string arch;
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t n_ff = 0;
  int32_t head_dim = 0;  // n_embd / n_head unless attention.key_length says otherwise
  int32_t n_rot = 0;     // rope.dimension_count (defaults to head_dim)
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
  // Mixture of experts (expert_count > 0): each token's FFN is the weighted sum of the
  // n_expert_used experts its router ranks highest (softmax, top-k, weights renormalised).
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;
  int32_t n_ff_exp = 0;  // an expert's FFN width (expert_feed_forward_length, else n_ff)
  // Sliding-window attention (gemma2, gemma3): the layers it applies to attend to the last n_swa
  // positions only, with their own RoPE base and scale.
  int32_t n_swa = 0;
  int32_t swa_pattern = 0;
  float rope_freq_base_swa = 10000.0f;
  float rope_freq_scale_swa = 1.0f;
  float attn_scale = 0;               // scores = q.k * attn_scale (set from head_dim when absent)
  float final_logit_softcapping = 0;  // > 0: logits = c * tanh(logits / c)
  float attn_logit_softcapping = 0;   // > 0: scores = c * tanh(scores / c) (gemma2)
  // Encoders: LayerNorm epsilon, pooling, and the classification head's outputs (rank pooling).
  float norm_eps = 1e-12f;
  Pooling pooling = Pooling::kMean;
  int32_t n_cls_out = 1;
  bool is_swa(int il) const { return n_swa > 0 && swa_pattern > 0 && il % swa_pattern < swa_pattern - 1; }
  int32_t q_dim() const { return n_head * head_dim; }
  int32_t kv_dim() const { return n_head_kv * head_dim; }
};

// A weight matrix (n_rows rows of n_cols elements, ggml ne1 x ne0) or vector, with the form the
// model's backend prepared of it (kernels/backend.h).
using Tensor = kernels::Weight;

struct LayerWeights {
  Tensor attn_norm, wq, wk, wv, wo, bq, bk, bv;
  Tensor q_norm, k_norm;                 // per-head RMS norm weights [head_dim] (ArchSpec::qk_norm)
  Tensor attn_post_norm, ffn_post_norm;  // gemma
  // Encoders: output and FFN biases, LayerNorms (weight, bias) after attention and after the FFN.
  Tensor bo, b_up, b_down, attn_out_norm, attn_out_norm_b, layer_out_norm, layer_out_norm_b;
  Tensor ffn_norm, w_gate, w_up, w_down;
  // MoE layers: the router [n_embd -> n_expert] and each expert's matrices (row views of the
  // ffn_*_exps tensors) instead of w_gate / w_up / w_down.
  struct Expert {
    Tensor gate, up, down;
  };
  Tensor router;
  std::vector<Expert> experts;
};

class Model {
 public:
  // The backend runs the forward passes on the weights it prepares here (kernels/backend.h).
  static Expected<std::shared_ptr<const Model>> load(const std::string& path,
                                                     const kernels::Backend& backend = kernels::cpu_backend());
  static Expected<std::shared_ptr<const Model>> from_file(std::shared_ptr<const gguf::File> file,
                                                          const kernels::Backend& backend = kernels::cpu_backend());
  const kernels::Backend& backend() const { return *backend_; }

  const HParams& hparams() const { return hp_; }
  const ArchSpec& arch() const { return *arch_; }
  const gguf::File& file() const { return *file_; }
  std::shared_ptr<const gguf::File> file_ptr() const { return file_; }

  const Tensor& token_embd() const { return token_embd_; }
  const Tensor& output_norm() const { return output_norm_; }
  const Tensor& output() const { return output_; }  // token_embd when tied
  const std::vector<LayerWeights>& layers() const { return layers_; }
  const float* rope_freq_factors() const { return rope_freqs_; }
  // Encoders (null when absent): token-type embeddings (row 0 is added), position embeddings,
  // the LayerNorm of the input embeddings, and the classification head (cls: dense + tanh,
  // cls.output: the scores) of rank pooling.
  struct EncoderWeights {
    Tensor type_embd, pos_embd, embd_norm, embd_norm_b, cls, cls_b, cls_out, cls_out_b;
  };
  const EncoderWeights& encoder() const { return enc_; }
  size_t weight_bytes() const { return weight_bytes_; }

  // Bytes of weights read per generated token (all layers + output; of a mixture of experts, the
  // router and the n_expert_used experts a token runs), for bandwidth figures.
  size_t bytes_per_token() const;

 private:
  void bind(const gguf::File& f);
  // Has the backend prepare every matrix a product reads.
  void prepare_weights();
  // Prepares each matrix (on a few threads) and keeps what the backend made.
  void prepare_all(const std::vector<Tensor*>& todo);

  std::shared_ptr<const gguf::File> file_;
  const ArchSpec* arch_ = nullptr;
  HParams hp_;
  Tensor token_embd_, output_norm_, output_;
  std::vector<LayerWeights> layers_;
  const float* rope_freqs_ = nullptr;
  EncoderWeights enc_;
  size_t weight_bytes_ = 0;
  const kernels::Backend* backend_ = nullptr;
  std::vector<std::shared_ptr<const kernels::PreparedWeight>> prepared_;
};

Expected<HParams> read_hparams(const gguf::File& f);

// The backend of that name (kernels/backend.h: "cpu", "reference"); kInvalidArgument naming the
// known ones otherwise.
Expected<const kernels::Backend*> backend_named(std::string_view name);

}  // namespace llmchain::model
