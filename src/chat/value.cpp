#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/error.h"
#include "chat/text.h"

namespace llmchain::chat {

namespace {

void check_depth(int depth) {
  if (depth > kMaxValueDepth) fail(ErrorCode::kResourceExhausted, "value nesting exceeds {} levels", kMaxValueDepth);
}

thread_local WorkBudget* t_budget = nullptr;

// One value visited (and the bytes of a string one).
void charge_value(const Value& v) { charge_work(kValueWork + (v.is_string() ? v.as_string().size() : 0)); }

}  // namespace

WorkBudget::WorkBudget(uint64_t limit) : limit_(limit), outer_(t_budget) { t_budget = this; }
WorkBudget::~WorkBudget() { t_budget = outer_; }

uint64_t shallow_work(const Value& v) {
  if (v.is_string()) return v.as_string().size();
  if (v.is_array()) return kValueWork * v.as_array()->items.size();
  if (v.is_object()) return kValueWork * v.as_object()->entries.size();
  return 1;
}

void charge_work(uint64_t units) {
  WorkBudget* b = t_budget;
  if (!b) return;
  b->used_ += units;
  if (b->used_ > b->limit_) {
    fail(ErrorCode::kResourceExhausted, "work limit of one render ({} units) exceeded", b->limit_);
  }
}

const Value* Object::find(std::string_view key) const {
  auto it = index.find(std::string(key));
  return it == index.end() ? nullptr : &entries[it->second].second;
}

void Object::set(const std::string& key, Value v) {
  int d = v.depth() + 1;
  check_depth(d);
  depth = std::max(depth, d);
  auto it = index.find(key);
  if (it != index.end()) {
    entries[it->second].second = std::move(v);
    return;
  }
  index.emplace(key, entries.size());
  entries.emplace_back(key, std::move(v));
}

bool Value::truthy() const {
  switch (type()) {
    case Type::kUndefined:
    case Type::kNone: return false;
    case Type::kBool: return as_bool();
    case Type::kInt: return as_int() != 0;
    case Type::kFloat: return as_double() != 0.0;
    case Type::kString: return !as_string().empty();
    case Type::kArray: return !as_array()->items.empty();
    case Type::kObject: return !as_object()->entries.empty();
    case Type::kCallable: return true;
  }
  return false;
}

int Value::depth() const {
  if (is_array()) return as_array()->depth;
  if (is_object()) return as_object()->depth;
  return 0;
}

Value make_list(std::vector<Value> items) {
  auto a = std::make_shared<Array>();
  int d = 0;
  for (const auto& v : items) d = std::max(d, v.depth());
  check_depth(d + 1);
  a->depth = d + 1;
  a->items = std::move(items);
  return Value(std::move(a));
}

Value make_dict(std::vector<std::pair<std::string, Value>> entries) {
  auto o = std::make_shared<Object>();
  for (auto& [k, v] : entries) o->set(k, std::move(v));
  return Value(std::move(o));
}

Value make_namespace() {
  auto o = std::make_shared<Object>();
  o->is_namespace = true;
  return Value(std::move(o));
}

Value make_function(std::string name, NativeFn fn) {
  return Value(std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)}));
}

const char* type_name(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined: return "Undefined";
    case Value::Type::kNone: return "NoneType";
    case Value::Type::kBool: return "bool";
    case Value::Type::kInt: return "int";
    case Value::Type::kFloat: return "float";
    case Value::Type::kString: return "str";
    case Value::Type::kArray: return "list";
    case Value::Type::kObject: return v.as_object()->is_namespace ? "Namespace" : "dict";
    case Value::Type::kCallable: return "function";
  }
  return "?";
}

std::string format_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci = [-]d[.ddd]e(+|-)XX
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exp = std::stoi(sci.substr(e + 1));
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out += digits;
      out.append(static_cast<size_t>(exp + 1 - static_cast<int>(digits.size())), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exp + 1));
      out += '.';
      out += digits.substr(static_cast<size_t>(exp + 1));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  out += exp < 0 ? "e-" : "e+";
  int ae = std::abs(exp);
  if (ae < 10) out += '0';
  out += std::to_string(ae);
  return out;
}

