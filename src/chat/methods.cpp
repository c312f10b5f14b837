// Methods reachable through attribute access: str.strip(), dict.items(),
// list.index()... Mutating list/dict methods fail like HF's
// ImmutableSandboxedEnvironment ("... is unsafe").
#include <unordered_set>

#include "chat/interpreter.h"
#include "chat/text.h"

namespace llmchain::chat {

namespace {

std::string sarg(const CallArgs& a, size_t pos, const char* name, const char* fn) {
  const Value* v = a.find(pos, name);
  if (!v) fail(ErrorCode::kInvalidArgument, "{}() missing required argument '{}'", fn, name);
  if (!v->is_string()) fail(ErrorCode::kInvalidArgument, "{}() argument must be str, not {}", fn, type_name(*v));
  return v->as_string();
}

// Optional "chars" argument of strip(); None means whitespace.
bool chars_arg(const CallArgs& a, std::string* chars) {
  const Value* v = a.find(0, "chars");
  if (!v || v->is_none()) return false;
  *chars = to_str(*v);
  return true;
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const std::string& p) {
    if (p.size() > s.size()) return false;
    return prefix ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0;
  };
  if (affix.is_string()) return one(affix.as_string());
  if (affix.is_array()) {
    for (const auto& p : affix.as_array()->items) {
      if (!p.is_string()) fail(ErrorCode::kInvalidArgument, "tuple for startswith/endswith must only contain str");
      if (one(p.as_string())) return true;
    }
    return false;
  }
  fail(ErrorCode::kInvalidArgument, "startswith/endswith argument must be str or a tuple of str, not {}",
       type_name(affix));
}

// str.format with {}, {0}, {name}, {{ and }}; attribute/format specs unsupported.
std::string str_format(Interpreter& in, const std::string& f, const CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if (c == '{' && i + 1 < f.size() && f[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    if (c == '}' && i + 1 < f.size() && f[i + 1] == '}') {
      out += '}';
      ++i;
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    size_t close = f.find('}', i);
    if (close == std::string::npos) fail(ErrorCode::kInvalidArgument, "Single '{{' encountered in format string");
    std::string field = f.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!") != std::string::npos)
      fail(ErrorCode::kUnsupported, "format specs are not supported in str.format");
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_index >= a.positional.size())
        fail(ErrorCode::kInvalidArgument, "Replacement index {} out of range", auto_index);
      v = &a.positional[auto_index++];
    } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      size_t idx = std::stoul(field);
      if (idx >= a.positional.size()) fail(ErrorCode::kInvalidArgument, "Replacement index {} out of range", idx);
      v = &a.positional[idx];
    } else {
      v = a.kwarg(field);
      if (!v) fail(ErrorCode::kInvalidArgument, "KeyError: '{}'", field);
    }
    out += to_str(*v);
    in.check_string_size(out.size());
    i = close;
  }
  return out;
}

bool all_chars(const std::string& s, int (*pred)(int)) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!pred(c)) return false;
  return true;
}

