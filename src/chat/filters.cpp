// The filter table: Jinja2's built-in filters that chat templates use, with
// HF transformers' tojson (no HTML escaping, ensure_ascii=False, indent).
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "chat/interpreter.h"
#include "chat/parser.h"
#include "chat/text.h"

namespace llmchain::chat {

namespace {

std::string str_arg(const Value& v) { return to_str(v); }

int64_t int_arg(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) return static_cast<int64_t>(v.as_double());
  fail(ErrorCode::kInvalidArgument, "{} must be an integer, not {}", what, type_name(v));
}

// Follows "a.b.0" (and comma-separated lists of those, for sort keys).
Value get_path(Interpreter& in, const Value& v, const std::string& path) {
  Value cur = v;
  for (const auto& part : text::split(path, ".", true, -1)) {
    if (cur.is_undefined()) return cur;
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    cur = numeric ? in.get_item(cur, Value(static_cast<int64_t>(std::stoll(part)))) : in.get_item(cur, Value(part));
  }
  return cur;
}

Value f_abs(Interpreter&, const Value& v, CallArgs& a) {
  a.check("abs", 0, {});
  if (v.is_float()) return Value(std::fabs(v.as_double()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) fail(ErrorCode::kInvalidArgument, "integer overflow");
    return Value(std::llabs(v.as_int()));
  }
  fail(ErrorCode::kInvalidArgument, "bad operand type for abs(): '{}'", type_name(v));
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("attr", 1, {"name"});
  return in.get_attr(v, str_arg(a.get(0, "name")));
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("batch", 2, {"linecount", "fill_with"});
  int64_t n = int_arg(a.get(0, "linecount", Value(1)), "linecount");
  if (n <= 0) fail(ErrorCode::kInvalidArgument, "batch size must be positive");
  const Value* fill = a.find(1, "fill_with");
  std::vector<Value> out, cur;
  for (auto& item : in.iterate(v)) {
    cur.push_back(std::move(item));
    if (static_cast<int64_t>(cur.size()) == n) {
      out.push_back(make_list(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (fill && !fill->is_none())
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(*fill);
    out.push_back(make_list(std::move(cur)));
  }
  return make_list(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& a) {
  a.check("capitalize", 0, {});
  return Value(text::capitalize(str_arg(v)));
}

Value f_center(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("center", 1, {"width"});
  std::string s = str_arg(v);
  int64_t width = int_arg(a.get(0, "width", Value(80)), "width");
  int64_t len = static_cast<int64_t>(text::length(s));
  if (width <= len) return Value(s);
  in.check_string_size(static_cast<size_t>(width) + s.size());
  int64_t marg = width - len;
  int64_t left = marg / 2 + (marg & width & 1);
  return Value(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(marg - left), ' '));
}

Value f_length(Interpreter&, const Value& v, CallArgs& a) {
  a.check("length", 0, {});
  switch (v.type()) {
    case Value::Type::kUndefined: return Value(0);
    case Value::Type::kString: return Value(static_cast<int64_t>(text::length(v.as_string())));
    case Value::Type::kArray: return Value(static_cast<int64_t>(v.as_array()->items.size()));
    case Value::Type::kObject: return Value(static_cast<int64_t>(v.as_object()->entries.size()));
    default: fail(ErrorCode::kInvalidArgument, "object of type '{}' has no len()", type_name(v));
  }
}

Value f_default(Interpreter&, const Value& v, CallArgs& a) {
  a.check("default", 2, {"default_value", "boolean"});
  bool boolean = a.get(1, "boolean", Value(false)).truthy();
  if (v.is_undefined() || (boolean && !v.truthy())) return a.get(0, "default_value", Value(std::string()));
  return v;
}

Value key_lower(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(text::lower(v.as_string()));
  return v;
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& a) {
  a.check("dictsort", 3, {"case_sensitive", "by", "reverse"});
  if (!v.is_object()) fail(ErrorCode::kInvalidArgument, "dictsort requires a mapping");
  bool cs = a.get(0, "case_sensitive", Value(false)).truthy();
  std::string by = str_arg(a.get(1, "by", Value("key")));
  bool reverse = a.get(2, "reverse", Value(false)).truthy();
  if (by != "key" && by != "value") fail(ErrorCode::kInvalidArgument, "You can only sort by either 'key' or 'value'");
  std::vector<std::pair<std::string, Value>> entries = v.as_object()->entries;
  std::stable_sort(entries.begin(), entries.end(), [&](const auto& x, const auto& y) {
    Value kx = by == "key" ? Value(x.first) : x.second;
    Value ky = by == "key" ? Value(y.first) : y.second;
    int c = compare_values(key_lower(kx, cs), key_lower(ky, cs));
    return reverse ? c > 0 : c < 0;
  });
  std::vector<Value> out;
  for (auto& [k, item] : entries) out.push_back(make_list({Value(k), item}));
  return make_list(std::move(out));
}

Value f_escape(Interpreter&, const Value& v, CallArgs& a) {
  a.check("escape", 0, {});
  return Value(text::html_escape(str_arg(v)));
}

Value f_first(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("first", 0, {});
  if (v.is_array()) {
    const auto& items = v.as_array()->items;
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
  }
  auto items = in.iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("last", 0, {});
  auto items = in.iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

bool parse_float(const std::string& raw, double* out) {
  std::string s = text::strip(raw);
  if (s.empty()) return false;
  std::string lower = text::lower(s);
  if (lower == "inf" || lower == "+inf" || lower == "infinity") return *out = INFINITY, true;
  if (lower == "-inf" || lower == "-infinity") return *out = -INFINITY, true;
  if (lower == "nan") return *out = NAN, true;
  std::string clean;
  for (char c : s)
    if (c != '_') clean += c;
  char* end = nullptr;
  *out = std::strtod(clean.c_str(), &end);
  return end != clean.c_str() && *end == '\0';
}

Value f_float(Interpreter&, const Value& v, CallArgs& a) {
  a.check("float", 1, {"default"});
  Value def = a.get(0, "default", Value(0.0));
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    double d;
    if (parse_float(v.as_string(), &d)) return Value(d);
  }
  return def;
}

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
  a.check("int", 2, {"default", "base"});
  Value def = a.get(0, "default", Value(0));
  int64_t base = int_arg(a.get(1, "base", Value(10)), "base");
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    double d = v.as_double();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return def;
    return Value(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    std::string s = text::strip(v.as_string());
    std::string clean;
    for (char c : s)
      if (c != '_') clean += c;
    if (base < 2 || base > 36) base = 10;
    if (!clean.empty()) {
      errno = 0;
      char* end = nullptr;
      long long n = std::strtoll(clean.c_str(), &end, static_cast<int>(base));
      if (end && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(n));
    }
    double d;
    if (base == 10 && parse_float(s, &d) && std::isfinite(d) && std::fabs(d) < 9.2e18)
      return Value(static_cast<int64_t>(d));
  }
  return def;
}

Value f_format(Interpreter& in, const Value& v, CallArgs& a) {
  if (!a.keyword.empty()) {
    auto obj = std::make_shared<Object>();
    for (auto& [k, x] : a.keyword) obj->set(k, x);
    return Value(percent_format(in, str_arg(v), Value(std::move(obj))));
  }
  return Value(percent_format(in, str_arg(v), make_list(a.positional)));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("indent", 3, {"width", "first", "blank"});
  Value w = a.get(0, "width", Value(4));
  std::string ind =
      w.is_string() ? w.as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, int_arg(w, "width"))), ' ');
  bool first = a.get(1, "first", Value(false)).truthy();
  bool blank = a.get(2, "blank", Value(false)).truthy();
  std::string s = str_arg(v) + "\n";
  auto lines = text::splitlines(s);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + ind;
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? std::string() : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += ind;
      rv += lines[i];
      in.check_string_size(rv.size());
    }
  }
  if (first) rv = ind + rv;
  in.check_string_size(rv.size());
  return Value(std::move(rv));
}

