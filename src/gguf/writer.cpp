// GGUF v3 writer: metadata in insertion order, tensor data aligned, file
// written atomically (temp file in the same directory, fsync, rename).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "base/ggml_types.h"
#include "gguf/gguf.h"

namespace llmchain::gguf {
namespace {

class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>& out) : out_(out) {}
  template <typename T>
  void put(T x) {
    size_t at = out_.size();
    out_.resize(at + sizeof(T));
    std::memcpy(out_.data() + at, &x, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    put_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  void put_bytes(const uint8_t* p, size_t n) {
    if (n == 0) return;
    size_t at = out_.size();
    out_.resize(at + n);
    std::memcpy(out_.data() + at, p, n);
  }
  void pad_to(uint64_t alignment) { out_.resize((out_.size() + alignment - 1) / alignment * alignment, 0); }

  void put_value(const Value& v) {
    switch (v.type) {
      case ValueType::kUint8: put<uint8_t>(static_cast<uint8_t>(std::get<uint64_t>(v.v))); break;
      case ValueType::kInt8: put<int8_t>(static_cast<int8_t>(std::get<int64_t>(v.v))); break;
      case ValueType::kUint16: put<uint16_t>(static_cast<uint16_t>(std::get<uint64_t>(v.v))); break;
      case ValueType::kInt16: put<int16_t>(static_cast<int16_t>(std::get<int64_t>(v.v))); break;
      case ValueType::kUint32: put<uint32_t>(static_cast<uint32_t>(std::get<uint64_t>(v.v))); break;
      case ValueType::kInt32: put<int32_t>(static_cast<int32_t>(std::get<int64_t>(v.v))); break;
      case ValueType::kUint64: put<uint64_t>(std::get<uint64_t>(v.v)); break;
      case ValueType::kInt64: put<int64_t>(std::get<int64_t>(v.v)); break;
      case ValueType::kFloat32: put<float>(static_cast<float>(std::get<double>(v.v))); break;
      case ValueType::kFloat64: put<double>(std::get<double>(v.v)); break;
      case ValueType::kBool: put<uint8_t>(std::get<bool>(v.v) ? 1 : 0); break;
      case ValueType::kString: put_string(std::get<std::string>(v.v)); break;
      case ValueType::kArray: {
        const Array& a = std::get<Array>(v.v);
        put<uint32_t>(static_cast<uint32_t>(a.type));
        put<uint64_t>(a.items.size());
        for (const auto& item : a.items) put_value(item);
        break;
      }
    }
  }

 private:
  std::vector<uint8_t>& out_;
};

// Checks that the variant alternative matches the declared type (the writer
// would otherwise throw std::bad_variant_access), recursively.
void check_value(const Value& v, int depth) {
  const char* bad = nullptr;
  switch (v.type) {
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64:
      if (!std::holds_alternative<uint64_t>(v.v)) {
        bad = "uint64_t";
      } else {
        (void)Value::of_uint(v.type, std::get<uint64_t>(v.v));  // range check
      }
      break;
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64:
      if (!std::holds_alternative<int64_t>(v.v)) {
        bad = "int64_t";
      } else {
        (void)Value::of_int(v.type, std::get<int64_t>(v.v));  // range check
      }
      break;
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      if (!std::holds_alternative<double>(v.v)) {
        bad = "double";
      } else if (v.type == ValueType::kFloat32 && std::isfinite(std::get<double>(v.v)) &&
                 std::fabs(std::get<double>(v.v)) > std::numeric_limits<float>::max()) {
        fail(ErrorCode::kInvalidArgument, "value {} does not fit in float32", std::get<double>(v.v));
      }
      break;
    case ValueType::kBool:
      if (!std::holds_alternative<bool>(v.v)) bad = "bool";
      break;
    case ValueType::kString:
      if (!std::holds_alternative<std::string>(v.v)) bad = "std::string";
      break;
    case ValueType::kArray:
      if (!std::holds_alternative<Array>(v.v)) {
        bad = "Array";
      } else {
        if (depth >= kMaxArrayDepth) fail(ErrorCode::kInvalidArgument, "arrays nested deeper than {}", kMaxArrayDepth);
        const Array& a = std::get<Array>(v.v);
        if (!value_type_valid(static_cast<uint32_t>(a.type))) fail(ErrorCode::kInvalidArgument, "bad array type");
        for (const auto& item : a.items) {
          if (item.type != a.type) {
            fail(ErrorCode::kInvalidArgument, "array of {} holds a {} item", value_type_name(a.type),
                 value_type_name(item.type));
          }
          check_value(item, depth + 1);
        }
      }
      break;
    default: fail(ErrorCode::kInvalidArgument, "unknown value type {}", static_cast<uint32_t>(v.type));
  }
  if (bad) fail(ErrorCode::kInvalidArgument, "a {} value must hold {}", value_type_name(v.type), bad);
}

}  // namespace

void Writer::record(Error e) {
  if (!error_) error_ = std::move(e);
}

void Writer::set(const std::string& key, Value v) {
  try {
    if (key.size() > kMaxKeyLength) fail(ErrorCode::kInvalidArgument, "key is {} bytes (max 65535)", key.size());
    check_value(v, 0);
    if (key == "general.alignment") {
      uint64_t a = v.is_integer() ? v.as_uint() : 0;
      if (!std::has_single_bit(a) || a > (uint64_t{1} << 30)) {
        fail(ErrorCode::kInvalidArgument, "must be a power of two up to 2^30");
      }
      alignment_ = a;
    }
  } catch (const Error& e) {
    record(Error(e.code(), fmt::format("gguf writer: key '{}': {}", key, e.what())));
    return;
  }
  auto it = kv_index_.find(key);
  if (it != kv_index_.end()) {
    kv_[it->second].second = std::move(v);
    return;
  }
  kv_index_.emplace(key, kv_.size());
  kv_.emplace_back(key, std::move(v));
}

void Writer::set_string(const std::string& key, const std::string& s) { set(key, Value::of_string(s)); }
void Writer::set_u32(const std::string& key, uint32_t v) { set(key, Value::of_uint(ValueType::kUint32, v)); }
void Writer::set_i32(const std::string& key, int32_t v) { set(key, Value::of_int(ValueType::kInt32, v)); }
void Writer::set_u64(const std::string& key, uint64_t v) { set(key, Value::of_uint(ValueType::kUint64, v)); }
void Writer::set_i64(const std::string& key, int64_t v) { set(key, Value::of_int(ValueType::kInt64, v)); }
void Writer::set_f32(const std::string& key, float v) { set(key, Value::of_float(ValueType::kFloat32, v)); }
void Writer::set_bool(const std::string& key, bool v) { set(key, Value::of_bool(v)); }
void Writer::set_alignment(uint32_t alignment) { set_u32("general.alignment", alignment); }

void Writer::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  Array a;
  a.type = ValueType::kString;
  a.items.reserve(v.size());
  for (const auto& s : v) a.items.push_back(Value::of_string(s));
  set(key, Value::of_array(std::move(a)));
}