Value string_method(Interpreter& in, const std::string& s, const std::string& name, CallArgs& a) {
  charge_work(s.size());  // every method makes a pass (a bound method may be called many times)
  std::string chars;
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    a.check(name.c_str(), 1, {"chars"});
    bool has = chars_arg(a, &chars);
    if (name == "strip") return Value(text::strip(s, chars, has));
    if (name == "lstrip") return Value(text::lstrip(s, chars, has));
    return Value(text::rstrip(s, chars, has));
  }
  if (name == "upper") return Value(text::upper(s));
  if (name == "lower") return Value(text::lower(s));
  if (name == "title") return Value(text::py_title(s));
  if (name == "capitalize") return Value(text::capitalize(s));
  if (name == "split" || name == "rsplit") {
    a.check(name.c_str(), 2, {"sep", "maxsplit"});
    Value sep = a.get(0, "sep");
    int64_t maxsplit = a.get(1, "maxsplit", Value(-1)).as_int();
    bool has_sep = !(sep.is_none() || sep.is_undefined());
    if (has_sep && to_str(sep).empty()) fail(ErrorCode::kInvalidArgument, "empty separator");
    if (name == "rsplit" && maxsplit >= 0 && has_sep) {
      auto all = text::split(s, to_str(sep), true, -1);
      std::vector<Value> out;
      int64_t joined = static_cast<int64_t>(all.size()) - maxsplit;
      std::string head;
      for (int64_t i = 0; i < joined; ++i) head += (i ? to_str(sep) : "") + all[static_cast<size_t>(i)];
      if (joined > 0) out.emplace_back(head);
      for (size_t i = static_cast<size_t>(std::max<int64_t>(joined, 0)); i < all.size(); ++i) out.emplace_back(all[i]);
      return make_list(std::move(out));
    }
    std::vector<Value> out;
    for (auto& p : text::split(s, has_sep ? to_str(sep) : "", has_sep, maxsplit)) out.emplace_back(std::move(p));
    return make_list(std::move(out));
  }
  if (name == "splitlines") {
    std::vector<Value> out;
    for (auto& p : text::splitlines(s)) out.emplace_back(std::move(p));
    return make_list(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    a.check(name.c_str(), 1, {});
    if (a.positional.empty()) fail(ErrorCode::kInvalidArgument, "{}() takes exactly one argument", name);
    return Value(affix_match(s, a.positional[0], name == "startswith"));
  }
  if (name == "replace") {
    a.check("replace", 3, {"old", "new", "count"});
    std::string r = text::replace(s, sarg(a, 0, "old", "replace"), sarg(a, 1, "new", "replace"),
                                  a.get(2, "count", Value(-1)).as_int());
    in.check_string_size(r.size());
    return Value(std::move(r));
  }
  if (name == "format") return Value(str_format(in, s, a));
  if (name == "join") {
    a.check("join", 1, {"iterable"});
    std::string out;
    bool first = true;
    for (const auto& item : in.iterate(a.get(0, "iterable"))) {
      if (!item.is_string())
        fail(ErrorCode::kInvalidArgument, "sequence item: expected str instance, {} found", type_name(item));
      if (!first) out += s;
      first = false;
      out += item.as_string();
      in.check_string_size(out.size());
    }
    return Value(std::move(out));
  }
  if (name == "find") return Value(text::find(s, sarg(a, 0, "sub", "find")));
  if (name == "count") return Value(text::count(s, sarg(a, 0, "sub", "count")));
  if (name == "removeprefix") {
    std::string p = sarg(a, 0, "prefix", "removeprefix");
    return Value(s.compare(0, p.size(), p) == 0 ? s.substr(p.size()) : s);
  }
  if (name == "removesuffix") {
    std::string p = sarg(a, 0, "suffix", "removesuffix");
    bool ends = !p.empty() && s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
    return Value(ends ? s.substr(0, s.size() - p.size()) : s);
  }
  if (name == "isdigit") return Value(all_chars(s, [](int c) { return c >= '0' && c <= '9' ? 1 : 0; }));
  if (name == "isalpha") return Value(all_chars(s, [](int c) { return std::isalpha(c); }));
  if (name == "isalnum") return Value(all_chars(s, [](int c) { return std::isalnum(c); }));
  if (name == "isspace") return Value(all_chars(s, [](int c) { return std::isspace(c); }));
  if (name == "islower") return Value(s != text::upper(s) && s == text::lower(s));
  if (name == "isupper") return Value(s != text::lower(s) && s == text::upper(s));
  fail(ErrorCode::kInternal, "no str method '{}'", name);
}

