// Arithmetic, membership and slicing with Python's semantics.
#include <cmath>
#include <cstdio>

#include "chat/interpreter.h"
#include "chat/text.h"

namespace llmchain::chat {

namespace {

const char* op_symbol(BinOp op) {
  switch (op) {
    case BinOp::kAdd: return "+";
    case BinOp::kSub: return "-";
    case BinOp::kMul: return "*";
    case BinOp::kDiv: return "/";
    case BinOp::kFloorDiv: return "//";
    case BinOp::kMod: return "%";
    case BinOp::kPow: return "**";
    case BinOp::kConcat: return "~";
  }
  return "?";
}

[[noreturn]] void unsupported(BinOp op, const Value& a, const Value& b) {
  fail(ErrorCode::kInvalidArgument, "unsupported operand type(s) for {}: '{}' and '{}'", op_symbol(op), type_name(a),
       type_name(b));
}

[[noreturn]] void overflow() { fail(ErrorCode::kInvalidArgument, "integer overflow"); }

bool is_intlike(const Value& v) { return v.is_int() || v.is_bool(); }

int64_t floor_div(int64_t a, int64_t b) {
  if (a == INT64_MIN && b == -1) overflow();
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t py_mod(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

Value repeat(Interpreter& in, const Value& seq, int64_t n) {
  const bool empty = seq.is_string() ? seq.as_string().empty() : seq.as_array()->items.empty();
  if (n <= 0 || empty) return seq.is_string() ? Value(std::string()) : make_list({});
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<uint64_t>(n) > in.limits().max_output_bytes / s.size() + 1)
      in.check_string_size(in.limits().max_output_bytes + 1);
    in.check_string_size(s.size() * static_cast<size_t>(n));
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out));
  }
  const auto& items = seq.as_array()->items;
  if (!items.empty() && static_cast<uint64_t>(n) > in.limits().max_list_items / items.size() + 1)
    in.check_list_size(in.limits().max_list_items + 1);
  in.check_list_size(items.size() * static_cast<size_t>(n));
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return make_list(std::move(out));
}

}  // namespace

