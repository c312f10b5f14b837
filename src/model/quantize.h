#pragma once
// Re-quantizes a GGUF model file (llama-quantize): every 2-D weight matrix is
// converted to the target type, following llama.cpp's per-tensor rules for the
// K-quant mixes; norms, biases and other 1-D tensors are copied unchanged.
// Output is deterministic: the same input and type give the same bytes.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/ggml_types.h"

namespace llmchain::model {

// A target named on the command line (q4_0, q4_k_m, f16...).
struct QuantTarget {
  std::string name;    // canonical upper-case name, e.g. "Q4_K_M"
  GgmlType base;       // most weight matrices
  int32_t file_type;   // llama.cpp's LLAMA_FTYPE value written to general.file_type
  bool mix_more_bits;  // Q4_K_M / Q5_K_M: attn_v and ffn_down use Q6_K on use_more_bits layers
};

// The known targets; kInvalidArgument listing them when name is unknown (case-insensitive).
Expected<QuantTarget> parse_quant_target(const std::string& name);
std::vector<std::string> quant_target_names();

// llama.cpp's choice of layers that keep more bits in the _M mixes.
bool use_more_bits(int layer, int n_layer);

// The type a tensor gets. shape is ne[0] first; n_layer the model's block count;
// tied: the model has no output.weight (token_embd is then treated as the output).
// Returns in_type when the tensor is not quantized (1-D, norms, rows not divisible).
GgmlType choose_tensor_type(const QuantTarget& t, const std::string& name, const std::vector<int64_t>& shape,
                            GgmlType in_type, int n_layer, bool tied);

struct QuantizeOptions {
  int32_t threads = 0;  // 0: all hardware threads
  // Called after each tensor with elements done and total (from the calling thread).
  std::function<void(int64_t done, int64_t total)> progress;
};

struct QuantizeReport {
  int32_t n_tensors = 0;
  int32_t n_quantized = 0;               // converted to another type
  int32_t n_fallback = 0;                // K-quant rows not divisible by 256: a legacy type was used
  uint64_t in_bytes = 0, out_bytes = 0;  // tensor data only
  std::vector<std::string> warnings;     // e.g. re-quantizing already-quantized input
};

Expected<QuantizeReport> quantize_file(const std::string& in_path, const std::string& out_path,
                                       const std::string& target, const QuantizeOptions& opts = {});

}  // namespace llmchain::model
