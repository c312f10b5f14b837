#pragma once
// Perplexity of a model over a token stream, computed as llama-perplexity does:
// the stream is cut into chunks of n_ctx tokens, each chunk starts with BOS
// (replacing its first token) and only the second half of each chunk is scored,
// so every scored token has at least n_ctx/2 tokens of context.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "base/error.h"
#include "model/model.h"

namespace llmchain::model {

struct PerplexityOptions {
  int32_t n_ctx = 512;
  int32_t n_batch = 0;  // tokens per decode call; 0: n_ctx
  int32_t threads = 0;  // 0: all hardware threads
  int32_t bos = -1;     // written at each chunk's first position; -1: keep the chunk's own first token
  // After each chunk: chunks done, chunks in all, perplexity so far.
  std::function<void(int32_t done, int32_t total, double ppl)> progress;
  // Each scored position's logits (n_vocab) and the token they predict, in order (chunk by
  // chunk, position by position): what the KL-divergence file records (model/kl_divergence.h).
  std::function<void(const float* logits, int32_t next_token)> on_scored;
};

struct PerplexityResult {
  double ppl = 0;
  double ppl_stderr = 0;  // exp(mean NLL) * stderr of the per-token NLL, as llama.cpp reports it
  double mean_nll = 0;
  int32_t chunks = 0;
  int64_t tokens_scored = 0;
};

// kInvalidArgument when tokens hold fewer than n_ctx tokens or n_ctx < 4.
Expected<PerplexityResult> compute_perplexity(std::shared_ptr<const Model> model, const std::vector<int32_t>& tokens,
                                              const PerplexityOptions& opts);

}  // namespace llmchain::model
