#include "model/encoder.h"

#include <cmath>
#include <cstring>

#include "model/linear.h"

namespace llmchain::model {

namespace {

// y[rows x w.n_rows] = x[rows x w.n_cols] * w^T + b
void affine(const kernels::Backend& be, const Tensor& w, const Tensor& b, const float* x, float* y, int64_t rows,
            ThreadPool& pool) {
  be.linear(w, x, y, rows, pool);
  add_bias(be, y, b, w.n_rows, rows);
}

// Adds row r of an embedding matrix (any weight type) to y.
void add_row(const kernels::Backend& be, const Tensor& e, int64_t r, float* y, std::vector<float>& tmp) {
  tmp.resize(e.n_cols);
  be.get_row(e, r, tmp.data());
  be.add(y, tmp.data(), e.n_cols);
}

}  // namespace

Encoder::Encoder(std::shared_ptr<const Model> model) : model_(std::move(model)) {}

Expected<std::vector<float>> Encoder::run(const std::vector<int32_t>& tokens, ThreadPool& pool, Pooling pooling) {
  return capture([&]() -> std::vector<float> {
    const Model& m = *model_;
    const kernels::Backend& be = m.backend();
    const HParams& hp = m.hparams();
    const auto& enc = m.encoder();
    const int64_t T = static_cast<int64_t>(tokens.size()), D = hp.n_embd, QD = hp.q_dim(), KVD = hp.kv_dim();
    const int64_t F = hp.n_ff, HD = hp.head_dim;
    if (T == 0) fail(ErrorCode::kInvalidArgument, "cannot embed an empty input");
    if (enc.pos_embd && T > enc.pos_embd.n_rows)
      fail(ErrorCode::kInvalidArgument, "input of {} tokens is longer than the model's {} positions", T,
           enc.pos_embd.n_rows);
    for (int32_t t : tokens)
      if (t < 0 || t >= hp.n_vocab) fail(ErrorCode::kInvalidArgument, "token id {} is outside the vocabulary", t);

    x_.assign(T * D, 0.0f);
    y_.resize(T * D);
    q_.resize(T * QD);
    k_.resize(T * KVD);
    v_.resize(T * KVD);
    att_.resize(T * QD);
    ff_.resize(T * F);
    gate_.resize(T * F);
    k16_.resize(T * KVD);
    v16_.resize(T * KVD);
    std::vector<float> tmp;
    // Input: token + token type 0 (llama.cpp's "sentence A" for every token) + position, then LayerNorm.
    for (int64_t t = 0; t < T; ++t) {
      float* x = x_.data() + t * D;
      add_row(be, m.token_embd(), tokens[t], x, tmp);
      if (enc.type_embd) add_row(be, enc.type_embd, 0, x, tmp);
      if (enc.pos_embd) add_row(be, enc.pos_embd, t, x, tmp);
      be.layer_norm(x, enc.embd_norm.f32(), enc.embd_norm_b.f32(), x, D, hp.norm_eps);
    }

    const int H = hp.n_head, group = hp.n_head / hp.n_head_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
    if (q16_.size() < static_cast<size_t>(pool.size() * HD)) {
      q16_.resize(pool.size() * HD);
      acc16_.resize(pool.size() * HD);
    }
    for (const LayerWeights& L : m.layers()) {
      linear_multi(be, {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}}, x_.data(), T, pool);
      add_bias(be, q_.data(), L.bq, QD, T);
      add_bias(be, k_.data(), L.bk, KVD, T);
      add_bias(be, v_.data(), L.bv, KVD, T);
      if (!m.arch().abs_pos) {
        for (int64_t t = 0; t < T; ++t) {
          const auto pos = static_cast<int32_t>(t);
          be.rope(q_.data() + t * QD, H, static_cast<int>(HD), hp.n_rot, pos, hp.rope_freq_base, hp.rope_freq_scale,
                  m.arch().rope_order, m.rope_freq_factors());
          be.rope(k_.data() + t * KVD, hp.n_head_kv, static_cast<int>(HD), hp.n_rot, pos, hp.rope_freq_base,
                  hp.rope_freq_scale, m.arch().rope_order, m.rope_freq_factors());
        }
      }
      be.to_f16(k_.data(), k16_.data(), T * KVD);
      be.to_f16(v_.data(), v16_.data(), T * KVD);
      pool.run([&](int ith, int nth) {
        float* q16 = q16_.data() + ith * HD;
        uint16_t* acc16 = acc16_.data() + ith * HD;
        for (int64_t item = ith; item < T * H; item += nth) {  // every query sees all T positions
          const int64_t t = item / H, h = item % H, hk = h / group;
          be.attend_f16(q_.data() + t * QD + h * HD, k16_.data() + hk * HD, v16_.data() + hk * HD, KVD,
                        static_cast<int>(T), static_cast<int>(HD), scale, 0.0f, att_.data() + t * QD + h * HD, q16,
                        acc16);
        }
      });
      // x = LayerNorm(x + attention), then x = LayerNorm(x + FFN(x)).
      affine(be, L.wo, L.bo, att_.data(), y_.data(), T, pool);
      for (int64_t t = 0; t < T; ++t) {
        float* y = y_.data() + t * D;
        be.add(y, x_.data() + t * D, D);
        be.layer_norm(y, L.attn_out_norm.f32(), L.attn_out_norm_b.f32(), x_.data() + t * D, D, hp.norm_eps);
      }
      affine(be, L.w_up, L.b_up, x_.data(), ff_.data(), T, pool);
      if (m.arch().gelu_ffn) {
        be.gelu(ff_.data(), ff_.data(), T * F);
      } else {
        be.linear(L.w_gate, x_.data(), gate_.data(), T, pool);
        for (int64_t t = 0; t < T; ++t) be.silu_mul(gate_.data() + t * F, ff_.data() + t * F, ff_.data() + t * F, F);
      }
      affine(be, L.w_down, L.b_down, ff_.data(), y_.data(), T, pool);
      for (int64_t t = 0; t < T; ++t) {
        float* y = y_.data() + t * D;
        be.add(y, x_.data() + t * D, D);
        be.layer_norm(y, L.layer_out_norm.f32(), L.layer_out_norm_b.f32(), x_.data() + t * D, D, hp.norm_eps);
      }
    }

    switch (pooling) {
      case Pooling::kNone: return x_;
      case Pooling::kCls: return {x_.begin(), x_.begin() + D};
      case Pooling::kLast: return {x_.end() - D, x_.end()};
      case Pooling::kMean: {
        std::vector<float> out(D);
        for (int64_t d = 0; d < D; ++d) {
          double s = 0;
          for (int64_t t = 0; t < T; ++t) s += x_[t * D + d];
          out[d] = static_cast<float>(s / static_cast<double>(T));
        }
        return out;
      }
      case Pooling::kRank: {  // the CLS state through the classification head
        std::vector<float> cur(x_.begin(), x_.begin() + D);
        if (enc.cls) {
          std::vector<float> h(D);
          affine(be, enc.cls, enc.cls_b, cur.data(), h.data(), 1, pool);
          for (float& v : h) v = std::tanh(v);
          cur = std::move(h);
        }
        if (enc.cls_out) {
          std::vector<float> s(enc.cls_out.n_rows);
          affine(be, enc.cls_out, enc.cls_out_b, cur.data(), s.data(), 1, pool);
          cur = std::move(s);
        }
        return cur;
      }
    }
    return x_;
  });
}

}  // namespace llmchain::model
