#include "chat/interpreter.h"

#include "chat/text.h"

namespace llmchain::chat {

// ---- CallArgs ----

const Value* CallArgs::kwarg(std::string_view name) const {
  for (const auto& [k, v] : keyword)
    if (k == name) return &v;
  return nullptr;
}

const Value* CallArgs::find(size_t pos, std::string_view name) const {
  if (pos < positional.size()) return &positional[pos];
  return kwarg(name);
}

Value CallArgs::get(size_t pos, std::string_view name, Value def) const {
  const Value* v = find(pos, name);
  return v ? *v : std::move(def);
}

void CallArgs::check(const char* fn, size_t max_pos, std::initializer_list<std::string_view> names) const {
  if (positional.size() > max_pos)
    fail(ErrorCode::kInvalidArgument, "{}() takes at most {} positional argument(s) ({} given)", fn, max_pos,
         positional.size());
  for (const auto& [k, v] : keyword) {
    bool known = false;
    size_t i = 0;
    for (auto n : names) {
      if (n == k) {
        known = true;
        if (i < positional.size())
          fail(ErrorCode::kInvalidArgument, "{}() got multiple values for argument '{}'", fn, k);
      }
      ++i;
    }
    if (!known) fail(ErrorCode::kInvalidArgument, "{}() got an unexpected keyword argument '{}'", fn, k);
  }
}

// ---- Interpreter ----

Interpreter::Interpreter(const Program& program, const RenderLimits& limits) : program_(program), limits_(limits) {}

Interpreter::~Interpreter() {
  // Namespaces are the only mutable containers, so every reference cycle runs
  // through one; emptying them frees the cycle and flattens deep chains.
  frames_.clear();
  for (auto& ns : namespaces_) {
    std::vector<std::pair<std::string, Value>> drop;
    drop.swap(ns->entries);
    ns->index.clear();
  }
}

std::string Interpreter::render(const Value& context) {
  frames_.clear();
  frames_.push_back(Frame{{}, kNoParent});
  add_globals(*this, frames_[0].vars);
  if (context.is_object())
    for (const auto& [k, v] : context.as_object()->entries) frames_[0].vars[k] = v;
  current_ = push_frame(0);
  WorkBudget work(limits_.max_work);
  std::string out;
  out_ = &out;
  exec_body(program_.body);
  out_ = nullptr;
  return out;
}

void Interpreter::check_string_size(size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    fail(ErrorCode::kResourceExhausted, "output size limit ({} bytes) exceeded", limits_.max_output_bytes);
  // Every string built is counted: appending to a string in a loop copies it each time, so
  // sizes and iteration counts alone allow quadratic work.
  built_bytes_ += bytes;
  if (built_bytes_ > limits_.max_built_bytes)
    fail(ErrorCode::kResourceExhausted, "string building limit ({} bytes in all) exceeded", limits_.max_built_bytes);
}

void Interpreter::check_list_size(size_t items) const {
  if (items > limits_.max_list_items)
    fail(ErrorCode::kResourceExhausted, "list size limit ({} items) exceeded", limits_.max_list_items);
}

void Interpreter::fail_undefined(const Value& v) const {
  const std::string& hint = v.is_undefined() ? v.undefined_hint() : std::string();
  fail(ErrorCode::kInvalidArgument, "{}", hint.empty() ? std::string("value is undefined") : hint);
}

void Interpreter::rethrow_located(const Error& e, int line) const {
  throw LocatedError(e.code(), fmt::format("{}:{}: {}", program_.name, line, e.what()));
}

size_t Interpreter::push_frame(size_t parent) {
  frames_.push_back(Frame{{}, parent});
  return frames_.size() - 1;
}

void Interpreter::pop_frame() { frames_.pop_back(); }

Value Interpreter::lookup(const std::string& name) const {
  for (size_t i = current_; i != kNoParent; i = frames_[i].parent) {
    auto it = frames_[i].vars.find(name);
    if (it != frames_[i].vars.end()) return it->second;
  }
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

Value Interpreter::new_namespace() {
  Value v = make_namespace();
  namespaces_.push_back(v.as_object());
  return v;
}

void Interpreter::emit(std::string_view s) {
  if (out_->size() + s.size() > limits_.max_output_bytes)
    fail(ErrorCode::kResourceExhausted, "output size limit ({} bytes) exceeded", limits_.max_output_bytes);
  out_->append(s);
}

std::string Interpreter::capture(const Body& body) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  try {
    exec_body(body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf;
}

// ---- statements ----

Interpreter::Flow Interpreter::exec_body(const Body& body) {
  for (const auto& s : body) {
    Flow f = exec(*s);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
  try {
    switch (s.kind) {
      case StmtKind::kText: emit(static_cast<const TextStmt&>(s).text); return Flow::kNormal;
      case StmtKind::kOutput: {
        Value v = eval(*static_cast<const OutputStmt&>(s).expr);
        if (v.is_string()) {
          emit(v.as_string());
        } else {
          emit(to_str(v));
        }
        return Flow::kNormal;
      }
      case StmtKind::kIf: {
        const auto& st = static_cast<const IfStmt&>(s);
        for (const auto& [cond, body] : st.branches)
          if (eval(*cond).truthy()) return exec_body(body);
        return exec_body(st.else_body);
      }
      case StmtKind::kFor: return exec_for(static_cast<const ForStmt&>(s));
      case StmtKind::kSet: {
        const auto& st = static_cast<const SetStmt&>(s);
        exec_set(st.target, eval(*st.value), s.line);
        return Flow::kNormal;
      }
      case StmtKind::kSetBlock: {
        const auto& st = static_cast<const SetBlockStmt&>(s);
        Value v(capture(st.body));
        for (const auto& f : st.filters) v = eval_filter(static_cast<const FilterExpr&>(*f), &v);
        exec_set(st.target, std::move(v), s.line);
        return Flow::kNormal;
      }
      case StmtKind::kMacro: {
        const auto& m = static_cast<const MacroStmt&>(s);
        frames_[current_].vars[m.name] = make_macro(m, current_);
        return Flow::kNormal;
      }
      case StmtKind::kCallBlock: {
        const auto& st = static_cast<const CallBlockStmt&>(s);
        const auto& call = static_cast<const CallExpr&>(*st.call);
        Value callee = eval(*call.callee);
        CallArgs args;
        eval_args(call.args, args);
        args.keyword.emplace_back("caller", make_macro(st.caller, current_));
        Value r = this->call(callee, args);
        emit(to_str(r));
        return Flow::kNormal;
      }
      case StmtKind::kFilterBlock: {
        const auto& st = static_cast<const FilterBlockStmt&>(s);
        Value v(capture(st.body));
        for (const auto& f : st.filters) v = eval_filter(static_cast<const FilterExpr&>(*f), &v);
        emit(to_str(v));
        return Flow::kNormal;
      }
      case StmtKind::kWith: {
        const auto& st = static_cast<const WithStmt&>(s);
        std::vector<Value> values;
        for (const auto& [name, e] : st.assigns) values.push_back(eval(*e));
        size_t saved = current_;
        current_ = push_frame(saved);
        for (size_t i = 0; i < values.size(); ++i) frames_[current_].vars[st.assigns[i].first] = values[i];
        Flow f;
        try {
          f = exec_body(st.body);
        } catch (...) {
          pop_frame();
          current_ = saved;
          throw;
        }
        pop_frame();
        current_ = saved;
        return f;
      }
      case StmtKind::kScope: return exec_body(static_cast<const ScopeStmt&>(s).body);
      case StmtKind::kBreak: return Flow::kBreak;
      case StmtKind::kContinue: return Flow::kContinue;
    }
  } catch (const LocatedError&) {
    throw;
  } catch (const Error& e) {
    rethrow_located(e, s.line);
  }
  return Flow::kNormal;
}

void Interpreter::exec_set(const SetTarget& target, Value v, int line) {
  (void)line;
  if (!target.attr.empty()) {
    Value ns = lookup(target.names[0]);
    if (!ns.is_object() || !ns.as_object()->is_namespace)
      fail(ErrorCode::kInvalidArgument, "cannot assign attribute on non-namespace object");
    ns.as_object()->set(target.attr, std::move(v));
    return;
  }
  auto& vars = frames_[current_].vars;
  if (target.names.size() == 1) {
    vars[target.names[0]] = std::move(v);
    return;
  }
  std::vector<Value> items = iterate(v);
  if (items.size() != target.names.size())
    fail(ErrorCode::kInvalidArgument, "{} values to unpack (expected {}, got {})",
         items.size() > target.names.size() ? "too many" : "not enough", target.names.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) vars[target.names[i]] = items[i];
}

Interpreter::Flow Interpreter::exec_for(const ForStmt& s) {
  Value iterable = eval(*s.iter);
  std::vector<Value> items = iterate(iterable);
  size_t saved = current_;
  auto bind = [&](const Value& item) {
    auto& vars = frames_[current_].vars;
    if (s.targets.size() == 1) {
      vars[s.targets[0]] = item;
      return;
    }
    std::vector<Value> parts = iterate(item);
    if (parts.size() != s.targets.size())
      fail(ErrorCode::kInvalidArgument, "{} values to unpack (expected {}, got {})",
           parts.size() > s.targets.size() ? "too many" : "not enough", s.targets.size(), parts.size());
    for (size_t i = 0; i < parts.size(); ++i) vars[s.targets[i]] = parts[i];
  };
  // Invariant: current_ is the top of the frame stack while statements run.
  auto restore = [&] {
    while (frames_.size() > saved + 1) pop_frame();
    current_ = saved;
  };
  try {
    if (s.filter) {
      std::vector<Value> kept;
      for (const auto& item : items) {
        current_ = push_frame(saved);
        bind(item);
        bool keep = eval(*s.filter).truthy();
        pop_frame();
        current_ = saved;
        if (keep) kept.push_back(item);
      }
      items.swap(kept);
    }
    if (items.empty()) {
      restore();
      return exec_body(s.else_body);
    }
    const size_t n = items.size();
    for (size_t i = 0; i < n; ++i) {
      if (++iterations_ > limits_.max_loop_iterations)
        fail(ErrorCode::kResourceExhausted, "loop iteration limit ({}) exceeded", limits_.max_loop_iterations);
      current_ = push_frame(saved);
      bind(items[i]);
      auto loop = std::make_shared<Object>();
      loop->set("index", Value(static_cast<int64_t>(i + 1)));
      loop->set("index0", Value(static_cast<int64_t>(i)));
      loop->set("revindex", Value(static_cast<int64_t>(n - i)));
      loop->set("revindex0", Value(static_cast<int64_t>(n - i - 1)));
      loop->set("first", Value(i == 0));
      loop->set("last", Value(i + 1 == n));
      loop->set("length", Value(static_cast<int64_t>(n)));
      loop->set("depth", Value(1));
      loop->set("depth0", Value(0));
      loop->set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
      loop->set("nextitem", i + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
      loop->set("cycle", make_function("cycle", [i](Interpreter&, CallArgs& a) -> Value {
                  if (a.positional.empty()) fail(ErrorCode::kInvalidArgument, "no items for cycling given");
                  return a.positional[i % a.positional.size()];
                }));
      frames_[current_].vars["loop"] = Value(std::move(loop));
      Flow f = exec_body(s.body);
      pop_frame();
      current_ = saved;
      if (f == Flow::kBreak) break;
    }
  } catch (...) {
    restore();
    throw;
  }
  return Flow::kNormal;
}

// ---- macros ----

Value Interpreter::make_macro(const MacroStmt& m, size_t scope) {
  const MacroStmt* mp = &m;
  return make_function(m.name,
                       [mp, scope](Interpreter& in, CallArgs& args) { return in.call_macro(*mp, scope, args); });
}

Value Interpreter::call_macro(const MacroStmt& m, size_t scope, CallArgs& args) {
  if (call_depth_ >= limits_.max_call_depth)
    fail(ErrorCode::kResourceExhausted, "maximum macro recursion depth ({}) exceeded", limits_.max_call_depth);
  if (++macro_calls_ > limits_.max_macro_calls)
    fail(ErrorCode::kResourceExhausted, "macro call limit ({}) exceeded", limits_.max_macro_calls);
  // A macro sees the scope it was defined in, if that scope is still alive.
  if (scope >= frames_.size()) scope = 1;
  size_t saved = current_;
  std::string* saved_out = out_;
  ++call_depth_;
  current_ = push_frame(scope);
  std::string buf;
  out_ = &buf;
  size_t frame_index = current_;
  try {
    auto& vars = frames_[frame_index].vars;
    std::vector<Value> varargs;
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (i < m.params.size()) {
        vars[m.params[i]] = args.positional[i];
      } else {
        varargs.push_back(args.positional[i]);
      }
    }
    auto kwargs = std::make_shared<Object>();
    for (auto& [k, v] : args.keyword) {
      bool is_param = false;
      for (size_t i = 0; i < m.params.size(); ++i) {
        if (m.params[i] != k) continue;
        if (i < args.positional.size())
          fail(ErrorCode::kInvalidArgument, "macro '{}' got multiple values for argument '{}'", m.name, k);
        is_param = true;
      }
      if (is_param || k == "caller") {
        frames_[frame_index].vars[k] = v;
      } else {
        kwargs->set(k, v);
      }
    }
    for (size_t i = 0; i < m.params.size(); ++i) {
      if (frames_[frame_index].vars.count(m.params[i])) continue;
      Value d = m.defaults[i] ? eval(*m.defaults[i])
                              : Value::undefined(fmt::format("parameter '{}' was not provided", m.params[i]));
      frames_[frame_index].vars[m.params[i]] = std::move(d);
    }
    frames_[frame_index].vars["varargs"] = make_list(std::move(varargs));
    frames_[frame_index].vars["kwargs"] = Value(std::move(kwargs));
    exec_body(m.body);
  } catch (...) {
    while (frames_.size() > frame_index) pop_frame();
    current_ = saved;
    out_ = saved_out;
    --call_depth_;
    throw;
  }
  while (frames_.size() > frame_index) pop_frame();
  current_ = saved;
  out_ = saved_out;
  --call_depth_;
  return Value(std::move(buf));
}

// ---- expressions ----

Value Interpreter::eval(const Expr& e) {
  try {
    return eval_inner(e);
  } catch (const LocatedError&) {
    throw;
  } catch (const Error& err) {
    rethrow_located(err, e.line);
  }
}

// Filters, tests, functions and methods make at most a pass or a sort over their
// operands: each call is charged a pass over every operand (sorts charge their
// comparisons besides).
void Interpreter::eval_args(const Args& a, CallArgs& out) {
  out.positional.reserve(a.positional.size());
  for (const auto& p : a.positional) {
    out.positional.push_back(eval(*p));
    charge_work(shallow_work(out.positional.back()));
  }
  for (const auto& [k, v] : a.keyword) {
    out.keyword.emplace_back(k, eval(*v));
    charge_work(shallow_work(out.keyword.back().second));
  }
}

Value Interpreter::eval_filter(const FilterExpr& e, const Value* input) {
  Value v = input ? *input : eval(*e.operand);
  charge_work(shallow_work(v));
  CallArgs args;
  eval_args(e.args, args);
  try {
    return apply_filter(e.name, v, args);
  } catch (const LocatedError&) {
    throw;
  } catch (const Error& err) {
    rethrow_located(err, e.line);
  }
}

Value Interpreter::eval_call(const CallExpr& e) {
  Value callee = eval(*e.callee);
  CallArgs args;
  eval_args(e.args, args);
  return call(callee, args);
}

Value Interpreter::eval_inner(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kLiteral: return static_cast<const LiteralExpr&>(e).value;
    case ExprKind::kName: return lookup(static_cast<const NameExpr&>(e).name);
    case ExprKind::kList: {
      const auto& l = static_cast<const ListExpr&>(e);
      std::vector<Value> items;
      items.reserve(l.items.size());
      for (const auto& item : l.items) items.push_back(eval(*item));
      return make_list(std::move(items));
    }
    case ExprKind::kDict: {
      const auto& d = static_cast<const DictExpr&>(e);
      auto obj = std::make_shared<Object>();
      for (const auto& [k, v] : d.items) {
        Value key = eval(*k);
        if (!key.is_string() && !key.is_number() && !key.is_none())
          fail(ErrorCode::kInvalidArgument, "unhashable dict key of type '{}'", type_name(key));
        obj->set(to_str(key), eval(*v));
      }
      return Value(std::move(obj));
    }
    case ExprKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      return unary_minus(*this, eval(*u.operand), u.op == '-');
    }
    case ExprKind::kNot: return Value(!eval(*static_cast<const UnaryExpr&>(e).operand).truthy());
    case ExprKind::kAnd: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value l = eval(*b.lhs);
      return l.truthy() ? eval(*b.rhs) : l;
    }
    case ExprKind::kOr: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value l = eval(*b.lhs);
      return l.truthy() ? l : eval(*b.rhs);
    }
    case ExprKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value l = eval(*b.lhs);
      Value r = eval(*b.rhs);
      charge_work(shallow_work(l) + shallow_work(r));
      return binary_op(*this, b.op, l, r);
    }
    case ExprKind::kCompare: {
      const auto& c = static_cast<const CompareExpr&>(e);
      Value left = eval(*c.first);
      for (const auto& [op, expr] : c.rest) {
        Value right = eval(*expr);
        bool ok = false;
        switch (op) {
          case CmpOp::kEq: ok = values_equal(left, right); break;
          case CmpOp::kNe: ok = !values_equal(left, right); break;
          case CmpOp::kIn:
          case CmpOp::kNotIn:
            charge_work(shallow_work(right) + shallow_work(left));
            ok = contains(*this, right, left) == (op == CmpOp::kIn);
            break;
          default: {
            if (left.is_undefined()) fail_undefined(left);
            if (right.is_undefined()) fail_undefined(right);
            int cmp = compare_values(left, right);
            ok = op == CmpOp::kLt ? cmp < 0 : op == CmpOp::kLe ? cmp <= 0 : op == CmpOp::kGt ? cmp > 0 : cmp >= 0;
          }
        }
        if (!ok) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case ExprKind::kCond: {
      const auto& c = static_cast<const CondExpr&>(e);
      if (eval(*c.cond).truthy()) return eval(*c.then);
      if (c.otherwise) return eval(*c.otherwise);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
    }
    case ExprKind::kAttr: {
      const auto& a = static_cast<const AttrExpr&>(e);
      return get_attr(eval(*a.object), a.name);
    }
    case ExprKind::kItem: {
      const auto& i = static_cast<const ItemExpr&>(e);
      Value obj = eval(*i.object);
      return get_item(obj, eval(*i.index));
    }
    case ExprKind::kSlice: {
      const auto& s = static_cast<const SliceExpr&>(e);
      Value obj = eval(*s.object);
      Value a = s.start ? eval(*s.start) : Value();
      Value b = s.stop ? eval(*s.stop) : Value();
      Value c = s.step ? eval(*s.step) : Value();
      charge_work(shallow_work(obj));
      return slice_value(*this, obj, a, b, c);
    }
    case ExprKind::kCall: return eval_call(static_cast<const CallExpr&>(e));
    case ExprKind::kFilter: return eval_filter(static_cast<const FilterExpr&>(e), nullptr);
    case ExprKind::kTest: {
      const auto& t = static_cast<const TestExpr&>(e);
      Value v = eval(*t.operand);
      charge_work(shallow_work(v));
      CallArgs args;
      eval_args(t.args, args);
      bool r = apply_test(t.name, v, args);
      return Value(t.negated ? !r : r);
    }
  }
  return Value();
}

// ---- object protocol ----

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  Value method;
  if (obj.is_object()) {
    const Object& o = *obj.as_object();
    if (!o.is_namespace && find_method(obj, name, &method)) {
      charge_work(shallow_work(obj));
      return method;
    }
    if (const Value* v = o.find(name)) return *v;
    return Value::undefined(
        fmt::format("'{}' has no attribute '{}'", o.is_namespace ? "Namespace" : "dict object", name));
  }
  if (find_method(obj, name, &method)) {
    charge_work(shallow_work(obj));  // a string's method holds a copy
    return method;
  }
  return Value::undefined(fmt::format("'{}' has no attribute '{}'",
                                      obj.is_none() ? "None" : std::string(type_name(obj)) + " object", name));
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.is_object()) {
    if (key.is_string() || key.is_number() || key.is_none()) {
      if (const Value* v = obj.as_object()->find(to_str(key))) return *v;
    }
    if (key.is_string()) return get_attr(obj, key.as_string());
    return Value::undefined(fmt::format("'dict object' has no attribute '{}'", to_str(key)));
  }
  if ((obj.is_array() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_array()) {
      const auto& items = obj.as_array()->items;
      int64_t n = static_cast<int64_t>(items.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined(fmt::format("list object has no element {}", key.as_int()));
      return items[static_cast<size_t>(i)];
    }
    const std::string& s = obj.as_string();
    if (text::is_ascii(s)) {
      int64_t n = static_cast<int64_t>(s.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined(fmt::format("str object has no element {}", key.as_int()));
      return Value(std::string(1, s[static_cast<size_t>(i)]));
    }
    charge_work(s.size());
    auto cps = text::code_points(s);
    int64_t n = static_cast<int64_t>(cps.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined(fmt::format("str object has no element {}", key.as_int()));
    return Value(cps[static_cast<size_t>(i)]);
  }
  if (key.is_string()) return get_attr(obj, key.as_string());
  return Value::undefined(fmt::format("'{}' object has no element {}", type_name(obj), to_repr(key)));
}

std::vector<Value> Interpreter::iterate(const Value& v) {
  charge_work(shallow_work(v) * (v.is_string() ? kValueWork : 1));  // a string: a value per code point
  switch (v.type()) {
    case Value::Type::kUndefined: return {};
    case Value::Type::kArray: return v.as_array()->items;
    case Value::Type::kObject: {
      std::vector<Value> keys;
      for (const auto& [k, item] : v.as_object()->entries) keys.emplace_back(k);
      return keys;
    }
    case Value::Type::kString: {
      std::vector<Value> out;
      for (auto& cp : text::code_points(v.as_string())) out.emplace_back(std::move(cp));
      return out;
    }
    default: fail(ErrorCode::kInvalidArgument, "'{}' object is not iterable", type_name(v));
  }
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_callable()) return callee.as_callable()->fn(*this, args);
  if (callee.is_undefined()) fail_undefined(callee);
  fail(ErrorCode::kInvalidArgument, "'{}' object is not callable", type_name(callee));
}

Value Interpreter::apply_filter(const std::string& name, const Value& v, CallArgs& args) {
  const FilterFn* f = find_filter(name);
  if (!f) fail(ErrorCode::kInvalidArgument, "unknown filter '{}'", name);
  return (*f)(*this, v, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& v, CallArgs& args) {
  const TestFn* t = find_test(name);
  if (!t) fail(ErrorCode::kInvalidArgument, "unknown test '{}'", name);
  return (*t)(*this, v, args);
}

}  // namespace llmchain::chat