Value binary_op(Interpreter& in, BinOp op, const Value& a, const Value& b) {
  if (op == BinOp::kConcat) {
    std::string s = to_str(a);
    std::string t = to_str(b);
    in.check_string_size(s.size() + t.size());
    return Value(s + t);
  }
  if (a.is_undefined()) in.fail_undefined(a);
  if (b.is_undefined()) in.fail_undefined(b);
  bool nums = a.is_number() && b.is_number();
  bool ints = is_intlike(a) && is_intlike(b);
  switch (op) {
    case BinOp::kAdd:
      if (ints) {
        int64_t r;
        if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value(r);
      }
      if (nums) return Value(a.as_double() + b.as_double());
      if (a.is_string() && b.is_string()) {
        in.check_string_size(a.as_string().size() + b.as_string().size());
        return Value(a.as_string() + b.as_string());
      }
      if (a.is_array() && b.is_array()) {
        const auto& x = a.as_array()->items;
        const auto& y = b.as_array()->items;
        in.check_list_size(x.size() + y.size());
        std::vector<Value> out(x);
        out.insert(out.end(), y.begin(), y.end());
        return make_list(std::move(out));
      }
      break;
    case BinOp::kSub:
      if (ints) {
        int64_t r;
        if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value(r);
      }
      if (nums) return Value(a.as_double() - b.as_double());
      break;
    case BinOp::kMul:
      if (ints) {
        int64_t r;
        if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value(r);
      }
      if (nums) return Value(a.as_double() * b.as_double());
      if ((a.is_string() || a.is_array()) && is_intlike(b)) return repeat(in, a, b.as_int());
      if ((b.is_string() || b.is_array()) && is_intlike(a)) return repeat(in, b, a.as_int());
      break;
    case BinOp::kDiv:
      if (nums) {
        if (b.as_double() == 0) fail(ErrorCode::kInvalidArgument, "division by zero");
        return Value(a.as_double() / b.as_double());
      }
      break;
    case BinOp::kFloorDiv:
      if (nums) {
        if (b.as_double() == 0) fail(ErrorCode::kInvalidArgument, "integer division or modulo by zero");
        if (ints) return Value(floor_div(a.as_int(), b.as_int()));
        return Value(std::floor(a.as_double() / b.as_double()));
      }
      break;
    case BinOp::kMod:
      if (a.is_string()) return Value(percent_format(in, a.as_string(), b));
      if (nums) {
        if (b.as_double() == 0) fail(ErrorCode::kInvalidArgument, "integer division or modulo by zero");
        if (ints) return Value(py_mod(a.as_int(), b.as_int()));
        double r = std::fmod(a.as_double(), b.as_double());
        if (r != 0 && ((r < 0) != (b.as_double() < 0))) r += b.as_double();
        return Value(r);
      }
      break;
    case BinOp::kPow:
      if (ints && b.as_int() >= 0) {
        int64_t base = a.as_int(), e = b.as_int(), r = 1;
        while (e > 0) {
          if (e & 1)
            if (__builtin_mul_overflow(r, base, &r)) overflow();
          e >>= 1;
          if (e > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return Value(r);
      }
      if (nums) {
        if (a.as_double() == 0 && b.as_double() < 0)
          fail(ErrorCode::kInvalidArgument, "0.0 cannot be raised to a negative power");
        return Value(std::pow(a.as_double(), b.as_double()));
      }
      break;
    case BinOp::kConcat: break;
  }
  unsupported(op, a, b);
}

Value unary_minus(Interpreter& in, const Value& v, bool negate) {
  if (v.is_undefined()) in.fail_undefined(v);
  if (!v.is_number())
    fail(ErrorCode::kInvalidArgument, "bad operand type for unary {}: '{}'", negate ? "-" : "+", type_name(v));
  if (!negate) return v.is_float() ? v : Value(v.as_int());
  if (v.is_float()) return Value(-v.as_double());
  if (v.as_int() == INT64_MIN) overflow();
  return Value(-v.as_int());
}

bool contains(Interpreter& in, const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::kString:
      if (!item.is_string())
        fail(ErrorCode::kInvalidArgument, "'in <string>' requires string as left operand, not {}", type_name(item));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Type::kArray:
      for (const auto& v : container.as_array()->items)
        if (values_equal(v, item)) return true;
      return false;
    case Value::Type::kObject: return item.is_string() && container.as_object()->find(item.as_string()) != nullptr;
    case Value::Type::kUndefined: return false;
    default: (void)in; fail(ErrorCode::kInvalidArgument, "argument of type '{}' is not iterable", type_name(container));
  }
}

Value slice_value(Interpreter& in, const Value& v, const Value& start_v, const Value& stop_v, const Value& step_v) {
  auto as_index = [](const Value& x, bool* present) -> int64_t {
    *present = !(x.is_undefined() || x.is_none());
    if (!*present) return 0;
    if (!x.is_int() && !x.is_bool()) fail(ErrorCode::kInvalidArgument, "slice indices must be integers or None");
    return x.as_int();
  };
  bool has_start, has_stop, has_step;
  int64_t start = as_index(start_v, &has_start);
  int64_t stop = as_index(stop_v, &has_stop);
  int64_t step = as_index(step_v, &has_step);
  if (!has_step) step = 1;
  if (step == 0) fail(ErrorCode::kInvalidArgument, "slice step cannot be zero");

  std::vector<std::string> cps;
  size_t n_items;
  if (v.is_string()) {
    cps = text::code_points(v.as_string());
    n_items = cps.size();
  } else if (v.is_array()) {
    n_items = v.as_array()->items.size();
  } else {
    if (v.is_undefined()) in.fail_undefined(v);
    fail(ErrorCode::kInvalidArgument, "'{}' object is not subscriptable", type_name(v));
  }
  int64_t len = static_cast<int64_t>(n_items);
  int64_t lower = step > 0 ? 0 : -1;
  int64_t upper = step > 0 ? len : len - 1;
  auto adjust = [&](int64_t x, bool present, int64_t dflt) {
    if (!present) return dflt;
    if (x < 0) {
      x += len;
      if (x < lower) x = lower;
    } else if (x > upper) {
      x = upper;
    }
    return x;
  };
  start = adjust(start, has_start, step > 0 ? lower : upper);
  stop = adjust(stop, has_stop, step > 0 ? upper : lower);
  std::vector<size_t> idx;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) idx.push_back(static_cast<size_t>(i));
  if (v.is_string()) {
    std::string out;
    for (size_t i : idx) out += cps[i];
    return Value(std::move(out));
  }
  std::vector<Value> out;
  out.reserve(idx.size());
  for (size_t i : idx) out.push_back(v.as_array()->items[i]);
  return make_list(std::move(out));
}

