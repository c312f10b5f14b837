// Metadata values: type names, typed accessors, construction and display.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "gguf/gguf.h"

namespace llmchain::gguf {
namespace {

[[noreturn]] void type_mismatch(const char* wanted, ValueType got) {
  fail(ErrorCode::kInvalidFile, "expected {}, got {}", wanted, value_type_name(got));
}

bool is_signed_type(ValueType t) {
  return t == ValueType::kInt8 || t == ValueType::kInt16 || t == ValueType::kInt32 || t == ValueType::kInt64;
}
bool is_unsigned_type(ValueType t) {
  return t == ValueType::kUint8 || t == ValueType::kUint16 || t == ValueType::kUint32 || t == ValueType::kUint64;
}
bool is_float_type(ValueType t) { return t == ValueType::kFloat32 || t == ValueType::kFloat64; }

// double -> float without undefined behaviour: out-of-range values become +-inf.
float narrow_to_float(double x) {
  constexpr double kMax = std::numeric_limits<float>::max();
  if (x > kMax) return std::numeric_limits<float>::infinity();
  if (x < -kMax) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(x);
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "?";
}

bool value_type_valid(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

size_t value_type_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool: return 1;
    case ValueType::kUint16:
    case ValueType::kInt16: return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32: return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64: return 8;
    case ValueType::kString:
    case ValueType::kArray: return 0;
  }
  return 0;
}

Value Value::of_uint(ValueType t, uint64_t x) {
  if (!is_unsigned_type(t))
    fail(ErrorCode::kInvalidArgument, "of_uint: {} is not an unsigned type", value_type_name(t));
  uint64_t max =
      t == ValueType::kUint64 ? std::numeric_limits<uint64_t>::max() : (uint64_t{1} << (8 * value_type_size(t))) - 1;
  if (x > max) fail(ErrorCode::kInvalidArgument, "value {} does not fit in {}", x, value_type_name(t));
  Value v;
  v.type = t;
  v.v = x;
  return v;
}

Value Value::of_int(ValueType t, int64_t x) {
  if (!is_signed_type(t)) fail(ErrorCode::kInvalidArgument, "of_int: {} is not a signed type", value_type_name(t));
  if (t != ValueType::kInt64) {
    int64_t lim = int64_t{1} << (8 * value_type_size(t) - 1);
    if (x < -lim || x >= lim) fail(ErrorCode::kInvalidArgument, "value {} does not fit in {}", x, value_type_name(t));
  }
  Value v;
  v.type = t;
  v.v = x;
  return v;
}

Value Value::of_float(ValueType t, double x) {
  if (!is_float_type(t)) fail(ErrorCode::kInvalidArgument, "of_float: {} is not a float type", value_type_name(t));
  if (t == ValueType::kFloat32 && std::isfinite(x) && std::fabs(x) > std::numeric_limits<float>::max()) {
    fail(ErrorCode::kInvalidArgument, "value {} does not fit in float32", x);
  }
  Value v;
  v.type = t;
  v.v = t == ValueType::kFloat32 ? static_cast<double>(narrow_to_float(x)) : x;
  return v;
}

Value Value::of_bool(bool b) {
  Value v;
  v.type = ValueType::kBool;
  v.v = b;
  return v;
}

Value Value::of_string(std::string s) {
  Value v;
  v.type = ValueType::kString;
  v.v = std::move(s);
  return v;
}

Value Value::of_array(Array a) {
  for (const auto& item : a.items) {
    if (item.type != a.type) {
      fail(ErrorCode::kInvalidArgument, "array of {} holds a {} item", value_type_name(a.type),
           value_type_name(item.type));
    }
  }
  Value v;
  v.type = ValueType::kArray;
  v.v = std::move(a);
  return v;
}

bool Value::is_integer() const { return is_signed_type(type) || is_unsigned_type(type); }

int64_t Value::as_int() const {
  if (is_signed_type(type)) return std::get<int64_t>(v);
  if (is_unsigned_type(type)) {
    uint64_t u = std::get<uint64_t>(v);
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(ErrorCode::kInvalidFile, "value {} does not fit in int64", u);
    }
    return static_cast<int64_t>(u);
  }
  type_mismatch("an integer", type);
}

