// Global functions: Jinja2's range/namespace/dict/joiner/cycler plus HF's
// raise_exception and strftime_now.
#include <ctime>
#include <memory>

#include "chat/interpreter.h"

namespace llmchain::chat {

namespace {

Value g_range(Interpreter& in, CallArgs& a) {
  a.check("range", 3, {});
  std::vector<int64_t> n;
  for (const auto& v : a.positional) {
    if (!v.is_int() && !v.is_bool())
      fail(ErrorCode::kInvalidArgument, "'{}' object cannot be interpreted as an integer", type_name(v));
    n.push_back(v.as_int());
  }
  int64_t start = 0, stop = 0, step = 1;
  if (n.size() == 1) {
    stop = n[0];
  } else if (n.size() >= 2) {
    start = n[0];
    stop = n[1];
    if (n.size() == 3) step = n[2];
  } else {
    fail(ErrorCode::kInvalidArgument, "range expected at least 1 argument, got 0");
  }
  if (step == 0) fail(ErrorCode::kInvalidArgument, "range() arg 3 must not be zero");
  long double count = step > 0 ? (static_cast<long double>(stop) - start) / step
                               : (static_cast<long double>(start) - stop) / -static_cast<long double>(step);
  if (count > static_cast<long double>(in.limits().max_list_items)) in.check_list_size(in.limits().max_list_items + 1);
  std::vector<Value> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
    out.emplace_back(i);
    if (__builtin_add_overflow(i, step, &i)) break;
  }
  return make_list(std::move(out));
}

Value g_namespace(Interpreter& in, CallArgs& a) {
  Value ns = in.new_namespace();
  auto& o = *ns.as_object();
  for (const auto& p : a.positional) {
    if (!p.is_object()) fail(ErrorCode::kInvalidArgument, "namespace() positional arguments must be mappings");
    for (const auto& [k, v] : p.as_object()->entries) o.set(k, v);
  }
  for (const auto& [k, v] : a.keyword) o.set(k, v);
  return ns;
}

Value g_dict(Interpreter&, CallArgs& a) {
  std::vector<std::pair<std::string, Value>> entries;
  for (const auto& p : a.positional) {
    if (!p.is_object()) fail(ErrorCode::kInvalidArgument, "dict() positional argument must be a mapping");
    for (const auto& e : p.as_object()->entries) entries.push_back(e);
  }
  for (const auto& e : a.keyword) entries.push_back(e);
  return make_dict(std::move(entries));
}

Value g_raise_exception(Interpreter&, CallArgs& a) {
  std::string msg = a.positional.empty() ? std::string("raise_exception called") : to_str(a.positional[0]);
  fail(ErrorCode::kInvalidArgument, "{}", msg);
}

Value g_strftime_now(Interpreter&, CallArgs& a) {
  a.check("strftime_now", 1, {"format"});
  const Value* f = a.find(0, "format");
  if (!f || !f->is_string()) fail(ErrorCode::kInvalidArgument, "strftime_now() requires a format string");
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[512];
  size_t n = f->as_string().empty() ? 0 : std::strftime(buf, sizeof(buf), f->as_string().c_str(), &tm);
  if (n == 0 && !f->as_string().empty())
    fail(ErrorCode::kInvalidArgument, "strftime_now(): format too long or invalid");
  return Value(std::string(buf, n));
}

Value g_joiner(Interpreter&, CallArgs& a) {
  std::string sep = to_str(a.get(0, "sep", Value(", ")));
  auto used = std::make_shared<bool>(false);
  return make_function("joiner", [sep, used](Interpreter&, CallArgs&) -> Value {
    if (!*used) {
      *used = true;
      return Value(std::string());
    }
    return Value(sep);
  });
}

}  // namespace

void add_globals(Interpreter& interp, std::unordered_map<std::string, Value>& vars) {
  (void)interp;
  vars["range"] = make_function("range", g_range);
  vars["namespace"] = make_function("namespace", g_namespace);
  vars["dict"] = make_function("dict", g_dict);
  vars["joiner"] = make_function("joiner", g_joiner);
  vars["raise_exception"] = make_function("raise_exception", g_raise_exception);
  vars["strftime_now"] = make_function("strftime_now", g_strftime_now);
}

}  // namespace llmchain::chat
