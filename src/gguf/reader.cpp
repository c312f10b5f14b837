// GGUF v2/v3 reader. Every read is bounds-checked against the mapping, every
// count is checked against the bytes left before anything is reserved, and
// every failure names the file, the item (key or tensor) and the problem.
//
// Layout (little-endian): "GGUF" u32 version, u64 n_tensors, u64 n_kv,
// n_kv x {string key, u32 type, value}, n_tensors x {string name, u32 n_dims,
// u64 ne[n_dims], u32 ggml_type, u64 offset}, padding to the alignment, data.
// A string is u64 length + bytes; an array is u32 item type, u64 count, items.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "base/ggml_types.h"
#include "gguf/gguf.h"

namespace llmchain::gguf {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kMagic = 0x46554747;                  // "GGUF" read as little-endian u32
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims, type, offset

uint64_t min_item_bytes(ValueType t) {
  if (t == ValueType::kString) return 8;
  if (t == ValueType::kArray) return 4 + 8;
  return value_type_size(t);
}

}  // namespace

class Parser {
 public:
  Parser(File& f) : f_(f), p_(f.map_.data()), size_(f.map_.size()) {}

  void run() {
    read_header();
    for (uint64_t i = 0; i < n_kv_; ++i) read_kv(i);
    apply_alignment();
    for (uint64_t i = 0; i < n_tensors_; ++i) read_tensor_info(i);
    place_data();
  }