Value f_items(Interpreter&, const Value& v, CallArgs& a) {
  a.check("items", 0, {});
  if (v.is_undefined()) return make_list({});
  if (!v.is_object()) fail(ErrorCode::kInvalidArgument, "Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, item] : v.as_object()->entries) out.push_back(make_list({Value(k), item}));
  return make_list(std::move(out));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("join", 2, {"d", "attribute"});
  std::string sep = str_arg(a.get(0, "d", Value(std::string())));
  const Value* attr = a.find(1, "attribute");
  std::string out;
  bool first = true;
  for (const auto& item : in.iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attr ? get_path(in, item, to_str(*attr)) : item);
    in.check_string_size(out.size());
  }
  return Value(std::move(out));
}

Value f_list(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("list", 0, {});
  return make_list(in.iterate(v));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& a) {
  a.check("lower", 0, {});
  return Value(text::lower(str_arg(v)));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& a) {
  a.check("upper", 0, {});
  return Value(text::upper(str_arg(v)));
}

// Arguments after the first positional, for map/select style forwarding.
CallArgs rest_args(const CallArgs& a, size_t skip) {
  CallArgs r;
  for (size_t i = skip; i < a.positional.size(); ++i) r.positional.push_back(a.positional[i]);
  r.keyword = a.keyword;
  return r;
}

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
  std::vector<Value> out;
  if (const Value* attr = a.kwarg("attribute")) {
    const Value* def = a.kwarg("default");
    for (const auto& item : in.iterate(v)) {
      Value x = get_path(in, item, to_str(*attr));
      out.push_back(x.is_undefined() && def ? *def : x);
    }
    return make_list(std::move(out));
  }
  if (a.positional.empty()) fail(ErrorCode::kInvalidArgument, "map requires a filter name or attribute=");
  std::string name = to_str(a.positional[0]);
  for (const auto& item : in.iterate(v)) {
    CallArgs fa = rest_args(a, 1);
    out.push_back(in.apply_filter(name, item, fa));
  }
  return make_list(std::move(out));
}

