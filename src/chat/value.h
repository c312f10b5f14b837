#pragma once
// Runtime values of the template language. They follow Python's data model as
// Jinja2 sees it: lists and dicts are shared by reference (a namespace mutated
// through one name is seen through every other), strings are sequences of code
// points, and Undefined is falsy, prints as "" and only fails where Jinja2's
// default Undefined fails (attribute access, arithmetic, calls).
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace llmchain::chat {

class Value;
class Interpreter;
struct CallArgs;

// Containers nest at most this deep; bounds every recursive walk (printing,
// tojson, comparison) and the destructor chain of a hostile nested value.
inline constexpr int kMaxValueDepth = 256;

// The work one render may do, in units: one per byte of a string scanned, compared or
// copied, kValueWork per value visited. Size limits alone do not bound time: a loop may
// compare a list that shares one big sublist thousands of times, or search a megabyte
// string in every iteration. Deep comparisons and conversions (value.cpp) and the
// interpreter's scans charge it; past the limit they fail with kResourceExhausted. A
// render installs one on its thread for its duration (nested ones stack).
inline constexpr uint64_t kValueWork = 16;
class WorkBudget {
 public:
  explicit WorkBudget(uint64_t limit);
  ~WorkBudget();
  WorkBudget(const WorkBudget&) = delete;
  WorkBudget& operator=(const WorkBudget&) = delete;
  uint64_t used() const { return used_; }

 private:
  friend void charge_work(uint64_t units);
  uint64_t limit_;
  uint64_t used_ = 0;
  WorkBudget* outer_;
};
// Charges the current thread's budget (none installed: free).
void charge_work(uint64_t units);
// What a pass over v costs: its bytes (a string) or kValueWork per item or entry.
uint64_t shallow_work(const Value& v);

struct Array {
  std::vector<Value> items;
  int depth = 1;  // 1 + deepest child container
};

// A dict keeps insertion order (Python 3.7+ semantics). Keys are strings.
struct Object {
  std::vector<std::pair<std::string, Value>> entries;
  std::unordered_map<std::string, size_t> index;
  bool is_namespace = false;  // created by namespace(): the only mutable kind
  int depth = 1;

  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);
};

using ArrayPtr = std::shared_ptr<Array>;
using ObjectPtr = std::shared_ptr<Object>;

using NativeFn = std::function<Value(Interpreter&, CallArgs&)>;
struct Callable {
  std::string name;
  NativeFn fn;
};
using CallablePtr = std::shared_ptr<const Callable>;

struct Undefined {
  std::string hint;  // why it is undefined, for the error when it is misused
};

class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kArray, kObject, kCallable };

  Value() : v_(Undefined{}) {}
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Value(T i) : v_(static_cast<int64_t>(i)) {}
  Value(double d) : v_(d) {}
  // Strings are immutable and shared, as Python's: copying a value (a list repeated, an
  // item appended) never copies its bytes. Making one is charged to the render's work budget
  // (a byte per byte), so filters that build a string per item (upper, sort's keys) are bounded.
  Value(std::string s) : v_(std::make_shared<const std::string>(std::move(s))) { charge_work(as_string().size()); }
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(ArrayPtr a) : v_(std::move(a)) {}
  Value(ObjectPtr o) : v_(std::move(o)) {}
  Value(CallablePtr c) : v_(std::move(c)) {}

  static Value undefined(std::string hint = {}) {
    Value v;
    v.v_ = Undefined{std::move(hint)};
    return v;
  }

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_undefined() const { return type() == Type::kUndefined; }
  bool is_none() const { return type() == Type::kNone; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_float() const { return type() == Type::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is an int
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }
  bool is_callable() const { return type() == Type::kCallable; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return is_bool() ? int64_t{as_bool()} : std::get<int64_t>(v_); }
  double as_double() const { return is_float() ? std::get<double>(v_) : static_cast<double>(as_int()); }
  const std::string& as_string() const { return *std::get<StringPtr>(v_); }
  const ArrayPtr& as_array() const { return std::get<ArrayPtr>(v_); }
  const ObjectPtr& as_object() const { return std::get<ObjectPtr>(v_); }
  const CallablePtr& as_callable() const { return std::get<CallablePtr>(v_); }
  const std::string& undefined_hint() const { return std::get<Undefined>(v_).hint; }

  // Python truthiness.
  bool truthy() const;
  // Nesting depth of containers (0 for scalars).
  int depth() const;

 private:
  using StringPtr = std::shared_ptr<const std::string>;
  std::variant<Undefined, std::nullptr_t, bool, int64_t, double, StringPtr, ArrayPtr, ObjectPtr, CallablePtr> v_;
};

// Constructors that compute the nesting depth; they fail past kMaxValueDepth.
Value make_list(std::vector<Value> items);
Value make_dict(std::vector<std::pair<std::string, Value>> entries);
Value make_namespace();
Value make_function(std::string name, NativeFn fn);

// Python type names as Jinja2 reports them ("str", "int", "list", "dict"...).
const char* type_name(const Value& v);

// str(v): what {{ v }} prints. Undefined prints as "".
std::string to_str(const Value& v);
// repr(v): how v appears inside a printed list or dict.
std::string to_repr(const Value& v);
// Python's float repr: shortest round-trip digits, "1.0", "1e+16", "inf", "nan".
std::string format_float(double d);

// Python ==, and <,<=,>,>= (fails with TypeError-like message when not orderable).
bool values_equal(const Value& a, const Value& b);
int compare_values(const Value& a, const Value& b);  // <0, 0, >0

// Conversions to and from JSON. from_json fails past kMaxValueDepth;
// to_json fails on Undefined and callables (as json.dumps would).
Value from_json(const nlohmann::json& j);
Value from_json(const nlohmann::ordered_json& j);  // keeps the caller's key order
nlohmann::json to_json(const Value& v);

// json.dumps(v, ensure_ascii, indent, separators, sort_keys) with Python's exact spacing.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  int indent = -1;         // < 0: single line
  std::string indent_str;  // used when set (indent given as a string)
  bool has_indent = false;
  std::string item_sep;  // defaults ", " (no indent) or "," (indent)
  std::string key_sep = ": ";
  bool sort_keys = false;
};
std::string dump_json(const Value& v, const JsonDumpOptions& opts);

}  // namespace llmchain::chat
