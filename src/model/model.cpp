#include "model/model.h"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace llmchain::model {
namespace {

[[noreturn]] void bad_model(const gguf::File& f, const std::string& what) {
  fail(ErrorCode::kInvalidFile, "{}: {}", f.path(), what);
}

int32_t need_int(const gguf::File& f, const std::string& key) {
  const auto* v = f.find(key);
  if (!v) bad_model(f, fmt::format("missing metadata key '{}'", key));
  int64_t x = v->as_int();
  if (x <= 0 || x > (1 << 30)) bad_model(f, fmt::format("metadata '{}' = {} is out of range", key, x));
  return static_cast<int32_t>(x);
}

}  // namespace

const char* to_string(Pooling p) {
  switch (p) {
    case Pooling::kNone: return "none";
    case Pooling::kMean: return "mean";
    case Pooling::kCls: return "cls";
    case Pooling::kLast: return "last";
    case Pooling::kRank: return "rank";
  }
  return "mean";
}

Expected<HParams> read_hparams(const gguf::File& f) {
  return capture([&] {
    HParams hp;
    hp.arch = f.architecture();
    if (hp.arch.empty()) bad_model(f, "missing 'general.architecture'");
    const std::string a = hp.arch + ".";
    hp.n_embd = need_int(f, a + "embedding_length");
    hp.n_layer = need_int(f, a + "block_count");
    hp.n_head = need_int(f, a + "attention.head_count");
    hp.n_head_kv = static_cast<int32_t>(f.get_int(a + "attention.head_count_kv", hp.n_head));
    hp.n_ff = need_int(f, a + "feed_forward_length");
    hp.n_ctx_train = static_cast<int32_t>(f.get_int(a + "context_length", 2048));
    if (hp.n_head_kv <= 0 || hp.n_head % hp.n_head_kv != 0)
      bad_model(f, fmt::format("head_count {} is not a multiple of head_count_kv {}", hp.n_head, hp.n_head_kv));
    hp.head_dim = static_cast<int32_t>(f.get_int(a + "attention.key_length", hp.n_embd / hp.n_head));
    if (hp.head_dim <= 0 || hp.head_dim % 2 != 0) bad_model(f, fmt::format("bad head dimension {}", hp.head_dim));
    hp.n_rot = static_cast<int32_t>(f.get_int(a + "rope.dimension_count", hp.head_dim));
    if (hp.n_rot <= 0 || hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0)
      bad_model(f, fmt::format("bad rope.dimension_count {}", hp.n_rot));
    hp.rms_eps = static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5));
    hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
    hp.rope_freq_base = static_cast<float>(f.get_float(a + "rope.freq_base", 10000.0));
    if (hp.arch == "gemma2" || hp.arch == "gemma3") {  // llama.cpp's defaults where a key is absent
      const bool g2 = hp.arch == "gemma2";
      hp.n_swa = static_cast<int32_t>(f.get_int(a + "attention.sliding_window", g2 ? 4096 : 0));
      if (hp.n_swa < 0) bad_model(f, fmt::format("bad attention.sliding_window {}", hp.n_swa));
      hp.swa_pattern =
          static_cast<int32_t>(f.get_int(a + "attention.sliding_window_pattern", find_arch(hp.arch)->swa_pattern));
      if (hp.swa_pattern <= 0) bad_model(f, fmt::format("bad attention.sliding_window_pattern {}", hp.swa_pattern));
      hp.rope_freq_base_swa =
          static_cast<float>(f.get_float(a + "rope.freq_base_swa", g2 ? hp.rope_freq_base : 10000.0));
      hp.final_logit_softcapping = static_cast<float>(f.get_float(a + "final_logit_softcapping", g2 ? 30.0 : 0.0));
      if (g2) hp.attn_logit_softcapping = static_cast<float>(f.get_float(a + "attn_logit_softcapping", 50.0));
      if (hp.final_logit_softcapping < 0 || hp.attn_logit_softcapping < 0) bad_model(f, "negative logit soft-capping");
      // The 27B models scale queries by n_embd / n_head, not the head size (llama.cpp tells them by
      // their layer count: 46 for Gemma 2, 62 for Gemma 3).
      if (hp.n_layer == (g2 ? 46 : 62)) hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.n_embd / hp.n_head));
    }
    hp.norm_eps = static_cast<float>(f.get_float(a + "attention.layer_norm_epsilon", 1e-12));
    const int64_t pooling = f.get_int(a + "pooling_type", 1);
    if (pooling < 0 || pooling > 4) bad_model(f, fmt::format("unknown pooling_type {}", pooling));
    hp.pooling = static_cast<Pooling>(pooling);
    hp.n_expert = static_cast<int32_t>(f.get_int(a + "expert_count", 0));
    if (hp.n_expert < 0 || hp.n_expert > 1024) bad_model(f, fmt::format("bad expert_count {}", hp.n_expert));
    if (hp.n_expert > 0) {
      hp.n_expert_used = static_cast<int32_t>(f.get_int(a + "expert_used_count", 0));
      if (hp.n_expert_used <= 0 || hp.n_expert_used > hp.n_expert)
        bad_model(f, fmt::format("expert_used_count {} is not in 1..{}", hp.n_expert_used, hp.n_expert));
      hp.n_ff_exp = static_cast<int32_t>(f.get_int(a + "expert_feed_forward_length", hp.n_ff));
      if (hp.n_ff_exp <= 0) bad_model(f, fmt::format("bad expert_feed_forward_length {}", hp.n_ff_exp));
    }
    std::string scaling = f.get_string(a + "rope.scaling.type", "none");
    double factor = f.get_float(a + "rope.scaling.factor", 0.0);
    if (factor == 0.0)
      factor = 1.0 / f.get_float(a + "rope.scale_linear", 1.0);
    else if (scaling == "linear" || scaling == "none")
      factor = 1.0 / factor;
    else
      factor = 1.0;  // yarn/llama3 style scaling is carried by rope_freqs.weight
    hp.rope_freq_scale = static_cast<float>(factor);
    if (hp.arch == "gemma2") hp.rope_freq_scale_swa = hp.rope_freq_scale;  // gemma3's local layers: unscaled
    return hp;
  });
}