namespace {

std::string repr_string(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  static const char* hex = "0123456789abcdef";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (ch == q || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += ch;
    }
  }
  out += q;
  return out;
}

void repr_into(std::string& out, const Value& v, int depth);

void str_into(std::string& out, const Value& v, int depth) {
  charge_value(v);
  switch (v.type()) {
    case Value::Type::kUndefined: return;
    case Value::Type::kNone: out += "None"; return;
    case Value::Type::kBool: out += v.as_bool() ? "True" : "False"; return;
    case Value::Type::kInt: out += std::to_string(v.as_int()); return;
    case Value::Type::kFloat: out += format_float(v.as_double()); return;
    case Value::Type::kString: out += v.as_string(); return;
    case Value::Type::kCallable: out += "<function " + v.as_callable()->name + ">"; return;
    case Value::Type::kArray:
    case Value::Type::kObject: repr_into(out, v, depth); return;
  }
}

void repr_into(std::string& out, const Value& v, int depth) {
  if (depth > kMaxValueDepth) fail(ErrorCode::kResourceExhausted, "value nesting exceeds {} levels", kMaxValueDepth);
  charge_value(v);
  switch (v.type()) {
    case Value::Type::kString: out += repr_string(v.as_string()); return;
    case Value::Type::kUndefined: out += "Undefined"; return;
    case Value::Type::kArray: {
      out += '[';
      bool first = true;
      for (const auto& item : v.as_array()->items) {
        if (!first) out += ", ";
        first = false;
        repr_into(out, item, depth + 1);
      }
      out += ']';
      return;
    }
    case Value::Type::kObject: {
      const auto& o = *v.as_object();
      if (o.is_namespace) out += "<Namespace ";
      out += '{';
      bool first = true;
      for (const auto& [k, item] : o.entries) {
        if (!first) out += ", ";
        first = false;
        out += repr_string(k);
        out += ": ";
        repr_into(out, item, depth + 1);
      }
      out += '}';
      if (o.is_namespace) out += '>';
      return;
    }
    default: str_into(out, v, depth);
  }
}

bool equal_impl(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) fail(ErrorCode::kResourceExhausted, "value nesting exceeds {} levels", kMaxValueDepth);
  charge_value(a);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone: return true;
    case Value::Type::kString: return a.as_string() == b.as_string();
    case Value::Type::kCallable: return a.as_callable() == b.as_callable();
    case Value::Type::kArray: {
      const auto& x = a.as_array()->items;
      const auto& y = b.as_array()->items;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equal_impl(x[i], y[i], depth + 1)) return false;
      return true;
    }
    case Value::Type::kObject: {
      const auto& x = *a.as_object();
      const auto& y = *b.as_object();
      if (&x == &y) return true;
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* other = y.find(k);
        if (!other || !equal_impl(v, *other, depth + 1)) return false;
      }
      return true;
    }
    default: return false;
  }
}

int compare_impl(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) fail(ErrorCode::kResourceExhausted, "value nesting exceeds {} levels", kMaxValueDepth);
  charge_value(a);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());  // UTF-8 byte order == code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_array() && b.is_array()) {
    const auto& x = a.as_array()->items;
    const auto& y = b.as_array()->items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equal_impl(x[i], y[i], depth + 1)) continue;
      return compare_impl(x[i], y[i], depth + 1);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  fail(ErrorCode::kInvalidArgument, "'<' not supported between instances of '{}' and '{}'", type_name(a), type_name(b));
}

template <typename Json>
Value from_json_impl(const Json& j, int depth) {
  if (depth > kMaxValueDepth) fail(ErrorCode::kResourceExhausted, "value nesting exceeds {} levels", kMaxValueDepth);
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value(nullptr);
    case nlohmann::json::value_t::boolean: return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<int64_t>(u));
      return Value(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float: return Value(j.template get<double>());
    case nlohmann::json::value_t::string: return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json_impl(e, depth + 1));
      return make_list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      auto o = std::make_shared<Object>();
      for (auto it = j.begin(); it != j.end(); ++it) o->set(it.key(), from_json_impl(it.value(), depth + 1));
      return Value(std::move(o));
    }
    default: fail(ErrorCode::kInvalidArgument, "unsupported JSON value of type {}", j.type_name());
  }
}