 private:
  template <typename... Args>
  [[noreturn]] void error(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
    std::string msg = fmt::format(f, std::forward<Args>(args)...);
    if (ctx_.empty()) throw Error(code, fmt::format("{}: {}", f_.path(), msg));
    throw Error(code, fmt::format("{}: {}: {}", f_.path(), ctx_, msg));
  }

  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const char* what) {
    if (n > remaining()) {
      error(ErrorCode::kInvalidFile, "{} at offset {} needs {} bytes but only {} remain (truncated file?)", what, pos_,
            n, remaining());
    }
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T x;
    std::memcpy(&x, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return x;
  }

  std::string read_string(const char* what, uint64_t max_len) {
    uint64_t at = pos_;
    uint64_t len = read<uint64_t>(what);
    if (len > remaining()) {
      error(ErrorCode::kInvalidFile, "{} at offset {} has length {} but only {} bytes remain", what, at, len,
            remaining());
    }
    if (len > max_len) error(ErrorCode::kInvalidFile, "{} at offset {} has length {} (max {})", what, at, len, max_len);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

  ValueType read_type(const char* what) {
    uint64_t at = pos_;
    uint32_t t = read<uint32_t>(what);
    if (!value_type_valid(t)) error(ErrorCode::kInvalidFile, "unknown {} {} at offset {}", what, t, at);
    return static_cast<ValueType>(t);
  }

  void read_header() {
    if (size_ < 4) error(ErrorCode::kInvalidFile, "not a GGUF file (only {} bytes)", size_);
    uint32_t magic = read<uint32_t>("magic");
    if (magic != kMagic) {
      error(ErrorCode::kInvalidFile, "not a GGUF file (magic {:02x} {:02x} {:02x} {:02x}, expected \"GGUF\")", p_[0],
            p_[1], p_[2], p_[3]);
    }
    uint32_t version = read<uint32_t>("version");
    if (version == 1) error(ErrorCode::kUnsupported, "unsupported GGUF version 1 (only versions 2 and 3 are read)");
    if (version != 2 && version != 3) {
      if (version != 0 && (version & 0xffff) == 0) {
        error(ErrorCode::kUnsupported, "unsupported GGUF version {} (a big-endian file?)", version);
      }
      error(ErrorCode::kUnsupported, "unsupported GGUF version {} (only versions 2 and 3 are read)", version);
    }
    f_.version_ = version;
    n_tensors_ = read<uint64_t>("tensor count");
    n_kv_ = read<uint64_t>("metadata count");
    // Each entry takes a minimum number of bytes, so hostile counts fail here, before any loop.
    if (n_kv_ > remaining() / kMinKvBytes) {
      error(ErrorCode::kInvalidFile, "metadata count {} cannot fit in the {} bytes left", n_kv_, remaining());
    }
    if (n_tensors_ > remaining() / kMinTensorInfoBytes) {
      error(ErrorCode::kInvalidFile, "tensor count {} cannot fit in the {} bytes left", n_tensors_, remaining());
    }
    if (n_kv_ * kMinKvBytes + n_tensors_ * kMinTensorInfoBytes > remaining()) {  // both bounded above: no overflow
      error(ErrorCode::kInvalidFile, "{} metadata entries and {} tensor infos cannot fit in the {} bytes left", n_kv_,
            n_tensors_, remaining());
    }
    // Counts are only bounded by the file size here; let vectors of big ones grow as entries are read.
    f_.kv_.reserve(static_cast<size_t>(std::min<uint64_t>(n_kv_, 4096)));
    f_.tensors_.reserve(static_cast<size_t>(std::min<uint64_t>(n_tensors_, 4096)));
  }

  void read_kv(uint64_t i) {
    ctx_ = fmt::format("metadata #{}", i);
    std::string key = read_string("key", kMaxKeyLength);
    ctx_ = fmt::format("key '{}'", key);
    if (f_.kv_index_.count(key)) error(ErrorCode::kInvalidFile, "duplicate key");
    ValueType t = read_type("value type");
    Value v = read_value(t, 0);
    f_.kv_index_.emplace(key, f_.kv_.size());
    f_.kv_.emplace_back(std::move(key), std::move(v));
    ctx_.clear();
  }

  Value read_value(ValueType t, int depth) {
    Value v;
    v.type = t;
    switch (t) {
      case ValueType::kUint8: v.v = uint64_t{read<uint8_t>("uint8 value")}; break;
      case ValueType::kInt8: v.v = int64_t{read<int8_t>("int8 value")}; break;
      case ValueType::kUint16: v.v = uint64_t{read<uint16_t>("uint16 value")}; break;
      case ValueType::kInt16: v.v = int64_t{read<int16_t>("int16 value")}; break;
      case ValueType::kUint32: v.v = uint64_t{read<uint32_t>("uint32 value")}; break;
      case ValueType::kInt32: v.v = int64_t{read<int32_t>("int32 value")}; break;
      case ValueType::kUint64: v.v = read<uint64_t>("uint64 value"); break;
      case ValueType::kInt64: v.v = read<int64_t>("int64 value"); break;
      case ValueType::kFloat32: v.v = double{read<float>("float32 value")}; break;
      case ValueType::kFloat64: v.v = read<double>("float64 value"); break;
      case ValueType::kBool: {
        uint64_t at = pos_;
        uint8_t b = read<uint8_t>("bool value");
        if (b > 1) error(ErrorCode::kInvalidFile, "bool at offset {} is {} (must be 0 or 1)", at, b);
        v.v = b == 1;
        break;
      }
      case ValueType::kString: v.v = read_string("string", std::numeric_limits<uint64_t>::max()); break;
      case ValueType::kArray: v.v = read_array(depth + 1); break;
    }
    return v;
  }

  Array read_array(int depth) {
    if (depth > kMaxArrayDepth) {
      error(ErrorCode::kInvalidFile, "arrays nested deeper than {} levels at offset {}", kMaxArrayDepth, pos_);
    }
    Array a;
    a.type = read_type("array item type");
    uint64_t at = pos_;
    uint64_t count = read<uint64_t>("array count");
    uint64_t min_bytes = min_item_bytes(a.type);
    if (count > remaining() / min_bytes) {
      error(ErrorCode::kInvalidFile, "array of {} at offset {} has {} items but only {} bytes remain",
            value_type_name(a.type), at, count, remaining());
    }
    if (count > kMaxMetadataItems - items_) {
      error(ErrorCode::kResourceExhausted, "array at offset {} has {} items: over the limit of {} metadata items", at,
            count, kMaxMetadataItems);
    }
    items_ += count;
    a.items.reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i) a.items.push_back(read_value(a.type, depth));
    return a;
  }

  void apply_alignment() {
    const Value* v = f_.find("general.alignment");
    if (!v) return;
    ctx_ = "key 'general.alignment'";
    if (!v->is_integer()) error(ErrorCode::kInvalidFile, "must be an integer, got {}", value_type_name(v->type));
    if (v->type == ValueType::kInt8 || v->type == ValueType::kInt16 || v->type == ValueType::kInt32 ||
        v->type == ValueType::kInt64) {
      if (std::get<int64_t>(v->v) <= 0) error(ErrorCode::kInvalidFile, "must be positive, got {}", v->as_int());
    }
    uint64_t a = v->as_uint();
    if (a == 0 || !std::has_single_bit(a)) error(ErrorCode::kInvalidFile, "must be a nonzero power of two, got {}", a);
    if (a > (uint64_t{1} << 30)) error(ErrorCode::kInvalidFile, "alignment {} is too large (max 2^30)", a);
    f_.alignment_ = a;
    ctx_.clear();
  }

  void read_tensor_info(uint64_t i) {
    ctx_ = fmt::format("tensor #{}", i);
    TensorInfo t;
    t.name = read_string("tensor name", kMaxTensorNameLength);
    ctx_ = fmt::format("tensor '{}'", t.name);
    if (f_.tensor_index_.count(t.name)) error(ErrorCode::kInvalidFile, "duplicate tensor name");
    uint32_t n_dims = read<uint32_t>("n_dims");
    if (n_dims == 0 || n_dims > kMaxDims)
      error(ErrorCode::kInvalidFile, "n_dims is {} (must be 1..{})", n_dims, kMaxDims);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = read<uint64_t>("dimension");
      if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        error(ErrorCode::kInvalidFile, "dimension {} is {} (must be > 0)", d, ne);
      }
      if (__builtin_mul_overflow(n_elements, static_cast<int64_t>(ne), &n_elements)) {
        error(ErrorCode::kInvalidFile, "element count overflows (dimension {} is {})", d, ne);
      }
      t.shape.push_back(static_cast<int64_t>(ne));
    }
    t.type = read<uint32_t>("tensor type");
    const GgmlTypeInfo* ti = ggml_type_info(t.type);
    if (!ti) error(ErrorCode::kInvalidFile, "unknown ggml type {}", t.type);
    if (t.shape[0] % ti->block_size != 0) {
      error(ErrorCode::kInvalidFile, "row length {} is not a multiple of the {} block size {}", t.shape[0], ti->name,
            ti->block_size);
    }
    uint64_t n_blocks = static_cast<uint64_t>(n_elements / ti->block_size);
    if (__builtin_mul_overflow(n_blocks, static_cast<uint64_t>(ti->block_bytes), &t.size_bytes)) {
      error(ErrorCode::kInvalidFile, "byte size of {} {} elements overflows", n_elements, ti->name);
    }
    t.offset = read<uint64_t>("tensor offset");
    if (t.offset % f_.alignment_ != 0) {
      error(ErrorCode::kInvalidFile, "data offset {} is not a multiple of the alignment {}", t.offset, f_.alignment_);
    }
    f_.tensor_index_.emplace(t.name, f_.tensors_.size());
    f_.tensors_.push_back(std::move(t));
    ctx_.clear();
  }

  void place_data() {
    uint64_t a = f_.alignment_;
    uint64_t data_offset = (pos_ + a - 1) / a * a;  // pos_ <= size_ and a <= 2^30: cannot overflow
    f_.data_offset_ = data_offset;
    if (f_.tensors_.empty()) return;
    if (data_offset > size_) {
      error(ErrorCode::kInvalidFile, "data section starts at {}, past end of file (size {})", data_offset, size_);
    }
    uint64_t data_bytes = size_ - data_offset;
    for (auto& t : f_.tensors_) {
      uint64_t end;
      if (__builtin_add_overflow(t.offset, t.size_bytes, &end) || end > data_bytes) {
        ctx_ = fmt::format("tensor '{}'", t.name);
        error(ErrorCode::kInvalidFile, "data [{}, {}) extends past end of file (size {})", data_offset + t.offset,
              data_offset + t.offset + t.size_bytes, size_);
      }
      t.data = f_.map_.data() + data_offset + t.offset;
    }
    std::vector<const TensorInfo*> order;
    order.reserve(f_.tensors_.size());
    for (const auto& t : f_.tensors_) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](auto* x, auto* y) { return x->offset < y->offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const TensorInfo* prev = order[i - 1];
      const TensorInfo* cur = order[i];
      if (prev->offset + prev->size_bytes > cur->offset) {
        ctx_ = fmt::format("tensor '{}'", cur->name);
        error(ErrorCode::kInvalidFile, "data at offset {} overlaps tensor '{}' [{}, {})", cur->offset, prev->name,
              prev->offset, prev->offset + prev->size_bytes);
      }
    }
  }

  File& f_;
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t items_ = 0;  // array items read so far (kMaxMetadataItems)
  std::string ctx_;     // what is being read: "key 'x'", "tensor 'y'"; prefixes errors
};

