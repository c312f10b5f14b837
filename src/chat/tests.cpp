// The test table ({{ x is defined }}, {% if n is divisibleby 3 %}...).
#include <unordered_map>

#include "chat/interpreter.h"
#include "chat/parser.h"

namespace llmchain::chat {

namespace {

const Value& arg0(const CallArgs& a, const char* test) {
  if (a.positional.empty()) fail(ErrorCode::kInvalidArgument, "test '{}' requires an argument", test);
  return a.positional[0];
}

bool t_defined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); }
bool t_true(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, CallArgs&) { return v.is_int(); }
bool t_float(Interpreter&, const Value& v, CallArgs&) { return v.is_float(); }
bool t_number(Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs&) { return v.is_object(); }
// Python: iter() works on str, list, dict and Jinja2's Undefined.
bool t_iterable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() || v.is_array() || v.is_object() || v.is_undefined();
}
// Python: len() and __getitem__ exist (Undefined has both).
bool t_sequence(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() || v.is_array() || v.is_object() || v.is_undefined();
}
bool t_callable(Interpreter&, const Value& v, CallArgs&) { return v.is_callable(); }

int64_t int_subject(const Value& v, const char* test) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float() && v.as_double() == static_cast<double>(static_cast<int64_t>(v.as_double())))
    return static_cast<int64_t>(v.as_double());
  fail(ErrorCode::kInvalidArgument, "test '{}' requires an integer, not {}", test, type_name(v));
}

bool t_odd(Interpreter&, const Value& v, CallArgs&) { return int_subject(v, "odd") % 2 != 0; }
bool t_even(Interpreter&, const Value& v, CallArgs&) { return int_subject(v, "even") % 2 == 0; }
bool t_divisibleby(Interpreter&, const Value& v, CallArgs& a) {
  int64_t d = int_subject(arg0(a, "divisibleby"), "divisibleby");
  if (d == 0) fail(ErrorCode::kInvalidArgument, "integer division or modulo by zero");
  return int_subject(v, "divisibleby") % d == 0;
}

bool t_eq(Interpreter&, const Value& v, CallArgs& a) { return values_equal(v, arg0(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, CallArgs& a) { return !values_equal(v, arg0(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, CallArgs& a) { return compare_values(v, arg0(a, "lt")) < 0; }
bool t_le(Interpreter&, const Value& v, CallArgs& a) { return compare_values(v, arg0(a, "le")) <= 0; }
bool t_gt(Interpreter&, const Value& v, CallArgs& a) { return compare_values(v, arg0(a, "gt")) > 0; }
bool t_ge(Interpreter&, const Value& v, CallArgs& a) { return compare_values(v, arg0(a, "ge")) >= 0; }
bool t_in(Interpreter& in, const Value& v, CallArgs& a) { return contains(in, arg0(a, "in"), v); }

bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
  const Value& o = arg0(a, "sameas");
  if (v.type() != o.type()) return false;
  switch (v.type()) {
    case Value::Type::kArray: return v.as_array() == o.as_array();
    case Value::Type::kObject: return v.as_object() == o.as_object();
    case Value::Type::kCallable: return v.as_callable() == o.as_callable();
    default: return values_equal(v, o);
  }
}

bool t_lower(Interpreter&, const Value& v, CallArgs&) {
  if (!v.is_string()) return false;
  bool cased = false;
  for (char c : v.as_string()) {
    if (c >= 'A' && c <= 'Z') return false;
    if (c >= 'a' && c <= 'z') cased = true;
  }
  return cased;
}

bool t_upper(Interpreter&, const Value& v, CallArgs&) {
  if (!v.is_string()) return false;
  bool cased = false;
  for (char c : v.as_string()) {
    if (c >= 'a' && c <= 'z') return false;
    if (c >= 'A' && c <= 'Z') cased = true;
  }
  return cased;
}

bool t_escaped(Interpreter&, const Value&, CallArgs&) { return false; }
bool t_filter(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_filter(v.as_string()); }
bool t_test(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_test(v.as_string()); }

const std::unordered_map<std::string, TestFn>& test_table() {
  static const std::unordered_map<std::string, TestFn> table = {
      {"defined", t_defined},
      {"undefined", t_undefined},
      {"none", t_none},
      {"boolean", t_boolean},
      {"true", t_true},
      {"false", t_false},
      {"integer", t_integer},
      {"float", t_float},
      {"number", t_number},
      {"string", t_string},
      {"mapping", t_mapping},
      {"iterable", t_iterable},
      {"sequence", t_sequence},
      {"callable", t_callable},
      {"odd", t_odd},
      {"even", t_even},
      {"divisibleby", t_divisibleby},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"==", t_eq},
      {"ne", t_ne},
      {"!=", t_ne},
      {"lt", t_lt},
      {"lessthan", t_lt},
      {"<", t_lt},
      {"le", t_le},
      {"<=", t_le},
      {"gt", t_gt},
      {"greaterthan", t_gt},
      {">", t_gt},
      {"ge", t_ge},
      {">=", t_ge},
      {"in", t_in},
      {"sameas", t_sameas},
      {"lower", t_lower},
      {"upper", t_upper},
      {"escaped", t_escaped},
      {"filter", t_filter},
      {"test", t_test},
  };
  return table;
}

}  // namespace

const TestFn* find_test(const std::string& name) {
  const auto& t = test_table();
  auto it = t.find(name);
  return it == t.end() ? nullptr : &it->second;
}

bool has_test(const std::string& name) { return find_test(name) != nullptr; }

}  // namespace llmchain::chat
