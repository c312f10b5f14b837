#pragma once
// GGUF v2/v3 reader (over mmap, fully validated) and writer.
// Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/error.h"
#include "base/mmap_file.h"

namespace llmchain::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
const char* value_type_name(ValueType t);
bool value_type_valid(uint32_t t);    // t names one of the 13 GGUF value types
size_t value_type_size(ValueType t);  // bytes of a scalar on disk; 0 for string and array

// Limits the reader enforces on hostile files (real models are far below them).
inline constexpr int kMaxArrayDepth = 8;                          // nesting of arrays inside arrays
inline constexpr uint64_t kMaxMetadataItems = uint64_t{1} << 24;  // all array items of a file together
inline constexpr uint64_t kMaxKeyLength = 65535;                  // spec: keys are at most 65535 bytes
inline constexpr uint64_t kMaxTensorNameLength = 65535;
inline constexpr int kMaxDims = 4;

// A metadata value. Arrays hold one element type; nested arrays are allowed.
struct Value;
struct Array {
  ValueType type = ValueType::kUint8;
  std::vector<Value> items;
};
struct Value {
  ValueType type = ValueType::kUint8;
  // Unsigned types hold uint64_t, signed int64_t, float32/64 double, bool bool, string, array Array.
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> v;

  // Builders; they throw llmchain::Error (kInvalidArgument) when x does not fit the type.
  static Value of_uint(ValueType t, uint64_t x);
  static Value of_int(ValueType t, int64_t x);
  static Value of_float(ValueType t, double x);  // float32 values are rounded to float
  static Value of_bool(bool b);
  static Value of_string(std::string s);
  static Value of_array(Array a);  // every item must have type a.type

  // Typed accessors; they throw llmchain::Error (kInvalidFile) on type mismatch.
  bool is_integer() const;
  int64_t as_int() const;  // any integer type (range-checked)
  uint64_t as_uint() const;
  double as_float() const;  // float or integer
  bool as_bool() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  std::vector<std::string> as_string_array() const;
  std::vector<float> as_float_array() const;
  std::vector<int64_t> as_int_array() const;
};

// Human-readable rendering: strings quoted and escaped, arrays cut after max_items
// ("[1, 2, ... (510 more)]"), strings cut after max_string bytes.
std::string format_value(const Value& v, size_t max_items = 8, size_t max_string = 64);

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ne[0] (contiguous, row length) first, as in ggml
  uint32_t type = 0;           // ggml type id (see base/ggml_types.h)
  uint64_t offset = 0;         // relative to the data section
  uint64_t size_bytes = 0;
  const uint8_t* data = nullptr;  // inside the mapping
  int64_t n_elements() const;
};

class File {
 public:
  // Opens and validates a file; every failure names the file and the problem.
  static Expected<std::shared_ptr<File>> open(const std::string& path);
  // Parses a buffer (not copied: must outlive the File). For tests and fuzzing.
  static Expected<std::shared_ptr<File>> parse(MappedFile mapping);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Start of the tensor data section (aligned). With no tensors it may lie past file_size():
  // writers may leave out the padding then.
  uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return map_.path(); }
  size_t file_size() const { return map_.size(); }

  // Metadata, in file order, and by key.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Convenience getters with defaults (type-checked: a wrong type throws Error).
  std::string get_string(std::string_view key, const std::string& def = "") const;
  int64_t get_int(std::string_view key, int64_t def) const;
  double get_float(std::string_view key, double def) const;
  bool get_bool(std::string_view key, bool def) const;
  std::string architecture() const { return get_string("general.architecture"); }

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* tensor(std::string_view name) const;

 private:
  MappedFile map_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  friend class Parser;
};

// Builds a GGUF v3 file in memory and writes it out. Tensor data is copied.
// Setting a key twice replaces the value (keeping the first position). Invalid
// input (bad tensor shape or size, duplicate tensor, bad alignment) is recorded;
// write() returns it as an Error and to_bytes() throws it.
class Writer {
 public:
  void set(const std::string& key, Value v);
  void set_u64(const std::string& key, uint64_t v);
  void set_i64(const std::string& key, int64_t v);
  void set_string(const std::string& key, const std::string& s);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  // Copies every metadata key of another file (e.g. a tokenizer) except those listed.
  void copy_metadata(const File& from, const std::vector<std::string>& except = {});
  // shape: ne[0] first. data must hold exactly the tensor's byte size for its type.
  void add_tensor(const std::string& name, uint32_t ggml_type, std::vector<int64_t> shape, const void* data,
                  size_t size_bytes);
  // Sets general.alignment (a power of two); tensor data offsets are multiples of it.
  void set_alignment(uint32_t alignment);
  Expected<bool> write(const std::string& path) const;  // atomic: temp file + rename
  std::vector<uint8_t> to_bytes() const;
  // The first invalid call, if any.
  const std::optional<Error>& error() const { return error_; }

 private:
  void record(Error e);

  struct PendingTensor {
    std::string name;
    uint32_t type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  std::vector<std::pair<std::string, Value>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;  // key -> position in kv_
  std::vector<PendingTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  uint64_t alignment_ = 32;
  std::optional<Error> error_;
};

}  // namespace llmchain::gguf
