#include "model/perplexity.h"

#include <algorithm>
#include <cmath>

#include "base/thread_pool.h"
#include "model/forward.h"
#include "model/kv_cache.h"

namespace llmchain::model {

Expected<PerplexityResult> compute_perplexity(std::shared_ptr<const Model> model, const std::vector<int32_t>& tokens,
                                              const PerplexityOptions& opts) {
  return capture([&]() -> PerplexityResult {
    const int32_t n_ctx = opts.n_ctx;
    if (n_ctx < 4) fail(ErrorCode::kInvalidArgument, "perplexity: context of {} tokens is too small", n_ctx);
    const int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
    if (n_chunks < 1)
      fail(ErrorCode::kInvalidArgument, "perplexity: the text has {} tokens, fewer than one context of {}",
           tokens.size(), n_ctx);
    const auto& hp = model->hparams();
    const int32_t n_vocab = hp.n_vocab;
    for (int32_t t : tokens)
      if (t < 0 || t >= n_vocab) fail(ErrorCode::kInvalidArgument, "perplexity: token {} out of vocabulary", t);
    const int32_t n_batch = std::clamp(opts.n_batch > 0 ? opts.n_batch : n_ctx, 1, n_ctx);
    const int32_t first = n_ctx / 2;  // first position whose prediction is scored

    ThreadPool pool(opts.threads);
    KvCache kv(hp, 1, n_ctx);
    Context ctx(model, n_batch);
    double nll = 0, nll2 = 0;
    int64_t count = 0;
    std::vector<BatchToken> batch;
    for (int64_t c = 0; c < n_chunks; ++c) {
      const int64_t start = c * n_ctx;
      kv.set_used(0, 0);
      for (int32_t b0 = 0; b0 < n_ctx; b0 += n_batch) {
        const int32_t b1 = std::min(n_ctx, b0 + n_batch);
        batch.clear();
        for (int32_t p = b0; p < b1; ++p) {
          int32_t tok = tokens[start + p];
          if (p == 0 && opts.bos >= 0) tok = opts.bos;
          // Position p's logits predict token p + 1: scored for p in [first, n_ctx - 2].
          batch.push_back({tok, p, 0, p >= first && p + 1 < n_ctx});
        }
        ctx.decode(batch, kv, pool).value();
        int32_t row = 0;
        for (int32_t p = b0; p < b1; ++p) {
          if (!(p >= first && p + 1 < n_ctx)) continue;
          const float* l = ctx.logits() + static_cast<int64_t>(row++) * n_vocab;
          const float mx = *std::max_element(l, l + n_vocab);
          double sum = 0;
          for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(l[i] - mx));
          const double v = std::log(sum) - static_cast<double>(l[tokens[start + p + 1]] - mx);
          if (opts.on_scored) opts.on_scored(l, tokens[start + p + 1]);
          nll += v;
          nll2 += v * v;
          ++count;
        }
      }
      if (opts.progress)
        opts.progress(static_cast<int32_t>(c + 1), static_cast<int32_t>(n_chunks), std::exp(nll / count));
    }
    PerplexityResult r;
    r.chunks = static_cast<int32_t>(n_chunks);
    r.tokens_scored = count;
    r.mean_nll = nll / count;
    r.ppl = std::exp(r.mean_nll);
    // llama.cpp: stderr of the mean NLL, propagated to the perplexity.
    double var = nll2 / count - r.mean_nll * r.mean_nll;
    r.ppl_stderr = var > 0 && count > 1 ? std::sqrt(var / static_cast<double>(count - 1)) * r.ppl : 0;
    return r;
  });
}

}  // namespace llmchain::model