void Writer::set_f32_array(const std::string& key, const std::vector<float>& v) {
  Array a;
  a.type = ValueType::kFloat32;
  a.items.reserve(v.size());
  for (float x : v) a.items.push_back(Value::of_float(ValueType::kFloat32, x));
  set(key, Value::of_array(std::move(a)));
}

void Writer::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  Array a;
  a.type = ValueType::kInt32;
  a.items.reserve(v.size());
  for (int32_t x : v) a.items.push_back(Value::of_int(ValueType::kInt32, x));
  set(key, Value::of_array(std::move(a)));
}

void Writer::copy_metadata(const File& from, const std::vector<std::string>& except) {
  for (const auto& [k, v] : from.metadata()) {
    if (std::find(except.begin(), except.end(), k) == except.end()) set(k, v);
  }
}

void Writer::add_tensor(const std::string& name, uint32_t ggml_type, std::vector<int64_t> shape, const void* data,
                        size_t size_bytes) {
  try {
    if (name.size() > kMaxTensorNameLength) fail(ErrorCode::kInvalidArgument, "name too long");
    if (tensor_index_.count(name)) fail(ErrorCode::kInvalidArgument, "duplicate tensor name");
    const GgmlTypeInfo* ti = ggml_type_info(ggml_type);
    if (!ti) fail(ErrorCode::kInvalidArgument, "unknown ggml type {}", ggml_type);
    if (shape.empty() || shape.size() > kMaxDims) {
      fail(ErrorCode::kInvalidArgument, "{} dimensions (must be 1..{})", shape.size(), kMaxDims);
    }
    int64_t n = 1;
    for (int64_t d : shape) {
      if (d <= 0) fail(ErrorCode::kInvalidArgument, "dimension {} (must be > 0)", d);
      if (__builtin_mul_overflow(n, d, &n)) fail(ErrorCode::kInvalidArgument, "element count overflows");
    }
    if (shape[0] % ti->block_size != 0) {
      fail(ErrorCode::kInvalidArgument, "row length {} is not a multiple of the {} block size {}", shape[0], ti->name,
           ti->block_size);
    }
    uint64_t want;
    if (__builtin_mul_overflow(static_cast<uint64_t>(n / ti->block_size), ti->block_bytes, &want) ||
        want != size_bytes) {
      fail(ErrorCode::kInvalidArgument, "{} bytes given, shape and type {} need {}", size_bytes, ti->name, want);
    }
    if (size_bytes && !data) fail(ErrorCode::kInvalidArgument, "null data");
  } catch (const Error& e) {
    record(Error(e.code(), fmt::format("gguf writer: tensor '{}': {}", name, e.what())));
    return;
  }
  PendingTensor t;
  t.name = name;
  t.type = ggml_type;
  t.shape = std::move(shape);
  const auto* p = static_cast<const uint8_t*>(data);
  t.data.assign(p, p + size_bytes);
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back(std::move(t));
}