const std::unordered_set<std::string>& string_methods() {
  static const std::unordered_set<std::string> names = {
      "strip",        "lstrip",     "rstrip",   "upper",   "lower",   "title",   "capitalize", "split", "rsplit",
      "splitlines",   "startswith", "endswith", "replace", "format",  "join",    "find",       "count", "removeprefix",
      "removesuffix", "isdigit",    "isalpha",  "isalnum", "isspace", "islower", "isupper"};
  return names;
}

Value dict_method(Interpreter&, const Value& self, const std::string& name, CallArgs& a) {
  charge_work(shallow_work(self));
  const Object& o = *self.as_object();
  if (name == "items") {
    std::vector<Value> out;
    for (const auto& [k, v] : o.entries) out.push_back(make_list({Value(k), v}));
    return make_list(std::move(out));
  }
  if (name == "keys") {
    std::vector<Value> out;
    for (const auto& [k, v] : o.entries) out.emplace_back(k);
    return make_list(std::move(out));
  }
  if (name == "values") {
    std::vector<Value> out;
    for (const auto& [k, v] : o.entries) out.push_back(v);
    return make_list(std::move(out));
  }
  if (name == "get") {
    a.check("get", 2, {});
    if (a.positional.empty()) fail(ErrorCode::kInvalidArgument, "get expected at least 1 argument, got 0");
    const Value& key = a.positional[0];
    if (key.is_string() || key.is_number())
      if (const Value* v = o.find(to_str(key))) return *v;
    return a.positional.size() > 1 ? a.positional[1] : Value(nullptr);
  }
  if (name == "copy") return make_dict(o.entries);
  fail(ErrorCode::kInternal, "no dict method '{}'", name);
}

Value list_method(Interpreter&, const Value& self, const std::string& name, CallArgs& a) {
  charge_work(shallow_work(self));
  const auto& items = self.as_array()->items;
  if (name == "index" || name == "count") {
    if (a.positional.size() != 1) fail(ErrorCode::kInvalidArgument, "{}() takes exactly one argument", name);
    int64_t n = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!values_equal(items[i], a.positional[0])) continue;
      if (name == "index") return Value(static_cast<int64_t>(i));
      ++n;
    }
    if (name == "index") fail(ErrorCode::kInvalidArgument, "{} is not in list", to_repr(a.positional[0]));
    return Value(n);
  }
  if (name == "copy") return make_list(items);
  fail(ErrorCode::kInternal, "no list method '{}'", name);
}

bool is_unsafe(const Value& self, const std::string& name) {
  static const std::unordered_set<std::string> list_mut = {"append", "extend",  "insert", "pop",
                                                           "remove", "reverse", "sort",   "clear"};
  static const std::unordered_set<std::string> dict_mut = {"clear", "pop", "popitem", "setdefault", "update"};
  return (self.is_array() && list_mut.count(name)) || (self.is_object() && dict_mut.count(name));
}

}  // namespace

bool find_method(const Value& self, const std::string& name, Value* out) {
  if (is_unsafe(self, name)) {
    std::string msg = fmt::format("access to attribute '{}' of '{}' object is unsafe", name, type_name(self));
    *out =
        make_function(name, [msg](Interpreter&, CallArgs&) -> Value { fail(ErrorCode::kInvalidArgument, "{}", msg); });
    return true;
  }
  if (self.is_string() && string_methods().count(name)) {
    std::string s = self.as_string();
    *out = make_function(name, [s, name](Interpreter& in, CallArgs& a) { return string_method(in, s, name, a); });
    return true;
  }
  if (self.is_object() && (name == "items" || name == "keys" || name == "values" || name == "get" || name == "copy")) {
    *out = make_function(name, [self, name](Interpreter& in, CallArgs& a) { return dict_method(in, self, name, a); });
    return true;
  }
  if (self.is_array() && (name == "index" || name == "count" || name == "copy")) {
    *out = make_function(name, [self, name](Interpreter& in, CallArgs& a) { return list_method(in, self, name, a); });
    return true;
  }
  return false;
}

}  // namespace llmchain::chat