Expected<std::shared_ptr<const Model>> Model::load(const std::string& path, const kernels::Backend& backend) {
  auto file = gguf::File::open(path);
  if (!file) return file.error();
  return from_file(std::move(*file), backend);
}

Expected<std::shared_ptr<const Model>> Model::from_file(std::shared_ptr<const gguf::File> file,
                                                        const kernels::Backend& backend) {
  return capture([&]() -> std::shared_ptr<const Model> {
    auto m = std::shared_ptr<Model>(new Model());
    m->file_ = std::move(file);
    m->backend_ = &backend;
    m->bind(*m->file_);
    m->prepare_weights();
    return m;
  });
}

void Model::bind(const gguf::File& f) {
  hp_ = read_hparams(f).value();
  arch_ = find_arch(hp_.arch);
  if (!arch_) {
    std::string list;
    for (const auto& n : supported_archs()) list += (list.empty() ? "" : ", ") + n;
    fail(ErrorCode::kUnsupported, "{}: unsupported architecture '{}' (supported: {})", f.path(), hp_.arch, list);
  }

  auto get = [&](const std::string& name, int64_t cols, int64_t rows, bool required) -> Tensor {
    const gguf::TensorInfo* ti = f.tensor(name);
    if (!ti) {
      if (required) bad_model(f, fmt::format("missing tensor '{}'", name));
      return {};
    }
    int64_t tc = ti->shape.size() > 0 ? ti->shape[0] : 1;
    int64_t tr = ti->shape.size() > 1 ? ti->shape[1] : 1;
    for (size_t d = 2; d < ti->shape.size(); ++d) tr *= ti->shape[d];
    if (tc != cols || tr != rows)
      bad_model(f, fmt::format("tensor '{}' has shape [{}, {}], expected [{}, {}]", name, tc, tr, cols, rows));
    const auto* info = ggml_type_info(ti->type);
    if (!info || !info->compute_supported)
      bad_model(f, fmt::format("tensor '{}' has type {} which llmchain cannot compute with yet", name,
                               ggml_type_name(ti->type)));
    weight_bytes_ += ti->size_bytes;
    return Tensor{static_cast<GgmlType>(ti->type), ti->data, cols, rows};
  };
  auto vec = [&](const std::string& name, int64_t n, bool required) -> Tensor {
    Tensor t = get(name, n, 1, required);
    if (t && t.type != GgmlType::F32) bad_model(f, fmt::format("tensor '{}' must be F32", name));
    return t;
  };

  const int64_t D = hp_.n_embd;
  const gguf::TensorInfo* te = f.tensor("token_embd.weight");
  if (!te || te->shape.size() < 2) bad_model(f, "missing tensor 'token_embd.weight'");
  hp_.n_vocab = static_cast<int32_t>(te->shape[1]);
  token_embd_ = get("token_embd.weight", D, hp_.n_vocab, true);
  if (arch_->encoder) {
    // Any number of rows of n_embd (token types), or none.
    auto rows_of = [&](const std::string& name, bool required) -> Tensor {
      const gguf::TensorInfo* ti = f.tensor(name);
      if (!ti && !required) return {};
      return get(name, D, ti && ti->shape.size() > 1 ? ti->shape[1] : 1, required);
    };
    enc_.type_embd = rows_of("token_types.weight", false);
    if (arch_->abs_pos) enc_.pos_embd = rows_of("position_embd.weight", true);
    enc_.embd_norm = vec("token_embd_norm.weight", D, true);
    enc_.embd_norm_b = vec("token_embd_norm.bias", D, true);
    enc_.cls = get("cls.weight", D, D, false);
    enc_.cls_b = vec("cls.bias", D, false);
    enc_.cls_out = rows_of("cls.output.weight", false);
    if (enc_.cls_out) hp_.n_cls_out = static_cast<int32_t>(enc_.cls_out.n_rows);
    enc_.cls_out_b = vec("cls.output.bias", hp_.n_cls_out, false);
    if (hp_.pooling == Pooling::kRank && !enc_.cls_out && !enc_.cls)
      bad_model(f, "rank pooling needs a classification head ('cls.weight' or 'cls.output.weight')");
  } else {
    output_norm_ = vec("output_norm.weight", D, true);
    output_ = get("output.weight", D, hp_.n_vocab, !arch_->output_optional);
    if (!output_) output_ = token_embd_;
  }
  // Per-dimension RoPE frequency factors: rope_freqs (llama 3.1+), or LongRoPE's short factors
  // (phi3; the long ones are for contexts past the original one, which llmchain does not scale).
  for (const char* name : {"rope_freqs.weight", "rope_factors_short.weight"}) {
    const auto* rf = f.tensor(name);
    if (!rf) continue;
    if (rf->type != 0 || rf->n_elements() != hp_.n_rot / 2)
      bad_model(f, fmt::format("tensor '{}' has a bad shape", name));
    rope_freqs_ = reinterpret_cast<const float*>(rf->data);
    break;
  }

  const int64_t Q = hp_.q_dim(), KV = hp_.kv_dim(), F = hp_.n_ff;
  layers_.resize(hp_.n_layer);
  for (int il = 0; il < hp_.n_layer; ++il) {
    auto n = [&](const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); };
    LayerWeights& L = layers_[il];
    if (!arch_->encoder) L.attn_norm = vec(n("attn_norm.weight"), D, true);
    // Rows [first, first + count) of a matrix: its rows are contiguous, so a part is a view.
    auto rows = [](const Tensor& t, int64_t first, int64_t count) {
      Tensor part = t;
      part.data = static_cast<const uint8_t*>(t.data) + first * static_cast<int64_t>(t.row_bytes());
      part.n_rows = count;
      return part;
    };
    if (f.tensor(n("attn_qkv.weight"))) {  // Q, K and V in one matrix (phi3)
      const Tensor qkv = get(n("attn_qkv.weight"), D, Q + 2 * KV, true);
      L.wq = rows(qkv, 0, Q);
      L.wk = rows(qkv, Q, KV);
      L.wv = rows(qkv, Q + KV, KV);
    } else {
      L.wq = get(n("attn_q.weight"), D, Q, true);
      L.wk = get(n("attn_k.weight"), D, KV, true);
      L.wv = get(n("attn_v.weight"), D, KV, true);
    }
    L.wo = get(n("attn_output.weight"), Q, D, true);
    if (arch_->encoder) {  // biases where the file has them; LayerNorms after attention and the FFN
      L.bo = vec(n("attn_output.bias"), D, false);
      L.attn_out_norm = vec(n("attn_output_norm.weight"), D, true);
      L.attn_out_norm_b = vec(n("attn_output_norm.bias"), D, true);
      L.layer_out_norm = vec(n("layer_output_norm.weight"), D, true);
      L.layer_out_norm_b = vec(n("layer_output_norm.bias"), D, true);
      L.b_up = vec(n("ffn_up.bias"), F, false);
      L.b_down = vec(n("ffn_down.bias"), D, false);
    }
    L.bq = vec(n("attn_q.bias"), Q, arch_->qkv_bias);
    L.bk = vec(n("attn_k.bias"), KV, arch_->qkv_bias);
    L.bv = vec(n("attn_v.bias"), KV, arch_->qkv_bias);
    if (arch_->qk_norm) {
      L.q_norm = vec(n("attn_q_norm.weight"), hp_.head_dim, true);
      L.k_norm = vec(n("attn_k_norm.weight"), hp_.head_dim, true);
    }
    if (!arch_->encoder) L.ffn_norm = vec(n("ffn_norm.weight"), D, true);
    if (arch_->gemma) {
      L.attn_post_norm = vec(n("post_attention_norm.weight"), D, true);
      L.ffn_post_norm = vec(n("post_ffw_norm.weight"), D, true);
    }
    if (hp_.n_expert > 0) {  // experts: ffn_*_exps hold every expert's rows, one expert after the other
      const int64_t E = hp_.n_expert, FE = hp_.n_ff_exp;
      L.router = get(n("ffn_gate_inp.weight"), D, E, true);
      const Tensor gate = get(n("ffn_gate_exps.weight"), D, FE * E, true);
      const Tensor up = get(n("ffn_up_exps.weight"), D, FE * E, true);
      const Tensor down = get(n("ffn_down_exps.weight"), FE, D * E, true);
      L.experts.resize(E);
      for (int64_t e = 0; e < E; ++e)
        L.experts[e] = {rows(gate, e * FE, FE), rows(up, e * FE, FE), rows(down, e * D, D)};
    } else if (arch_->fused_gate_up) {
      const Tensor gate_up = get(n("ffn_up.weight"), D, 2 * F, true);
      L.w_gate = rows(gate_up, 0, F);
      L.w_up = rows(gate_up, F, F);
      L.w_down = get(n("ffn_down.weight"), F, D, true);
    } else {
      if (!arch_->gelu_ffn) L.w_gate = get(n("ffn_gate.weight"), D, F, true);
      L.w_up = get(n("ffn_up.weight"), D, F, true);
      L.w_down = get(n("ffn_down.weight"), F, D, true);
    }
  }
}