std::string percent_format(Interpreter& in, const std::string& f, const Value& args) {
  std::vector<Value> list;
  const Object* mapping = nullptr;
  if (args.is_array()) {
    list = args.as_array()->items;
  } else if (args.is_object()) {
    mapping = args.as_object().get();
    list.push_back(args);
  } else {
    list.push_back(args);
  }
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    if (++i >= f.size()) fail(ErrorCode::kInvalidArgument, "incomplete format");
    const Value* arg = nullptr;
    if (f[i] == '(') {
      size_t close = f.find(')', i);
      if (close == std::string::npos || !mapping) fail(ErrorCode::kInvalidArgument, "format requires a mapping");
      arg = mapping->find(f.substr(i + 1, close - i - 1));
      if (!arg) fail(ErrorCode::kInvalidArgument, "format key '{}' not found", f.substr(i + 1, close - i - 1));
      i = close + 1;
    }
    std::string spec = "%";
    while (i < f.size() && std::string_view("-+ 0#").find(f[i]) != std::string_view::npos) spec += f[i++];
    while (i < f.size() && (std::isdigit(static_cast<unsigned char>(f[i])) || f[i] == '.')) spec += f[i++];
    if (i >= f.size()) fail(ErrorCode::kInvalidArgument, "incomplete format");
    char conv = f[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!arg) {
      if (next >= list.size()) fail(ErrorCode::kInvalidArgument, "not enough arguments for format string");
      arg = &list[next++];
    }
    char buf[128];
    switch (conv) {
      case 's': out += to_str(*arg); break;
      case 'r': out += to_repr(*arg); break;
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o':
      case 'c': {
        if (!arg->is_number())
          fail(ErrorCode::kInvalidArgument, "%{} format: a number is required, not {}", conv, type_name(*arg));
        long long n = arg->is_float() ? static_cast<long long>(arg->as_double()) : arg->as_int();
        std::string s = spec + "ll" + (conv == 'i' ? 'd' : conv);
        if (conv == 'c') {
          s = spec + "c";
          std::snprintf(buf, sizeof(buf), s.c_str(), static_cast<int>(n));
        } else {
          std::snprintf(buf, sizeof(buf), s.c_str(), n);
        }
        out += buf;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!arg->is_number()) fail(ErrorCode::kInvalidArgument, "must be real number, not {}", type_name(*arg));
        std::snprintf(buf, sizeof(buf), (spec + conv).c_str(), arg->as_double());
        out += buf;
        break;
      }
      default: fail(ErrorCode::kInvalidArgument, "unsupported format character '{}'", conv);
    }
    in.check_string_size(out.size());
  }
  if (mapping == nullptr && next < list.size() && args.is_array())
    fail(ErrorCode::kInvalidArgument, "not all arguments converted during string formatting");
  return out;
}

}  // namespace llmchain::chat
