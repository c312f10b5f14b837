#include "model/quantize.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "base/thread_pool.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"

namespace llmchain::model {
namespace {

constexpr int64_t kQK_K = 256;

struct TargetDef {
  const char* name;
  GgmlType base;
  int32_t file_type;
  bool more_bits;
};

// LLAMA_FTYPE numbers from llama.h.
constexpr TargetDef kTargets[] = {
    {"F32", GgmlType::F32, 0, false},      {"F16", GgmlType::F16, 1, false},      {"Q4_0", GgmlType::Q4_0, 2, false},
    {"Q4_1", GgmlType::Q4_1, 3, false},    {"Q8_0", GgmlType::Q8_0, 7, false},    {"Q5_0", GgmlType::Q5_0, 8, false},
    {"Q5_1", GgmlType::Q5_1, 9, false},    {"Q4_K_S", GgmlType::Q4_K, 14, false}, {"Q4_K_M", GgmlType::Q4_K, 15, true},
    {"Q5_K_S", GgmlType::Q5_K, 16, false}, {"Q5_K_M", GgmlType::Q5_K, 17, true},  {"Q6_K", GgmlType::Q6_K, 18, false},
    {"BF16", GgmlType::BF16, 32, false},   {"Q4_K", GgmlType::Q4_K, 15, false},   {"Q5_K", GgmlType::Q5_K, 17, false},
};

bool is_k_quant(GgmlType t) {
  return t == GgmlType::Q2_K || t == GgmlType::Q3_K || t == GgmlType::Q4_K || t == GgmlType::Q5_K ||
         t == GgmlType::Q6_K;
}

bool is_quantized(GgmlType t) { return t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16; }

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Layer index of "blk.N.*" tensors, -1 otherwise.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int il = 0;
  size_t i = 4;
  if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i) il = il * 10 + (name[i] - '0');
  return il;
}

// llama.cpp quantizes 2-D+ tensors named *weight, except norms and a few small ones.
bool should_quantize(const std::string& name, const std::vector<int64_t>& shape) {
  if (shape.size() < 2 || !ends_with(name, "weight")) return false;
  for (const char* skip : {"_norm.weight", "ffn_gate_inp.weight", "pos_embd", "token_types", "rope_freqs"})
    if (name.find(skip) != std::string::npos) return false;
  return true;
}

}  // namespace

Expected<QuantTarget> parse_quant_target(const std::string& name) {
  std::string u = name;
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::toupper(c); });
  for (const auto& d : kTargets)
    if (u == d.name) return QuantTarget{d.name, d.base, d.file_type, d.more_bits};
  std::string all;
  for (const auto& n : quant_target_names()) all += (all.empty() ? "" : ", ") + n;
  return Error(ErrorCode::kInvalidArgument, fmt::format("unknown quantization type '{}' (known: {})", name, all));
}

std::vector<std::string> quant_target_names() {
  std::vector<std::string> v;
  for (const auto& d : kTargets) v.push_back(d.name);
  return v;
}