Value select_impl(Interpreter& in, const Value& v, CallArgs& a, bool want, bool by_attr) {
  size_t test_pos = by_attr ? 1 : 0;
  std::string attr = by_attr ? (a.positional.empty() ? std::string() : to_str(a.positional[0])) : std::string();
  if (by_attr && a.positional.empty())
    fail(ErrorCode::kInvalidArgument, "selectattr/rejectattr require an attribute name");
  std::vector<Value> out;
  for (const auto& item : in.iterate(v)) {
    Value subject = by_attr ? get_path(in, item, attr) : item;
    bool r;
    if (a.positional.size() > test_pos) {
      CallArgs ta = rest_args(a, test_pos + 1);
      r = in.apply_test(to_str(a.positional[test_pos]), subject, ta);
    } else {
      r = subject.truthy();
    }
    if (r == want) out.push_back(item);
  }
  return make_list(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, false); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); }

// Sort key from a comma-separated list of attribute paths.
Value sort_key(Interpreter& in, const Value& item, const std::vector<std::string>& attrs, bool cs) {
  if (attrs.empty()) return key_lower(item, cs);
  if (attrs.size() == 1) return key_lower(get_path(in, item, attrs[0]), cs);
  std::vector<Value> parts;
  for (const auto& p : attrs) parts.push_back(key_lower(get_path(in, item, p), cs));
  return make_list(std::move(parts));
}

std::vector<std::string> attr_list(const Value* attr) {
  if (!attr || attr->is_none() || attr->is_undefined()) return {};
  std::vector<std::string> out;
  for (auto& p : text::split(to_str(*attr), ",", true, -1)) out.push_back(text::strip(p));
  return out;
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("sort", 3, {"reverse", "case_sensitive", "attribute"});
  bool reverse = a.get(0, "reverse", Value(false)).truthy();
  bool cs = a.get(1, "case_sensitive", Value(false)).truthy();
  Value attr = a.get(2, "attribute");
  auto attrs = attr_list(&attr);
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& item : in.iterate(v)) keyed.emplace_back(sort_key(in, item, attrs, cs), item);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    int c = compare_values(x.first, y.first);
    return reverse ? c > 0 : c < 0;
  });
  std::vector<Value> out;
  for (auto& [k, item] : keyed) out.push_back(std::move(item));
  return make_list(std::move(out));
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("unique", 2, {"case_sensitive", "attribute"});
  bool cs = a.get(0, "case_sensitive", Value(false)).truthy();
  Value attr = a.get(1, "attribute");
  auto attrs = attr_list(&attr);
  std::vector<Value> seen, out;
  for (auto& item : in.iterate(v)) {
    Value k = sort_key(in, item, attrs, cs);
    bool dup = false;
    for (const auto& s : seen)
      if (values_equal(s, k)) dup = true;
    if (dup) continue;
    seen.push_back(k);
    out.push_back(item);
  }
  return make_list(std::move(out));
}