void Model::prepare_weights() {
  std::vector<Tensor*> todo;
  // A mixture's experts are prepared as the one matrix per ffn_*_exps tensor they are stored in
  // (the cpu backend packs it on huge pages, so a token's scattered expert reads do not miss the
  // TLB on every 4 KiB), then viewed per expert.
  struct Stack {
    Tensor whole;
    std::vector<Tensor*> experts;
  };
  std::vector<Stack> stacks;
  for (auto& L : layers_) {
    for (Tensor* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
      if (*t) todo.push_back(t);
    }
    if (L.experts.empty()) continue;
    using Member = Tensor LayerWeights::Expert::*;
    for (Member m : {&LayerWeights::Expert::gate, &LayerWeights::Expert::up, &LayerWeights::Expert::down}) {
      Stack s{L.experts.front().*m, {}};
      s.whole.n_rows *= static_cast<int64_t>(L.experts.size());
      for (auto& ex : L.experts) s.experts.push_back(&(ex.*m));
      stacks.push_back(std::move(s));
    }
  }
  for (auto& s : stacks) todo.push_back(&s.whole);
  if (output_) todo.push_back(&output_);
  prepare_all(todo);
  for (auto& s : stacks) {
    if (!s.whole.prepared) continue;
    std::shared_ptr<const kernels::PreparedWeight> whole;
    for (const auto& p : prepared_)
      if (p.get() == s.whole.prepared) whole = p;
    const int64_t rows = s.experts.front()->n_rows;
    std::vector<std::shared_ptr<const kernels::PreparedWeight>> views;
    for (size_t e = 0; e < s.experts.size(); ++e) {
      views.push_back(backend_->rows_of(whole, static_cast<int64_t>(e) * rows, rows));
      if (!views.back()) break;
    }
    if (views.size() == s.experts.size() && views.back()) {
      for (size_t e = 0; e < views.size(); ++e) s.experts[e]->prepared = views[e].get();
      prepared_.insert(prepared_.end(), views.begin(), views.end());
      continue;
    }
    std::erase(prepared_, whole);  // the backend cannot split it there: each expert on its own
    prepare_all(s.experts);
  }
  if (token_embd_.data == output_.data) token_embd_.prepared = output_.prepared;
}