bool use_more_bits(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

namespace {
GgmlType choose_type(const QuantTarget& t, const std::string& name, const std::vector<int64_t>& shape, GgmlType in_type,
                     int n_layer, bool tied, bool* fell_back) {
  *fell_back = false;
  if (!should_quantize(name, shape)) return in_type;
  const int64_t nx = shape[0];
  GgmlType nt = t.base;
  if (is_quantized(t.base)) {
    // The llama_tensor_get_type rules for the tensors llmchain's architectures have.
    const bool is_output = name == "output.weight" || (tied && name == "token_embd.weight");
    const int il = layer_of(name);
    if (is_output) {
      if (nx % kQK_K != 0)
        nt = GgmlType::Q8_0;
      else if (nt != GgmlType::Q8_0)
        nt = GgmlType::Q6_K;
    } else if (t.mix_more_bits && il >= 0 && (ends_with(name, "attn_v.weight") || ends_with(name, "ffn_down.weight"))) {
      if (use_more_bits(il, n_layer)) nt = GgmlType::Q6_K;
    } else if (t.name == "Q4_K_S" && il >= 0 && ends_with(name, "ffn_down.weight") && il < n_layer / 8) {
      nt = GgmlType::Q5_K;
    }
    // K-quants need rows of 256: fall back to the legacy type of similar size, as llama.cpp does.
    if (is_k_quant(nt) && nx % kQK_K != 0) {
      *fell_back = true;
      switch (nt) {
        case GgmlType::Q4_K: nt = GgmlType::Q5_0; break;
        case GgmlType::Q5_K: nt = GgmlType::Q5_1; break;
        case GgmlType::Q6_K: nt = GgmlType::Q8_0; break;
        default: nt = GgmlType::Q4_0; break;
      }
    }
  }
  const auto* info = ggml_type_info(nt);
  if (!info || nx % info->block_size != 0) return in_type == GgmlType::F32 ? GgmlType::F16 : in_type;
  return nt;
}
}  // namespace

GgmlType choose_tensor_type(const QuantTarget& t, const std::string& name, const std::vector<int64_t>& shape,
                            GgmlType in_type, int n_layer, bool tied) {
  bool fell_back = false;
  return choose_type(t, name, shape, in_type, n_layer, tied, &fell_back);
}

Expected<QuantizeReport> quantize_file(const std::string& in_path, const std::string& out_path,
                                       const std::string& target, const QuantizeOptions& opts) {
  return capture([&]() -> QuantizeReport {
    const QuantTarget qt = parse_quant_target(target).value();
    auto in = gguf::File::open(in_path).value();
    const std::string arch = in->architecture();
    const int n_layer = static_cast<int>(in->get_int(arch + ".block_count", 0));
    const bool tied = in->tensor("output.weight") == nullptr;

    QuantizeReport rep;
    int64_t total = 0, done = 0;
    for (const auto& ti : in->tensors()) total += ti.n_elements();

    gguf::Writer w;
    w.copy_metadata(*in);
    w.set_u32("general.file_type", static_cast<uint32_t>(qt.file_type));
    if (is_quantized(qt.base)) w.set_u32("general.quantization_version", 2);
    if (in->alignment() != 32) w.set_alignment(static_cast<uint32_t>(in->alignment()));

    ThreadPool pool(opts.threads);
    bool warned_requant = false;
    for (const auto& ti : in->tensors()) {
      const auto in_type = static_cast<GgmlType>(ti.type);
      bool fell_back = false;
      const GgmlType out_type = choose_type(qt, ti.name, ti.shape, in_type, n_layer, tied, &fell_back);
      if (fell_back) ++rep.n_fallback;
      ++rep.n_tensors;
      rep.in_bytes += ti.size_bytes;
      if (out_type == in_type) {
        w.add_tensor(ti.name, ti.type, ti.shape, ti.data, ti.size_bytes);
        rep.out_bytes += ti.size_bytes;
      } else {
        const auto* iinfo = ggml_type_info(in_type);
        if (!iinfo) fail(ErrorCode::kUnsupported, "{}: tensor '{}' has unknown type {}", in_path, ti.name, ti.type);
        if (!kernels::can_quantize(out_type))
          fail(ErrorCode::kUnsupported, "{}: cannot quantize tensor '{}' to {}", in_path, ti.name,
               ggml_type_name(static_cast<uint32_t>(out_type)));
        if (is_quantized(in_type) && !warned_requant) {
          rep.warnings.push_back(fmt::format(
              "{}: tensor '{}' is already {}: re-quantizing from its dequantized values loses more precision", in_path,
              ti.name, iinfo->name));
          warned_requant = true;
        }
        const int64_t cols = ti.shape[0];
        const int64_t rows = ti.n_elements() / cols;
        const size_t in_rb = ggml_row_bytes(in_type, cols);
        const size_t out_rb = ggml_row_bytes(out_type, cols);
        if (in_rb == 0 || out_rb == 0)
          fail(ErrorCode::kInvalidFile, "{}: tensor '{}' has rows of {} elements, not a multiple of the block size",
               in_path, ti.name, cols);
        std::vector<uint8_t> out(out_rb * rows);
        pool.parallel_for(rows, [&](int64_t b, int64_t e, int) {
          std::vector<float> row(cols);
          for (int64_t r = b; r < e; ++r) {
            kernels::dequantize_row(in_type, ti.data + in_rb * r, row.data(), cols);
            kernels::quantize_row(out_type, row.data(), out.data() + out_rb * r, cols);
          }
        });
        w.add_tensor(ti.name, static_cast<uint32_t>(out_type), ti.shape, out.data(), out.size());
        rep.out_bytes += out.size();
        ++rep.n_quantized;
      }
      done += ti.n_elements();
      if (opts.progress) opts.progress(done, total);
    }
    w.write(out_path).value();
    return rep;
  });
}

}  // namespace llmchain::model
