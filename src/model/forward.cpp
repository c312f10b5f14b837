#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "model/linear.h"

namespace llmchain::model {

Context::Context(std::shared_ptr<const Model> model, int32_t max_batch)
    : model_(std::move(model)), max_batch_(max_batch) {
  const HParams& hp = model_->hparams();
  const size_t T = max_batch;
  x_.resize(T * hp.n_embd);
  xn_.resize(T * hp.n_embd);
  q_.resize(T * hp.q_dim());
  k_.resize(T * hp.kv_dim());
  v_.resize(T * hp.kv_dim());
  att_.resize(T * hp.q_dim());
  gate_.resize(T * hp.n_ff);
  up_.resize(T * hp.n_ff);
  out_rows_.resize(T * hp.n_embd);
}

void Context::check_batch(const std::vector<BatchToken>& batch, const KvCache& kv) const {
  const HParams& hp = model_->hparams();
  if (batch.empty()) fail(ErrorCode::kInvalidArgument, "decode: empty batch");
  if (static_cast<int32_t>(batch.size()) > max_batch_)
    fail(ErrorCode::kInvalidArgument, "decode: batch of {} tokens exceeds the maximum {}", batch.size(), max_batch_);
  for (const auto& t : batch) {
    if (t.token < 0 || t.token >= hp.n_vocab)
      fail(ErrorCode::kInvalidArgument, "decode: token id {} outside the vocabulary (0..{})", t.token, hp.n_vocab - 1);
    if (t.seq < 0 || t.seq >= kv.n_seq()) fail(ErrorCode::kInvalidArgument, "decode: bad sequence slot {}", t.seq);
    if (t.pos < 0 || t.pos >= kv.n_ctx())
      fail(ErrorCode::kResourceExhausted, "decode: position {} is outside the context of {}", t.pos, kv.n_ctx());
  }
}

void Context::attention(const std::vector<BatchToken>& batch, int il, KvCache& kv, ThreadPool& pool) {
  const HParams& hp = model_->hparams();
  const kernels::Backend& be = model_->backend();
  const int T = static_cast<int>(batch.size());
  const int H = hp.n_head, HD = hp.head_dim, group = hp.n_head / hp.n_head_kv;
  // Gemma scales the queries before attention (in f32, as llama.cpp); the others scale scores.
  const float scale = model_->arch().gemma ? 1.0f : hp.attn_scale;
  // Sliding-window layers attend to the last n_swa positions (as llama.cpp: key position
  // p0 is kept while pos - p0 < n_swa).
  const bool swa = hp.is_swa(il);
  if (q16_.size() < static_cast<size_t>(pool.size()) * HD) {
    q16_.resize(static_cast<size_t>(pool.size()) * HD);
    acc16_.resize(static_cast<size_t>(pool.size()) * HD);
  }

  pool.run([&](int ith, int nth) {
    float* q16 = q16_.data() + static_cast<size_t>(ith) * HD;
    uint16_t* acc16 = acc16_.data() + static_cast<size_t>(ith) * HD;
    // Items (token, head) dealt round-robin: a token's heads cost the same, so the threads stay even.
    for (int item = ith; item < T * H; item += nth) {
      const int t = item / H, h = item % H, hk = h / group;
      const BatchToken& bt = batch[t];
      // Same arithmetic as llama.cpp's CPU flash attention with an f16 cache (see kernels::ops::attend_f16).
      const float* q = q_.data() + static_cast<size_t>(t) * hp.q_dim() + h * HD;
      float* out = att_.data() + static_cast<size_t>(t) * hp.q_dim() + h * HD;
      const int32_t first = swa ? std::max(0, bt.pos - hp.n_swa + 1) : 0;
      be.attend_f16(q, kv.k(il, bt.seq, first) + hk * HD, kv.v(il, bt.seq, first) + hk * HD, kv.kv_dim(),
                    bt.pos + 1 - first, HD, scale, hp.attn_logit_softcapping, out, q16, acc16);
    }
  });
}

Expected<bool> Context::decode(const std::vector<BatchToken>& batch, KvCache& kv, ThreadPool& pool) {
  return capture([&] {
    check_batch(batch, kv);
    const Model& m = *model_;
    const kernels::Backend& be = m.backend();
    const HParams& hp = m.hparams();
    const int64_t T = static_cast<int64_t>(batch.size());
    const int64_t D = hp.n_embd, QD = hp.q_dim(), KVD = hp.kv_dim(), F = hp.n_ff;

    // Token embeddings (any weight type: rows are dequantized).
    const Tensor& emb = m.token_embd();
    for (int64_t t = 0; t < T; ++t) {
      be.get_row(emb, batch[t].token, x_.data() + t * D);
      if (m.arch().gemma) {  // gemma: embeddings scaled by sqrt(n_embd)
        const float s = std::sqrt(static_cast<float>(D));
        for (int64_t i = 0; i < D; ++i) x_[t * D + i] *= s;
      }
    }

    // Row-wise ops of a few tokens are cheaper than a fork-join: they run on the calling thread.
    const bool small = T < 2 * pool.size();
    auto norm_rows = [&](const float* in, const Tensor& w, float* out, int64_t rows) {
      if (small) {
        for (int64_t t = 0; t < rows; ++t) be.rms_norm(in + t * D, w.f32(), out + t * D, D, hp.rms_eps);
        return;
      }
      pool.parallel_for(rows, [&](int64_t b, int64_t e, int) {
        for (int64_t t = b; t < e; ++t) be.rms_norm(in + t * D, w.f32(), out + t * D, D, hp.rms_eps);
      });
    };
    // Every (token, choice)'s weighted expert output into moe_out_: each expert runs once over all
    // the tokens that chose it.
    auto each_expert = [&](const LayerWeights& L, int64_t rows) {
      const int E = hp.n_expert, K = hp.n_expert_used;
      const int64_t FE = hp.n_ff_exp;
      std::vector<int64_t> picks;  // (token * K + choice) of the tokens that chose expert e
      for (int e = 0; e < E; ++e) {
        picks.clear();
        for (int64_t i = 0; i < rows * K; ++i)
          if (moe_sel_[i] == e) picks.push_back(i);
        if (picks.empty()) continue;
        const auto n = static_cast<int64_t>(picks.size());
        moe_x_.resize(n * D);
        moe_g_.resize(n * FE);
        moe_u_.resize(n * FE);
        moe_y_.resize(n * D);
        for (int64_t j = 0; j < n; ++j)
          std::memcpy(moe_x_.data() + j * D, xn_.data() + (picks[j] / K) * D, sizeof(float) * D);
        const auto& ex = L.experts[e];
        linear_multi(be, {{&ex.gate, moe_g_.data()}, {&ex.up, moe_u_.data()}}, moe_x_.data(), n, pool);
        for (int64_t j = 0; j < n; ++j)
          be.silu_mul(moe_g_.data() + j * FE, moe_u_.data() + j * FE, moe_g_.data() + j * FE, FE);
        be.linear(ex.down, moe_g_.data(), moe_y_.data(), n, pool);
        for (int64_t j = 0; j < n; ++j) {
          const float w = moe_w_[picks[j]];
          float* out = moe_out_.data() + picks[j] * D;
          const float* y = moe_y_.data() + j * D;
          for (int64_t d = 0; d < D; ++d) out[d] = y[d] * w;
        }
      }
    };
    // Mixture of experts on xn_ (the normed input), added to x_, as llama.cpp's build_moe_ffn with
    // softmax gating and renormalised weights: each token's router probabilities (softmax), its
    // n_expert_used best experts (highest first), their weights divided by their sum; every
    // expert runs once over all the tokens that chose it (only the chosen experts' weights are
    // read); a token's output is the weighted outputs summed in the order of its choices.
    auto moe = [&](const LayerWeights& L, int64_t rows) {
      const int E = hp.n_expert, K = hp.n_expert_used;
      const int64_t FE = hp.n_ff_exp;
      router_.resize(static_cast<size_t>(rows) * E);
      moe_sel_.resize(static_cast<size_t>(rows) * K);
      moe_w_.resize(static_cast<size_t>(rows) * K);
      moe_out_.resize(static_cast<size_t>(rows) * K * D);
      be.linear(L.router, xn_.data(), router_.data(), rows, pool);
      std::vector<int32_t> order(E);
      for (int64_t t = 0; t < rows; ++t) {
        float* p = router_.data() + t * E;
        const float mx = *std::max_element(p, p + E);
        double sum = 0;
        for (int e = 0; e < E; ++e) sum += (p[e] = std::exp(p[e] - mx));
        const float inv = static_cast<float>(1.0 / sum);
        for (int e = 0; e < E; ++e) p[e] *= inv;
        for (int e = 0; e < E; ++e) order[e] = e;
        std::partial_sort(order.begin(), order.begin() + K, order.end(),
                          [&](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
        float wsum = 0;
        for (int k = 0; k < K; ++k) wsum += p[order[k]];
        wsum = std::max(wsum, 6.103515625e-5f);  // as llama.cpp: no division by (almost) zero
        for (int k = 0; k < K; ++k) {
          moe_sel_[t * K + k] = order[k];
          moe_w_[t * K + k] = p[order[k]] / wsum;
        }
      }
      // One token (generation): its experts share one input, so every gate and up product runs in
      // one call (where the backend can: one activation quantization, one fork-join, not K).
      if (rows == 1) {
        moe_g_.resize(K * FE);
        moe_u_.resize(K * FE);
        moe_prods_.clear();
        for (int k = 0; k < K; ++k) {
          const auto& ex = L.experts[moe_sel_[k]];
          moe_prods_.push_back({&ex.gate, moe_g_.data() + k * FE});
          moe_prods_.push_back({&ex.up, moe_u_.data() + k * FE});
        }
        be.linear_multi(moe_prods_, xn_.data(), 1, pool);
        for (int k = 0; k < K; ++k) {
          float* g = moe_g_.data() + k * FE;
          be.silu_mul(g, moe_u_.data() + k * FE, g, FE);
          float* out = moe_out_.data() + k * D;
          be.linear(L.experts[moe_sel_[k]].down, g, out, 1, pool);
          for (int64_t d = 0; d < D; ++d) out[d] *= moe_w_[k];
        }
      } else {
        each_expert(L, rows);
      }
      for (int64_t t = 0; t < rows; ++t) {
        float* sum = moe_out_.data() + t * K * D;
        for (int k = 1; k < K; ++k) be.add(sum, sum + k * D, D);
        be.add(x_.data() + t * D, sum, D);
      }
    };

    for (int il = 0; il < hp.n_layer; ++il) {
      const LayerWeights& L = m.layers()[il];
      const float rope_base = hp.is_swa(il) ? hp.rope_freq_base_swa : hp.rope_freq_base;
      const float rope_scale = hp.is_swa(il) ? hp.rope_freq_scale_swa : hp.rope_freq_scale;
      // Attention block.
      norm_rows(x_.data(), L.attn_norm, xn_.data(), T);
      linear_multi(be, {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}}, xn_.data(), T, pool);
      add_bias(be, q_.data(), L.bq, QD, T);
      add_bias(be, k_.data(), L.bk, KVD, T);
      add_bias(be, v_.data(), L.bv, KVD, T);
      if (L.q_norm) {  // each head of Q and K normalised on its own (qwen3)
        for (int64_t t = 0; t < T; ++t) {
          for (int h = 0; h < hp.n_head; ++h) {
            float* q = q_.data() + t * QD + h * hp.head_dim;
            be.rms_norm(q, L.q_norm.f32(), q, hp.head_dim, hp.rms_eps);
          }
          for (int h = 0; h < hp.n_head_kv; ++h) {
            float* k = k_.data() + t * KVD + h * hp.head_dim;
            be.rms_norm(k, L.k_norm.f32(), k, hp.head_dim, hp.rms_eps);
          }
        }
      }
      for (int64_t t = 0; t < T; ++t) {
        const BatchToken& bt = batch[t];
        be.rope(q_.data() + t * QD, hp.n_head, hp.head_dim, hp.n_rot, bt.pos, rope_base, rope_scale,
                m.arch().rope_order, m.rope_freq_factors());
        be.rope(k_.data() + t * KVD, hp.n_head_kv, hp.head_dim, hp.n_rot, bt.pos, rope_base, rope_scale,
                m.arch().rope_order, m.rope_freq_factors());
        if (m.arch().gemma)
          for (float* q = q_.data() + t * QD; q != q_.data() + (t + 1) * QD; ++q) *q *= hp.attn_scale;
        be.to_f16(k_.data() + t * KVD, kv.k(il, bt.seq, bt.pos), KVD);
        be.to_f16(v_.data() + t * KVD, kv.v(il, bt.seq, bt.pos), KVD);
      }
      attention(batch, il, kv, pool);
      be.linear(L.wo, att_.data(), xn_.data(), T, pool);
      if (L.attn_post_norm) norm_rows(xn_.data(), L.attn_post_norm, xn_.data(), T);
      for (int64_t t = 0; t < T; ++t) be.add(x_.data() + t * D, xn_.data() + t * D, D);

      // Feed-forward block (SwiGLU), or the mixture of experts.
      norm_rows(x_.data(), L.ffn_norm, xn_.data(), T);
      if (!L.experts.empty()) {
        moe(L, T);
        continue;
      }
      linear_multi(be, {{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}}, xn_.data(), T, pool);
      const bool gelu = m.arch().gemma;
      auto glu = [&](const float* g, const float* u, float* y, int64_t n) {
        gelu ? be.gelu_mul(g, u, y, n) : be.silu_mul(g, u, y, n);
      };
      if (small) {
        for (int64_t t = 0; t < T; ++t) glu(gate_.data() + t * F, up_.data() + t * F, gate_.data() + t * F, F);
      } else {
        pool.parallel_for(T, [&](int64_t b, int64_t e, int) {
          for (int64_t t = b; t < e; ++t) glu(gate_.data() + t * F, up_.data() + t * F, gate_.data() + t * F, F);
        });
      }
      be.linear(L.w_down, gate_.data(), xn_.data(), T, pool);
      if (L.ffn_post_norm) norm_rows(xn_.data(), L.ffn_post_norm, xn_.data(), T);
      for (int64_t t = 0; t < T; ++t) be.add(x_.data() + t * D, xn_.data() + t * D, D);
    }

    for (const auto& bt : batch) {
      int32_t used = kv.used(bt.seq);
      if (bt.pos + 1 > used) kv.set_used(bt.seq, bt.pos + 1);
    }

    norm_rows(x_.data(), m.output_norm(), xn_.data(), T);
    n_out_ = 0;
    for (int64_t t = 0; t < T; ++t) {
      if (!batch[t].logits) continue;
      std::memcpy(out_rows_.data() + n_out_ * D, xn_.data() + t * D, sizeof(float) * D);
      ++n_out_;
    }
    if (n_out_ > 0) {
      const Tensor& out = m.output();
      const size_t need = static_cast<size_t>(n_out_) * hp.n_vocab;
      if (logits_.size() < need) logits_.resize(need);
      be.linear(out, out_rows_.data(), logits_.data(), n_out_, pool);
      if (const float c = hp.final_logit_softcapping; c > 0) {  // gemma2-style soft-capping
        for (size_t i = 0; i < need; ++i) logits_[i] = std::tanh(logits_[i] * (1.0f / c)) * c;
      }
    }
    return true;
  });
}

}  // namespace llmchain::model