nlohmann::json to_json_impl(const Value& v, int depth) {
  if (depth > kMaxValueDepth) fail(ErrorCode::kResourceExhausted, "value nesting exceeds {} levels", kMaxValueDepth);
  charge_value(v);
  switch (v.type()) {
    case Value::Type::kNone: return nullptr;
    case Value::Type::kBool: return v.as_bool();
    case Value::Type::kInt: return v.as_int();
    case Value::Type::kFloat: return v.as_double();
    case Value::Type::kString: return v.as_string();
    case Value::Type::kArray: {
      auto arr = nlohmann::json::array();
      for (const auto& item : v.as_array()->items) arr.push_back(to_json_impl(item, depth + 1));
      return arr;
    }
    case Value::Type::kObject: {
      auto obj = nlohmann::json::object();
      for (const auto& [k, item] : v.as_object()->entries) obj[k] = to_json_impl(item, depth + 1);
      return obj;
    }
    default: fail(ErrorCode::kInvalidArgument, "Object of type {} is not JSON serializable", type_name(v));
  }
}

void dump_impl(std::string& out, const Value& v, const JsonDumpOptions& o, int level) {
  if (level > kMaxValueDepth) fail(ErrorCode::kResourceExhausted, "value nesting exceeds {} levels", kMaxValueDepth);
  charge_value(v);
  auto newline_indent = [&](int lvl) {
    out += '\n';
    for (int i = 0; i < lvl; ++i) out += o.indent_str;
  };
  const std::string& item_sep = o.item_sep;
  switch (v.type()) {
    case Value::Type::kNone: out += "null"; return;
    case Value::Type::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Type::kInt: out += std::to_string(v.as_int()); return;
    case Value::Type::kFloat: {
      double d = v.as_double();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d)) {
        out += d > 0 ? "Infinity" : "-Infinity";
      } else {
        out += format_float(d);
      }
      return;
    }
    case Value::Type::kString:
      out += '"';
      text::json_escape(out, v.as_string(), o.ensure_ascii);
      out += '"';
      return;
    case Value::Type::kArray: {
      const auto& items = v.as_array()->items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_sep;
        if (o.has_indent) newline_indent(level + 1);
        dump_impl(out, items[i], o, level + 1);
      }
      if (o.has_indent) newline_indent(level);
      out += ']';
      return;
    }
    case Value::Type::kObject: {
      const auto& entries = v.as_object()->entries;
      if (entries.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> order;
      for (const auto& e : entries) order.push_back(&e);
      if (o.sort_keys)
        std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t i = 0; i < order.size(); ++i) {
        if (i) out += item_sep;
        if (o.has_indent) newline_indent(level + 1);
        out += '"';
        text::json_escape(out, order[i]->first, o.ensure_ascii);
        out += '"';
        out += o.key_sep;
        dump_impl(out, order[i]->second, o, level + 1);
      }
      if (o.has_indent) newline_indent(level);
      out += '}';
      return;
    }
    default: fail(ErrorCode::kInvalidArgument, "Object of type {} is not JSON serializable", type_name(v));
  }
}

}  // namespace

std::string to_str(const Value& v) {
  if (v.is_string()) return v.as_string();
  std::string out;
  str_into(out, v, 0);
  return out;
}

std::string to_repr(const Value& v) {
  std::string out;
  repr_into(out, v, 0);
  return out;
}

bool values_equal(const Value& a, const Value& b) { return equal_impl(a, b, 0); }
int compare_values(const Value& a, const Value& b) { return compare_impl(a, b, 0); }
Value from_json(const nlohmann::json& j) { return from_json_impl(j, 0); }
Value from_json(const nlohmann::ordered_json& j) { return from_json_impl(j, 0); }
nlohmann::json to_json(const Value& v) { return to_json_impl(v, 0); }

std::string dump_json(const Value& v, const JsonDumpOptions& opts) {
  JsonDumpOptions o = opts;
  if (o.has_indent && o.indent_str.empty() && o.indent > 0) o.indent_str.assign(static_cast<size_t>(o.indent), ' ');
  if (o.item_sep.empty()) o.item_sep = o.has_indent ? "," : ", ";
  std::string out;
  dump_impl(out, v, o, 0);
  return out;
}

}  // namespace llmchain::chat
