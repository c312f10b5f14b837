// The two backends: cpu (SIMD kernels of the running CPU, packed weights) and reference (the
// scalar twins, weights as stored). Row ops that are plain loops (ops.cpp) are shared; the ones
// with SIMD twins (f16 conversions, attention) and the products differ.
#include "kernels/backend.h"

#include <cstdlib>
#include <cstring>

#include "base/error.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"

namespace llmchain::kernels {
namespace {

// The cpu backend's form of a matrix: its packed layout, or a row view of a packed matrix.
struct CpuWeight final : PreparedWeight {
  std::unique_ptr<PackedWeights> packed;
  std::shared_ptr<const PreparedWeight> owner;  // the matrix a row view is of
};

const PackedWeights* packed_of(const Weight& w) {
  return w.prepared ? static_cast<const CpuWeight*>(w.prepared)->packed.get() : nullptr;
}

// The row ops both backends compute with the same loops.
class PlainRowOps : public Backend {
 public:
  void get_row(const Weight& w, int64_t row, float* y) const override {
    dequantize_row(w.type, static_cast<const uint8_t*>(w.data) + w.row_bytes() * static_cast<size_t>(row), y, w.n_cols);
  }
  void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) const override {
    ops::rms_norm(x, w, y, n, eps);
  }
  void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps) const override {
    ops::layer_norm(x, w, b, y, n, eps);
  }
  void rope(float* x, int n_heads, int head_dim, int n_rot, int32_t pos, float freq_base, float freq_scale,
            ops::RopeOrder order, const float* freq_factors) const override {
    ops::rope(x, n_heads, head_dim, n_rot, pos, freq_base, freq_scale, order, freq_factors);
  }
  void silu_mul(const float* g, const float* u, float* y, int64_t n) const override { ops::silu_mul(g, u, y, n); }
  void gelu_mul(const float* g, const float* u, float* y, int64_t n) const override { ops::gelu_mul(g, u, y, n); }
  void gelu(const float* x, float* y, int64_t n) const override { ops::gelu(x, y, n); }
  void add(float* y, const float* x, int64_t n) const override { ops::add(y, x, n); }
};

class CpuBackend final : public PlainRowOps {
 public:
  std::string_view name() const override { return "cpu"; }

  // Packed layouts pay off with the AVX-512 VNNI kernels only; elsewhere the stored layout's
  // kernels are as fast. LLMCHAIN_REPACK=0 turns repacking off (to compare).
  std::shared_ptr<const PreparedWeight> prepare(const Weight& w) const override {
    static const bool enabled = [] {
      const char* env = std::getenv("LLMCHAIN_REPACK");
      return !(env && std::strcmp(env, "0") == 0);
    }();
    if (!enabled || !PackedWeights::fast_path_available() || active_isa() != Isa::kAvx512 ||
        !PackedWeights::supported(w.type, w.n_rows, w.n_cols))
      return nullptr;
    auto p = std::make_shared<CpuWeight>();
    p->packed = PackedWeights::pack(w.type, w.data, w.n_rows, w.n_cols);
    return p;
  }

  std::shared_ptr<const PreparedWeight> rows_of(std::shared_ptr<const PreparedWeight> of, int64_t first,
                                                int64_t n) const override {
    const auto* whole = of ? static_cast<const CpuWeight*>(of.get())->packed.get() : nullptr;
    // A view starts and ends on a group of kPackRows rows (the kernels write whole groups).
    if (!whole || first % kPackRows != 0 || n % kPackRows != 0 || first + n > whole->rows()) return nullptr;
    auto p = std::make_shared<CpuWeight>();
    p->packed = PackedWeights::rows_view(*whole, first, n);
    p->owner = std::move(of);
    return p;
  }

  void linear(const Weight& w, const float* x, float* y, int64_t rows, ThreadPool& pool) const override {
    if (const PackedWeights* p = packed_of(w)) {
      const PackedProduct prod{p, y, w.n_rows};
      matmul_packed(&prod, 1, x, rows, pool);
      return;
    }
    matmul(w.type, w.data, w.n_rows, w.n_cols, x, rows, y, w.n_rows, pool);
  }

  // One activation quantization and one fork-join for all products when every matrix is packed
  // with the same activation format; otherwise one product at a time.
  void linear_multi(std::span<const Product> products, const float* x, int64_t rows, ThreadPool& pool) const override {
    thread_local std::vector<PackedProduct> packed;
    packed.clear();
    for (const Product& p : products) {
      const PackedWeights* pw = packed_of(*p.w);
      if (!pw || !PackedWeights::compatible(p.w->type, products.front().w->type)) {
        for (const Product& q : products) linear(*q.w, x, q.y, rows, pool);
        return;
      }
      packed.push_back({pw, p.y, p.w->n_rows});
    }
    if (!packed.empty()) matmul_packed(packed.data(), static_cast<int>(packed.size()), x, rows, pool);
  }

  void to_f16(const float* x, uint16_t* y, int64_t n) const override { ops::fp32_to_fp16_row(x, y, n); }
  void attend_f16(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_pos, int head_dim,
                  float scale, float softcap, float* out, float* q16, uint16_t* acc16) const override {
    ops::attend_f16(q, k, v, stride, n_pos, head_dim, scale, softcap, out, q16, acc16);
  }
};

class ReferenceBackend final : public PlainRowOps {
 public:
  std::string_view name() const override { return "reference"; }
  std::shared_ptr<const PreparedWeight> prepare(const Weight&) const override { return nullptr; }
  std::shared_ptr<const PreparedWeight> rows_of(std::shared_ptr<const PreparedWeight>, int64_t,
                                                int64_t) const override {
    return nullptr;
  }
  void linear(const Weight& w, const float* x, float* y, int64_t rows, ThreadPool& pool) const override {
    matmul(w.type, w.data, w.n_rows, w.n_cols, x, rows, y, w.n_rows, pool, Isa::kScalar);
  }
  void linear_multi(std::span<const Product> products, const float* x, int64_t rows, ThreadPool& pool) const override {
    for (const Product& p : products) linear(*p.w, x, p.y, rows, pool);
  }
  void to_f16(const float* x, uint16_t* y, int64_t n) const override { ops::ref::fp32_to_fp16_row(x, y, n); }
  void attend_f16(const float* q, const uint16_t* k, const uint16_t* v, int64_t stride, int n_pos, int head_dim,
                  float scale, float softcap, float* out, float* q16, uint16_t* acc16) const override {
    ops::ref::attend_f16(q, k, v, stride, n_pos, head_dim, scale, softcap, out, q16, acc16);
  }
};

}  // namespace

const Backend& cpu_backend() {
  static const CpuBackend b;
  return b;
}

const Backend& reference_backend() {
  static const ReferenceBackend b;
  return b;
}

const Backend* find_backend(std::string_view name) {
  for (const Backend* b : {&cpu_backend(), &reference_backend()})
    if (b->name() == name) return b;
  return nullptr;
}

std::vector<std::string_view> backend_names() { return {cpu_backend().name(), reference_backend().name()}; }

}  // namespace llmchain::kernels