void Model::prepare_all(const std::vector<Tensor*>& todo) {
  std::vector<std::shared_ptr<const kernels::PreparedWeight>> done(todo.size());
  // Repacking is a memory shuffle: a few threads make loading a large model noticeably faster.
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::exception_ptr error;
  auto work = [&] {
    try {
      for (size_t i; (i = next.fetch_add(1)) < todo.size();) done[i] = backend_->prepare(*todo[i]);
    } catch (...) {
      std::lock_guard lock(mu);
      error = std::current_exception();
      next = todo.size();
    }
  };
  const int n = std::min<int>(4, std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  for (size_t i = 0; i < todo.size(); ++i) {
    if (!done[i]) continue;
    todo[i]->prepared = done[i].get();
    prepared_.push_back(std::move(done[i]));
#if defined(__linux__)
    // The backend reads only its prepared form from now on: let the file's pages go (they come
    // back from the page cache or the file if anything reads them, e.g. tied embeddings).
    if (todo[i]->data == token_embd_.data) continue;
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto b = reinterpret_cast<uintptr_t>(todo[i]->data);
    const uintptr_t lo = (b + page - 1) / page * page;
    const uintptr_t hi = (b + todo[i]->row_bytes() * static_cast<size_t>(todo[i]->n_rows)) / page * page;
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
#endif
  }
}

Expected<const kernels::Backend*> backend_named(std::string_view name) {
  if (const kernels::Backend* b = kernels::find_backend(name)) return b;
  std::string known;
  for (auto n : kernels::backend_names()) known += fmt::format("{}{}", known.empty() ? "" : ", ", n);
  return Error(ErrorCode::kInvalidArgument, fmt::format("unknown backend '{}' (known: {})", name, known));
}

size_t Model::bytes_per_token() const {
  size_t total = 0;
  for (const auto& L : layers_) {
    for (const Tensor* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down, &L.router})
      total += t->row_bytes() * t->n_rows;
    if (!L.experts.empty()) {  // a token reads its n_expert_used experts only
      const auto& ex = L.experts.front();
      size_t one = 0;
      for (const Tensor* t : {&ex.gate, &ex.up, &ex.down}) one += t->row_bytes() * t->n_rows;
      total += one * static_cast<size_t>(hp_.n_expert_used);
    }
  }
  total += output_.row_bytes() * output_.n_rows;
  return total;
}

}  // namespace llmchain::model