Value minmax(Interpreter& in, const Value& v, CallArgs& a, bool want_max) {
  a.check(want_max ? "max" : "min", 2, {"case_sensitive", "attribute"});
  bool cs = a.get(0, "case_sensitive", Value(false)).truthy();
  Value attr = a.get(1, "attribute");
  auto attrs = attr_list(&attr);
  auto items = in.iterate(v);
  if (items.empty())
    return Value::undefined(want_max ? "No aggregated item, sequence was empty."
                                     : "No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(in, items[0], attrs, cs);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = sort_key(in, items[i], attrs, cs);
    int c = compare_values(k, best_key);
    if (want_max ? c > 0 : c < 0) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}

Value f_max(Interpreter& in, const Value& v, CallArgs& a) { return minmax(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& a) { return minmax(in, v, a, false); }

Value f_replace(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("replace", 3, {"old", "new", "count"});
  const Value* from = a.find(0, "old");
  const Value* to = a.find(1, "new");
  if (!from || !to) fail(ErrorCode::kInvalidArgument, "replace() requires 'old' and 'new'");
  Value count = a.get(2, "count");
  std::string r = text::replace(str_arg(v), to_str(*from), to_str(*to),
                                count.is_none() || count.is_undefined() ? -1 : int_arg(count, "count"));
  in.check_string_size(r.size());
  return Value(std::move(r));
}

Value f_reverse(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("reverse", 0, {});
  auto items = in.iterate(v);
  std::reverse(items.begin(), items.end());
  if (v.is_string()) {
    std::string out;
    for (const auto& c : items) out += c.as_string();
    return Value(std::move(out));
  }
  return make_list(std::move(items));
}

Value f_round(Interpreter&, const Value& v, CallArgs& a) {
  a.check("round", 2, {"precision", "method"});
  int64_t precision = int_arg(a.get(0, "precision", Value(0)), "precision");
  std::string method = to_str(a.get(1, "method", Value("common")));
  if (!v.is_number()) fail(ErrorCode::kInvalidArgument, "round() requires a number, not {}", type_name(v));
  if (method == "common" && !v.is_float()) return Value(v.as_int());
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * scale;
  if (method == "common") {
    x = std::nearbyint(x);  // round-half-even, like Python's round()
  } else if (method == "ceil") {
    x = std::ceil(x);
  } else if (method == "floor") {
    x = std::floor(x);
  } else {
    fail(ErrorCode::kInvalidArgument, "method must be common, ceil or floor");
  }
  return Value(x / scale);
}

Value f_safe(Interpreter&, const Value& v, CallArgs& a) {
  a.check("safe", 0, {});
  return v;
}

Value f_string(Interpreter&, const Value& v, CallArgs& a) {
  a.check("string", 0, {});
  return Value(to_str(v));
}

Value f_pprint(Interpreter&, const Value& v, CallArgs& a) {
  a.check("pprint", 0, {});
  return Value(to_repr(v));
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("sum", 2, {"attribute", "start"});
  Value attr = a.get(0, "attribute");
  Value total = a.get(1, "start", Value(0));
  for (const auto& item : in.iterate(v)) {
    Value x = (attr.is_none() || attr.is_undefined()) ? item : get_path(in, item, to_str(attr));
    total = binary_op(in, BinOp::kAdd, total, x);
  }
  return total;
}

Value f_title(Interpreter&, const Value& v, CallArgs& a) {
  a.check("title", 0, {});
  return Value(text::jinja_title(str_arg(v)));
}

Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
  a.check("tojson", 4, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = a.get(0, "ensure_ascii", Value(false)).truthy();
  Value indent = a.get(1, "indent");
  if (indent.is_string()) {
    o.has_indent = true;
    o.indent_str = indent.as_string();
  } else if (!indent.is_none() && !indent.is_undefined()) {
    o.has_indent = true;
    o.indent = static_cast<int>(std::clamp<int64_t>(int_arg(indent, "indent"), 0, 64));
  }
  Value seps = a.get(2, "separators");
  if (seps.is_array()) {
    const auto& s = seps.as_array()->items;
    if (s.size() != 2) fail(ErrorCode::kInvalidArgument, "separators must be an (item, key) pair");
    o.item_sep = to_str(s[0]);
    o.key_sep = to_str(s[1]);
  }
  o.sort_keys = a.get(3, "sort_keys", Value(false)).truthy();
  std::string r = dump_json(v, o);
  in.check_string_size(r.size());
  return Value(std::move(r));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& a) {
  a.check("trim", 1, {"chars"});
  Value chars = a.get(0, "chars");
  bool has = !(chars.is_none() || chars.is_undefined());
  return Value(text::strip(str_arg(v), has ? to_str(chars) : std::string(), has));
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& a) {
  a.check("truncate", 4, {"length", "killwords", "end", "leeway"});
  std::string s = str_arg(v);
  int64_t length = int_arg(a.get(0, "length", Value(255)), "length");
  bool killwords = a.get(1, "killwords", Value(false)).truthy();
  std::string end = to_str(a.get(2, "end", Value("...")));
  Value lw = a.get(3, "leeway");
  int64_t leeway = (lw.is_none() || lw.is_undefined()) ? 5 : int_arg(lw, "leeway");
  auto cps = text::code_points(s);
  int64_t n = static_cast<int64_t>(cps.size());
  if (n <= length + leeway) return Value(s);
  int64_t keep = std::max<int64_t>(0, length - static_cast<int64_t>(text::length(end)));
  std::string head;
  for (int64_t i = 0; i < keep && i < n; ++i) head += cps[static_cast<size_t>(i)];
  if (!killwords) {
    size_t sp = head.rfind(' ');
    if (sp != std::string::npos) head = head.substr(0, sp);
  }
  return Value(head + end);
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& a) {
  a.check("wordcount", 0, {});
  std::string s = str_arg(v);
  int64_t n = 0;
  bool in_word = false;
  for (unsigned char c : s) {
    bool w = std::isalnum(c) || c == '_' || c >= 0x80;
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value(n);
}

const std::unordered_map<std::string, FilterFn>& filter_table() {
  static const std::unordered_map<std::string, FilterFn> table = {
      {"abs", f_abs},
      {"attr", f_attr},
      {"batch", f_batch},
      {"capitalize", f_capitalize},
      {"center", f_center},
      {"count", f_length},
      {"d", f_default},
      {"default", f_default},
      {"dictsort", f_dictsort},
      {"e", f_escape},
      {"escape", f_escape},
      {"first", f_first},
      {"float", f_float},
      {"forceescape", f_escape},
      {"format", f_format},
      {"indent", f_indent},
      {"int", f_int},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"lower", f_lower},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"pprint", f_pprint},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"replace", f_replace},
      {"reverse", f_reverse},
      {"round", f_round},
      {"safe", f_safe},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"sort", f_sort},
      {"string", f_string},
      {"sum", f_sum},
      {"title", f_title},
      {"tojson", f_tojson},
      {"trim", f_trim},
      {"truncate", f_truncate},
      {"unique", f_unique},
      {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  return table;
}

}  // namespace

const FilterFn* find_filter(const std::string& name) {
  const auto& t = filter_table();
  auto it = t.find(name);
  return it == t.end() ? nullptr : &it->second;
}

bool has_filter(const std::string& name) { return find_filter(name) != nullptr; }

}  // namespace llmchain::chat