Expected<std::shared_ptr<File>> File::open(const std::string& path) {
  auto mapping = MappedFile::open(path);
  if (!mapping) return mapping.error();
  return parse(std::move(mapping).value());
}

Expected<std::shared_ptr<File>> File::parse(MappedFile mapping) {
  return capture([&]() -> std::shared_ptr<File> {
    auto f = std::make_shared<File>();
    f->map_ = std::move(mapping);
    Parser(*f).run();
    return f;
  });
}

const Value* File::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* File::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

// Runs a typed accessor; a type error is rethrown naming the file and the key.
template <typename Fn>
auto typed(const File& f, std::string_view key, Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("{}: key '{}': {}", f.path(), key, e.what()));
  }
}

}  // namespace

std::string File::get_string(std::string_view key, const std::string& def) const {
  const Value* v = find(key);
  return v ? typed(*this, key, [&] { return v->as_string(); }) : def;
}

int64_t File::get_int(std::string_view key, int64_t def) const {
  const Value* v = find(key);
  return v ? typed(*this, key, [&] { return v->as_int(); }) : def;
}

double File::get_float(std::string_view key, double def) const {
  const Value* v = find(key);
  return v ? typed(*this, key, [&] { return v->as_float(); }) : def;
}

bool File::get_bool(std::string_view key, bool def) const {
  const Value* v = find(key);
  return v ? typed(*this, key, [&] { return v->as_bool(); }) : def;
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace llmchain::gguf