uint64_t Value::as_uint() const {
  if (is_unsigned_type(type)) return std::get<uint64_t>(v);
  if (is_signed_type(type)) {
    int64_t s = std::get<int64_t>(v);
    if (s < 0) fail(ErrorCode::kInvalidFile, "value {} is negative, expected an unsigned integer", s);
    return static_cast<uint64_t>(s);
  }
  type_mismatch("an unsigned integer", type);
}

double Value::as_float() const {
  if (is_float_type(type)) return std::get<double>(v);
  if (is_signed_type(type)) return static_cast<double>(std::get<int64_t>(v));
  if (is_unsigned_type(type)) return static_cast<double>(std::get<uint64_t>(v));
  type_mismatch("a number", type);
}

bool Value::as_bool() const {
  if (type != ValueType::kBool) type_mismatch("bool", type);
  return std::get<bool>(v);
}

const std::string& Value::as_string() const {
  if (type != ValueType::kString) type_mismatch("string", type);
  return std::get<std::string>(v);
}

const Array& Value::as_array() const {
  if (type != ValueType::kArray) type_mismatch("array", type);
  return std::get<Array>(v);
}

std::vector<std::string> Value::as_string_array() const {
  const Array& a = as_array();
  if (a.type != ValueType::kString) type_mismatch("array of string", a.type);
  std::vector<std::string> out;
  out.reserve(a.items.size());
  for (const auto& item : a.items) out.push_back(std::get<std::string>(item.v));
  return out;
}

std::vector<float> Value::as_float_array() const {
  const Array& a = as_array();
  if (!is_float_type(a.type) && !is_signed_type(a.type) && !is_unsigned_type(a.type)) {
    type_mismatch("array of numbers", a.type);
  }
  std::vector<float> out;
  out.reserve(a.items.size());
  for (const auto& item : a.items) out.push_back(narrow_to_float(item.as_float()));
  return out;
}

std::vector<int64_t> Value::as_int_array() const {
  const Array& a = as_array();
  if (!is_signed_type(a.type) && !is_unsigned_type(a.type)) type_mismatch("array of integers", a.type);
  std::vector<int64_t> out;
  out.reserve(a.items.size());
  for (const auto& item : a.items) out.push_back(item.as_int());
  return out;
}

namespace {

void append_scalar(std::string& out, const Value& v, size_t max_string) {
  switch (v.type) {
    case ValueType::kBool: out += std::get<bool>(v.v) ? "true" : "false"; break;
    // float32 prints its own shortest form (1e-05, not 9.999999747378752e-06).
    case ValueType::kFloat32: out += fmt::format("{}", narrow_to_float(std::get<double>(v.v))); break;
    case ValueType::kFloat64: out += fmt::format("{}", std::get<double>(v.v)); break;
    case ValueType::kString: {
      const auto& s = std::get<std::string>(v.v);
      std::string shown = s.size() > max_string ? s.substr(0, max_string) + "..." : s;
      out += '"';
      for (unsigned char c : shown) {
        if (c == '"' || c == '\\') {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c == '\n') {
          out += "\\n";
        } else if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
      }
      out += '"';
      break;
    }
    case ValueType::kArray: break;
    default:
      if (is_signed_type(v.type)) {
        out += fmt::format("{}", std::get<int64_t>(v.v));
      } else {
        out += fmt::format("{}", std::get<uint64_t>(v.v));
      }
  }
}

void append_value(std::string& out, const Value& v, size_t max_items, size_t max_string) {
  if (v.type != ValueType::kArray) {
    append_scalar(out, v, max_string);
    return;
  }
  const Array& a = std::get<Array>(v.v);
  out += '[';
  size_t shown = std::min(a.items.size(), max_items);
  for (size_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    append_value(out, a.items[i], max_items, max_string);
  }
  if (shown < a.items.size()) out += fmt::format(", ... ({} more)", a.items.size() - shown);
  out += ']';
}

}  // namespace

std::string format_value(const Value& v, size_t max_items, size_t max_string) {
  std::string out;
  append_value(out, v, max_items, max_string);
  return out;
}

}  // namespace llmchain::gguf
