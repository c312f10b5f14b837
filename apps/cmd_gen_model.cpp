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
  const Shape sh = shape_by_name(o.shape);
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
  gguf::Writer w;
  w.copy_metadata(*vocab, {"general.architecture", "general.name"});
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "random-" + o.shape + "-" + mix);
  w.set_u32("llama.context_length", sh.n_ctx);
  w.set_u32("llama.embedding_length", sh.n_embd);
  w.set_u32("llama.block_count", sh.n_layer);
  w.set_u32("llama.feed_forward_length", sh.n_ff);
  w.set_u32("llama.attention.head_count", sh.n_head);
  w.set_u32("llama.attention.head_count_kv", sh.n_head_kv);
  w.set_u32("llama.rope.dimension_count", sh.n_embd / sh.n_head);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f32("llama.rope.freq_base", 10000.0f);

  ThreadPool pool(o.threads);
  uint64_t tensor_seed = o.seed;
  auto add_matrix = [&](const std::string& name, int64_t cols, int64_t rows, GgmlType t, float stddev) {
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
    w.add_tensor(name, static_cast<uint32_t>(t), {cols, rows}, data.data(), data.size());
  };
  auto add_ones = [&](const std::string& name, int64_t n) {
    std::vector<float> v(n, 1.0f);
    w.add_tensor(name, 0, {n}, v.data(), v.size() * 4);
  };
  const int64_t D = sh.n_embd, KV = sh.n_embd / sh.n_head * sh.n_head_kv, F = sh.n_ff;
  add_matrix("token_embd.weight", D, sh.n_vocab, base_type, 0.02f);
  for (int il = 0; il < sh.n_layer; ++il) {
    auto n = [&](const char* s) { return fmt::format("blk.{}.{}", il, s); };
    const bool more = use_more_bits(il, sh.n_layer);
    add_ones(n("attn_norm.weight"), D);
    add_matrix(n("attn_q.weight"), D, D, base_type, 0.02f);
    add_matrix(n("attn_k.weight"), D, KV, base_type, 0.02f);
    add_matrix(n("attn_v.weight"), D, KV, more ? more_type : base_type, 0.02f);
    add_matrix(n("attn_output.weight"), D, D, base_type, 0.02f);
    add_ones(n("ffn_norm.weight"), D);
    add_matrix(n("ffn_gate.weight"), D, F, base_type, 0.02f);
    add_matrix(n("ffn_up.weight"), D, F, base_type, 0.02f);
    add_matrix(n("ffn_down.weight"), F, D, more ? more_type : base_type, 0.02f);
    LLMC_LOG_INFO("layer {}/{}", il + 1, sh.n_layer);
  }
  add_ones("output_norm.weight", D);
  add_matrix("output.weight", D, sh.n_vocab, out_type, 0.02f);
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
  sub->add_option("-t,--threads", o->threads, "threads");
  return {sub, [o] { return gen_model(*o); }};
});

}  // namespace
}  // namespace llmchain::apps
