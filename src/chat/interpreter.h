#pragma once
// Tree-walking evaluator. One Interpreter per render call: it owns the scope
// stack, the output buffer and the resource counters, so a parsed Program can
// be rendered from many threads at once.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "chat/ast.h"
#include "chat/value.h"

namespace llmchain::chat {

struct RenderLimits {
  size_t max_output_bytes = 16u << 20;      // also bounds any single string built while rendering
  size_t max_list_items = 1u << 20;         // bounds range(), list repetition and concatenation
  int64_t max_loop_iterations = 1'000'000;  // for-loop iterations, all loops of one render together
  int max_call_depth = 64;                  // nested macro calls
  int64_t max_macro_calls = 100'000;        // macro calls of one render together (a macro calling
                                            // itself twice per level is exponential within the depth)
  size_t max_built_bytes = 256u << 20;      // bytes of all strings built by one render together
  uint64_t max_work = 1ull << 28;           // WorkBudget (value.h): scans, comparisons, conversions
};

// An error that already carries "name:line: " so outer nodes do not re-wrap it.
class LocatedError : public Error {
 public:
  using Error::Error;
};

// Arguments of a call, filter or test, with Python's positional-or-keyword binding.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  const Value* find(size_t pos, std::string_view name) const;
  Value get(size_t pos, std::string_view name, Value def = Value()) const;
  const Value* kwarg(std::string_view name) const;
  // Fails if there are more than max_pos positionals or a keyword not in `names`.
  void check(const char* fn, size_t max_pos, std::initializer_list<std::string_view> names) const;
};

using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);
using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);
const FilterFn* find_filter(const std::string& name);
const TestFn* find_test(const std::string& name);

// str/dict/list attribute methods, bound to self; nullopt-like undefined when absent.
bool find_method(const Value& self, const std::string& name, Value* out);
// range, namespace, dict, raise_exception, strftime_now, joiner.
void add_globals(Interpreter& interp, std::unordered_map<std::string, Value>& vars);

class Interpreter {
 public:
  Interpreter(const Program& program, const RenderLimits& limits);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // context must be a dict; its keys become template variables.
  std::string render(const Value& context);

  // ---- services for filters, tests, methods and globals ----
  const RenderLimits& limits() const { return limits_; }
  void check_string_size(size_t bytes) const;
  void check_list_size(size_t items) const;
  [[noreturn]] void fail_undefined(const Value& v) const;

  Value get_attr(const Value& obj, const std::string& name);
  Value get_item(const Value& obj, const Value& key);
  // Items of an iterable: list items, dict keys, string code points; Undefined is empty.
  std::vector<Value> iterate(const Value& v);
  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(const std::string& name, const Value& v, CallArgs& args);
  bool apply_test(const std::string& name, const Value& v, CallArgs& args);
  // A namespace tracked so that reference cycles through it are broken after the render.
  Value new_namespace();

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  struct Frame {
    std::unordered_map<std::string, Value> vars;
    size_t parent;  // index of the enclosing scope; npos for the globals frame
  };
  static constexpr size_t kNoParent = static_cast<size_t>(-1);

  Flow exec_body(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_for(const ForStmt& s);
  void exec_set(const SetTarget& target, Value v, int line);
  Value eval(const Expr& e);
  Value eval_inner(const Expr& e);
  Value eval_call(const CallExpr& e);
  Value eval_filter(const FilterExpr& e, const Value* input);
  void eval_args(const Args& a, CallArgs& out);
  Value make_macro(const MacroStmt& m, size_t scope);
  Value call_macro(const MacroStmt& m, size_t scope, CallArgs& args);
  std::string capture(const Body& body);
  void emit(std::string_view s);
  Value lookup(const std::string& name) const;
  size_t push_frame(size_t parent);
  void pop_frame();
  [[noreturn]] void rethrow_located(const Error& e, int line) const;

  const Program& program_;
  RenderLimits limits_;
  std::vector<Frame> frames_;
  size_t current_ = 0;  // index of the innermost scope
  std::string* out_ = nullptr;
  int64_t iterations_ = 0;
  int64_t macro_calls_ = 0;
  mutable size_t built_bytes_ = 0;  // see check_string_size
  int call_depth_ = 0;
  std::vector<ObjectPtr> namespaces_;
};

// Operators with Python semantics (operators.cpp).
Value binary_op(Interpreter& in, BinOp op, const Value& a, const Value& b);
Value unary_minus(Interpreter& in, const Value& v, bool negate);
bool contains(Interpreter& in, const Value& container, const Value& item);
Value slice_value(Interpreter& in, const Value& v, const Value& start, const Value& stop, const Value& step);
// printf-style "%s" formatting used by the % operator and the format filter.
std::string percent_format(Interpreter& in, const std::string& fmt, const Value& args);

}  // namespace llmchain::chat
