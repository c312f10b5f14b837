// llmchain gen-model: writes a random-weight GGUF with the shape of a real
// model (for benchmarks), with the tokenizer metadata of a vocab GGUF.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "apps/command.h"
#include "base/ggml_types.h"
#include "base/log.h"
#include "base/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"

namespace llmchain::apps {
namespace {

struct Shape {
  int32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
};

struct GenOptions {
  std::string shape = "tinyllama", type = "q4_0", vocab, out;
  std::string arch = "llama";   // llama | qwen2 | qwen3 | phi3 | gemma2 | gemma3
  int32_t swa = 0;              // gemma2/3: attention.sliding_window (0: 512)
  int32_t swa_pattern = 0;      // gemma2/3: one global layer in this many (0: 2 for gemma2, 6 for gemma3)
  float attn_softcap = 50.0f;   // gemma2: attn_logit_softcapping
  float final_softcap = 30.0f;  // gemma2: final_logit_softcapping
  int32_t head_dim = 0;         // 0: n_embd / n_head
  int32_t experts = 0;          // > 0: a mixture of experts in every layer (llama: Mixtral's layout; qwen3: qwen3moe)
  int32_t experts_used = 2;
  int32_t expert_ff = 0;         // an expert's FFN width (0: the shape's n_ff)
  std::string pooling = "mean";  // bert / nomic-bert: mean | cls | last | rank (rank: with a classification head)
  uint64_t seed = 1;
  int32_t threads = 0;
};

Shape shape_by_name(const std::string& name) {
  if (name == "tinyllama") return {2048, 22, 32, 4, 5632, 32000, 2048};
  if (name == "llama-7b") return {4096, 32, 32, 32, 11008, 32000, 4096};
  if (name == "tiny") return {256, 2, 8, 2, 768, 32000, 512};
  usage_error("unknown shape '{}' (tinyllama, llama-7b, tiny)", name);
}

GgmlType parse_type(const std::string& t) {
  std::string u = t;
  std::transform(u.begin(), u.end(), u.begin(), ::toupper);
  for (uint32_t id = 0; id < 40; ++id) {
    const auto* info = ggml_type_info(id);
    if (info && u == info->name && kernels::can_quantize(static_cast<GgmlType>(id))) return static_cast<GgmlType>(id);
  }
  usage_error("unsupported weight type '{}'", t);
}

// llama.cpp's Q4_K_M / Q5_K_M rule: a third of the layers (plus the first and
// last eighth) keep more bits in attn_v and ffn_down.
bool use_more_bits(int il, int n_layer) {
  return il < n_layer / 8 || il >= 7 * n_layer / 8 || (il - n_layer / 8) % 3 == 2;
}

struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float normal() {  // Irwin-Hall approximation: good enough for random weights
    float acc = 0;
    for (int i = 0; i < 4; ++i) acc += static_cast<float>(next() >> 40) / static_cast<float>(1 << 24);
    return (acc - 2.0f) * 1.7320508f;
  }
};

int gen_model(const GenOptions& o) {
  init_command_logging("info");
  Shape sh = shape_by_name(o.shape);
  std::string mix = o.type;
  std::transform(mix.begin(), mix.end(), mix.begin(), ::tolower);
  GgmlType base_type, more_type, out_type;
  if (mix == "q4_k_m" || mix == "q5_k_m") {
    base_type = mix == "q4_k_m" ? GgmlType::Q4_K : GgmlType::Q5_K;
    more_type = out_type = GgmlType::Q6_K;
  } else {
    base_type = more_type = out_type = parse_type(o.type);
  }
  auto vocab = gguf::File::open(o.vocab).value();
  // As many token rows as the tokenizer has tokens (phi-3's has 32064, not the shape's 32000).
  if (const auto* toks = vocab->find("tokenizer.ggml.tokens"))
    sh.n_vocab = static_cast<int32_t>(toks->as_array().items.size());
  gguf::Writer w;
  w.copy_metadata(*vocab, {"general.architecture", "general.name"});
  const bool encoder = o.arch == "bert" || o.arch == "nomic-bert";
  if (o.arch != "llama" && o.arch != "qwen2" && o.arch != "qwen3" && o.arch != "phi3" && o.arch != "gemma2" &&
      o.arch != "gemma3" && !encoder) {
    usage_error("unknown architecture '{}' (llama, qwen2, qwen3, phi3, gemma2, gemma3, bert, nomic-bert)", o.arch);
  }
  static const std::vector<std::string> poolings = {"none", "mean", "cls", "last", "rank"};
  const auto pooling = std::find(poolings.begin(), poolings.end(), o.pooling) - poolings.begin();
  if (pooling == static_cast<std::ptrdiff_t>(poolings.size())) usage_error("unknown pooling '{}'", o.pooling);
  if (encoder) sh.n_head_kv = sh.n_head;
  const bool moe = o.experts > 0;
  if (moe && o.arch != "llama" && o.arch != "qwen3") usage_error("--experts needs --arch llama or qwen3");
  if (moe && (o.experts_used <= 0 || o.experts_used > o.experts)) usage_error("--experts-used must be 1..--experts");
  const std::string a = moe && o.arch == "qwen3" ? "qwen3moe" : o.arch;
  const int32_t FE = o.expert_ff > 0 ? o.expert_ff : sh.n_ff;
  const int32_t hd = o.head_dim > 0 ? o.head_dim : sh.n_embd / sh.n_head;
  if (hd % 2 != 0) usage_error("--head-dim must be even");
  w.set_string("general.architecture", a);
  w.set_string("general.name", "random-" + o.shape + "-" + a + "-" + mix);
  w.set_u32(a + ".context_length", sh.n_ctx);
  w.set_u32(a + ".embedding_length", sh.n_embd);
  w.set_u32(a + ".block_count", sh.n_layer);
  w.set_u32(a + ".feed_forward_length", sh.n_ff);
  w.set_u32(a + ".attention.head_count", sh.n_head);
  w.set_u32(a + ".attention.head_count_kv", sh.n_head_kv);
  w.set_u32(a + ".attention.key_length", hd);
  w.set_u32(a + ".attention.value_length", hd);
  w.set_u32(a + ".rope.dimension_count", hd);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", a == "llama" ? 1e-5f : 1e-6f);
  w.set_f32(a + ".rope.freq_base", a == "llama" ? 10000.0f : 1000000.0f);
  if (encoder) {
    w.set_f32(a + ".attention.layer_norm_epsilon", 1e-12f);
    w.set_u32(a + ".pooling_type", static_cast<uint32_t>(pooling));
    w.set_bool(a + ".attention.causal", false);
    if (!vocab->find("tokenizer.ggml.token_type_count")) w.set_u32("tokenizer.ggml.token_type_count", 2);
  }
  const bool gemma = a == "gemma2" || a == "gemma3";
  if (gemma) {
    w.set_u32(a + ".attention.sliding_window", o.swa > 0 ? o.swa : 512);
    w.set_u32(a + ".attention.sliding_window_pattern", o.swa_pattern > 0 ? o.swa_pattern : a == "gemma2" ? 2 : 6);
  }
  if (a == "gemma3") w.set_f32(a + ".rope.freq_base_swa", 10000.0f);
  if (a == "gemma2") {
    w.set_f32(a + ".attn_logit_softcapping", o.attn_softcap);
    w.set_f32(a + ".final_logit_softcapping", o.final_softcap);
  }
  if (moe) {
    w.set_u32(a + ".expert_count", o.experts);
    w.set_u32(a + ".expert_used_count", o.experts_used);
    if (a == "qwen3moe") w.set_u32(a + ".expert_feed_forward_length", FE);
  }

  ThreadPool pool(o.threads);
  uint64_t tensor_seed = o.seed;
  // rows split over `stack` matrices of rows / stack rows each (a 3-D tensor: experts).
  auto add_matrix = [&](const std::string& name, int64_t cols, int64_t rows, GgmlType t, float stddev,
                        int64_t stack = 1) {
    const size_t rb = ggml_row_bytes(t, cols);
    std::vector<uint8_t> data(rb * rows);
    const uint64_t seed = ++tensor_seed * 0x9E3779B97F4A7C15ull;
    pool.parallel_for(rows, [&](int64_t b, int64_t e, int) {
      std::vector<float> row(cols);
      for (int64_t r = b; r < e; ++r) {
        Rng rng{seed ^ (static_cast<uint64_t>(r + 1) * 0xD1B54A32D192ED03ull)};
        for (auto& x : row) x = rng.normal() * stddev;
        kernels::quantize_row(t, row.data(), data.data() + rb * r, cols);
      }
    });
    std::vector<int64_t> shape = {cols, rows};
    if (stack > 1) shape = {cols, rows / stack, stack};
    w.add_tensor(name, static_cast<uint32_t>(t), shape, data.data(), data.size());
  };
  auto add_ones = [&](const std::string& name, int64_t n) {
    std::vector<float> v(n, 1.0f);
    w.add_tensor(name, 0, {n}, v.data(), v.size() * 4);
  };
  // F32 vectors around `mean` (norm weights that are not all ones, biases).
  auto add_vector = [&](const std::string& name, int64_t n, float mean, float stddev) {
    Rng rng{++tensor_seed * 0x9E3779B97F4A7C15ull};
    std::vector<float> v(n);
    for (auto& x : v) x = mean + rng.normal() * stddev;
    w.add_tensor(name, 0, {n}, v.data(), v.size() * 4);
  };
  const int64_t D = sh.n_embd, Q = int64_t{hd} * sh.n_head, KV = int64_t{hd} * sh.n_head_kv, F = sh.n_ff;
  add_matrix("token_embd.weight", D, sh.n_vocab, base_type, 0.02f);
  if (encoder) {  // llama.cpp's bert / nomic-bert tensors (norms and biases in F32)
    add_matrix("token_types.weight", D, 2, GgmlType::F32, 0.02f);
    if (a == "bert") add_matrix("position_embd.weight", D, sh.n_ctx, GgmlType::F32, 0.02f);
    add_vector("token_embd_norm.weight", D, 1.0f, 0.1f);
    add_vector("token_embd_norm.bias", D, 0.0f, 0.1f);
    for (int il = 0; il < sh.n_layer; ++il) {
      auto n = [&](const char* s) { return fmt::format("blk.{}.{}", il, s); };
      if (a == "bert") {
        add_matrix(n("attn_q.weight"), D, Q, base_type, 0.05f);
        add_vector(n("attn_q.bias"), Q, 0.0f, 0.05f);
        add_matrix(n("attn_k.weight"), D, KV, base_type, 0.05f);
        add_vector(n("attn_k.bias"), KV, 0.0f, 0.05f);
        add_matrix(n("attn_v.weight"), D, KV, base_type, 0.05f);
        add_vector(n("attn_v.bias"), KV, 0.0f, 0.05f);
        add_matrix(n("attn_output.weight"), Q, D, base_type, 0.05f);
        add_vector(n("attn_output.bias"), D, 0.0f, 0.05f);
      } else {
        add_matrix(n("attn_qkv.weight"), D, Q + 2 * KV, base_type, 0.05f);
        add_matrix(n("attn_output.weight"), Q, D, base_type, 0.05f);
      }
      add_vector(n("attn_output_norm.weight"), D, 1.0f, 0.1f);
      add_vector(n("attn_output_norm.bias"), D, 0.0f, 0.1f);
      add_matrix(n("ffn_up.weight"), D, F, base_type, 0.05f);
      if (a == "bert") add_vector(n("ffn_up.bias"), F, 0.0f, 0.05f);
      if (a == "nomic-bert") add_matrix(n("ffn_gate.weight"), D, F, base_type, 0.05f);
      add_matrix(n("ffn_down.weight"), F, D, base_type, 0.05f);
      if (a == "bert") add_vector(n("ffn_down.bias"), D, 0.0f, 0.05f);
      add_vector(n("layer_output_norm.weight"), D, 1.0f, 0.1f);
      add_vector(n("layer_output_norm.bias"), D, 0.0f, 0.1f);
    }
    if (o.pooling == "rank") {  // a cross-encoder's head: dense + tanh, then one score
      add_matrix("cls.weight", D, D, GgmlType::F32, 0.1f);
      add_vector("cls.bias", D, 0.0f, 0.1f);
      add_matrix("cls.output.weight", D, 1, GgmlType::F32, 0.3f);
      add_vector("cls.output.bias", 1, 0.0f, 0.1f);
    }
    w.set_u32("general.file_type", 0);
    w.write(o.out).value();
    std::fprintf(stderr, "wrote %s\n", o.out.c_str());
    return 0;
  }
  for (int il = 0; il < sh.n_layer; ++il) {
    auto n = [&](const char* s) { return fmt::format("blk.{}.{}", il, s); };
    const bool more = use_more_bits(il, sh.n_layer);
    add_ones(n("attn_norm.weight"), D);
    if (a == "phi3") {  // Q, K and V in one matrix
      add_matrix(n("attn_qkv.weight"), D, Q + 2 * KV, more ? more_type : base_type, 0.02f);
    } else {
      add_matrix(n("attn_q.weight"), D, Q, base_type, 0.02f);
      add_matrix(n("attn_k.weight"), D, KV, base_type, 0.02f);
      add_matrix(n("attn_v.weight"), D, KV, more ? more_type : base_type, 0.02f);
    }
    add_matrix(n("attn_output.weight"), Q, D, base_type, 0.02f);
    if (a == "qwen2") {
      add_vector(n("attn_q.bias"), Q, 0.0f, 0.02f);
      add_vector(n("attn_k.bias"), KV, 0.0f, 0.02f);
      add_vector(n("attn_v.bias"), KV, 0.0f, 0.02f);
    }
    if (gemma) add_vector(n("post_attention_norm.weight"), D, 1.0f, 0.2f);
    if (a == "qwen3" || a == "qwen3moe" || a == "gemma3") {
      add_vector(n("attn_q_norm.weight"), hd, 1.0f, 0.2f);
      add_vector(n("attn_k_norm.weight"), hd, 1.0f, 0.2f);
    }
    add_ones(n("ffn_norm.weight"), D);
    if (moe) {  // the router (F32, as llama.cpp keeps it), then every expert's rows in one tensor each
      add_matrix(n("ffn_gate_inp.weight"), D, o.experts, GgmlType::F32, 0.5f);
      add_matrix(n("ffn_gate_exps.weight"), D, int64_t{FE} * o.experts, base_type, 0.02f, o.experts);
      add_matrix(n("ffn_up_exps.weight"), D, int64_t{FE} * o.experts, base_type, 0.02f, o.experts);
    } else if (a == "phi3") {  // gate and up in one matrix, the gate's rows first
      add_matrix(n("ffn_up.weight"), D, 2 * F, base_type, 0.02f);
    } else {
      add_matrix(n("ffn_gate.weight"), D, F, base_type, 0.02f);
      add_matrix(n("ffn_up.weight"), D, F, base_type, 0.02f);
    }
    if (moe) {
      add_matrix(n("ffn_down_exps.weight"), FE, D * o.experts, more ? more_type : base_type, 0.02f, o.experts);
    } else {
      add_matrix(n("ffn_down.weight"), F, D, more ? more_type : base_type, 0.02f);
    }
    if (gemma) add_vector(n("post_ffw_norm.weight"), D, 1.0f, 0.2f);
    LLMC_LOG_INFO("layer {}/{}", il + 1, sh.n_layer);
  }
  add_ones("output_norm.weight", D);
  if (a != "gemma2") add_matrix("output.weight", D, sh.n_vocab, out_type, 0.02f);  // gemma2: always tied
  w.set_u32("general.file_type", 0);
  w.write(o.out).value();
  std::fprintf(stderr, "wrote %s\n", o.out.c_str());
  return 0;
}

LLMC_REGISTER_COMMAND(gen_model, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<GenOptions>();
  auto* sub = app.add_subcommand("gen-model", "Write a random-weight GGUF of a real model's shape (benchmarks)");
  sub->add_option("--shape", o->shape, "tinyllama | llama-7b | tiny");
  sub->add_option("--type", o->type,
                  "f16 | bf16 | f32 | q8_0 | q4_0 | q4_1 | q5_0 | q5_1 | q4_k | q5_k | q6_k | q4_k_m | q5_k_m");
  sub->add_option("--vocab", o->vocab, "GGUF whose tokenizer metadata to copy")->required();
  sub->add_option("-o,--output", o->out, "output GGUF")->required();
  sub->add_option("--seed", o->seed, "random seed");
  sub->add_option("--arch", o->arch,
                  "llama | qwen2 | qwen3 | phi3 | gemma2 | gemma3 | bert | nomic-bert (general.architecture and its "
                  "tensors)");
  sub->add_option("--pooling", o->pooling, "bert / nomic-bert: mean | cls | last | none | rank (rank: a reranker)");
  sub->add_option("--head-dim", o->head_dim, "attention head size (default n_embd / n_head)");
  sub->add_option("--swa", o->swa, "gemma2/3: sliding window (default 512)");
  sub->add_option("--swa-pattern", o->swa_pattern,
                  "gemma2/3: one global layer in this many (default 2 for gemma2, 6 for gemma3)");
  // Gemma 2's caps (50, 30) leave random weights' small scores and logits all but unchanged: tests
  // set low caps so that the soft-capping arithmetic shows.
  sub->add_option("--attn-softcap", o->attn_softcap, "gemma2: attention-logit soft-capping (default 50)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--final-softcap", o->final_softcap, "gemma2: final-logit soft-capping (default 30)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--experts", o->experts, "experts per layer (llama: Mixtral layout; qwen3: qwen3moe)");
  sub->add_option("--experts-used", o->experts_used, "experts chosen per token (default 2)");
  sub->add_option("--expert-ff", o->expert_ff, "an expert's FFN width (default the shape's)");
  sub->add_option("-t,--threads", o->threads, "threads");
  return {sub, [o] { return gen_model(*o); }};
});

}  // namespace
}  // namespace llmchain::apps