std::vector<uint8_t> Writer::to_bytes() const {
  if (error_) throw *error_;
  std::vector<uint8_t> out;
  ByteSink s(out);
  s.put<uint32_t>(0x46554747);  // "GGUF"
  s.put<uint32_t>(3);
  s.put<uint64_t>(tensors_.size());
  s.put<uint64_t>(kv_.size());
  for (const auto& [k, v] : kv_) {
    s.put_string(k);
    s.put<uint32_t>(static_cast<uint32_t>(v.type));
    s.put_value(v);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    s.put_string(t.name);
    s.put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) s.put<uint64_t>(static_cast<uint64_t>(d));
    s.put<uint32_t>(t.type);
    s.put<uint64_t>(offset);
    offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  s.pad_to(alignment_);
  for (const auto& t : tensors_) {
    s.put_bytes(t.data.data(), t.data.size());
    s.pad_to(alignment_);
  }
  return out;
}

Expected<bool> Writer::write(const std::string& path) const {
  if (error_) return *error_;
  std::vector<uint8_t> bytes;
  try {
    bytes = to_bytes();
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::kResourceExhausted, fmt::format("{}: out of memory building the file", path));
  }
  static std::atomic<uint64_t> counter{0};
  std::string tmp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Error(ErrorCode::kIo, fmt::format("{}: cannot create {}: {}", path, tmp, std::strerror(errno)));
  auto io_error = [&](const char* what) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error(ErrorCode::kIo, fmt::format("{}: {} failed: {}", path, what, std::strerror(e)));
  };
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return io_error("fsync");
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Error(ErrorCode::kIo, fmt::format("{}: close failed: {}", path, std::strerror(e)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Error(ErrorCode::kIo, fmt::format("{}: rename from {} failed: {}", path, tmp, std::strerror(e)));
  }
  return true;
}

}  // namespace llmchain::gguf
