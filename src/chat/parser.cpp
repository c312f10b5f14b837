#include "chat/parser.h"

#include <initializer_list>

#include "base/error.h"

namespace llmchain::chat {

namespace {

// Bounds recursion on hostile input such as "((((((...".
constexpr int kMaxParseDepth = 200;

class Parser {
 public:
  Parser(std::vector<Token> toks, const std::string& name) : toks_(std::move(toks)), name_(name) {}

  std::unique_ptr<Program> run() {
    auto prog = std::make_unique<Program>();
    prog->name = name_;
    std::string end;
    prog->body = parse_body({}, &end);
    prog->mentions_text_type = mentions_text_;
    prog->mentions_tools = mentions_tools_;
    return prog;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p(p) {
      if (++p->depth_ > kMaxParseDepth) p->error(p->cur().line, "template nesting too deep");
    }
    ~DepthGuard() { --p->depth_; }
    Parser* p;
  };

  [[noreturn]] void error(int line, const std::string& msg) {
    fail(ErrorCode::kInvalidArgument, "{}:{}: {}", name_, line, msg);
  }

  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(size_t ahead = 1) const { return toks_[std::min(pos_ + ahead, toks_.size() - 1)]; }
  void advance() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    advance();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::kText: return "text";
      case Tok::kVarBegin: return "'{{'";
      case Tok::kVarEnd: return "'}}'";
      case Tok::kBlockBegin: return "'{%'";
      case Tok::kBlockEnd: return "'%}'";
      case Tok::kName: return "'" + t.text + "'";
      case Tok::kString: return "string literal";
      case Tok::kInt:
      case Tok::kFloat: return "number '" + t.text + "'";
      case Tok::kOp: return "'" + t.text + "'";
      case Tok::kEof: return "end of template";
    }
    return "?";
  }

  void expect_op(const char* op) {
    if (!skip_op(op)) error(cur().line, fmt::format("expected '{}', got {}", op, describe(cur())));
  }
  void expect_block_end() {
    if (cur().type != Tok::kBlockEnd)
      error(cur().line, fmt::format("expected end of statement '%}}', got {}", describe(cur())));
    advance();
  }
  std::string expect_ident() {
    if (cur().type != Tok::kName) error(cur().line, fmt::format("expected a name, got {}", describe(cur())));
    std::string n = cur().text;
    advance();
    return n;
  }

  // Parses statements until a block tag whose keyword is in end_words. On
  // return the keyword has been consumed and stored in *found.
  Body parse_body(std::initializer_list<const char*> end_words, std::string* found) {
    DepthGuard guard(this);
    Body body;
    int start_line = pos_ > 0 ? toks_[pos_ - 1].line : cur().line;  // the opening tag
    while (true) {
      const Token& t = cur();
      switch (t.type) {
        case Tok::kEof:
          if (end_words.size() == 0) return body;
          {
            std::string want;
            for (const char* w : end_words) want += (want.empty() ? "'" : " or '") + std::string(w) + "'";
            error(t.line,
                  fmt::format("unexpected end of template; expected {} (block opened on line {})", want, start_line));
          }
        case Tok::kText:
          body.push_back(std::make_unique<TextStmt>(t.line, t.text));
          advance();
          break;
        case Tok::kVarBegin: {
          int line = t.line;
          advance();
          auto e = parse_tuple(true);
          if (cur().type != Tok::kVarEnd) error(cur().line, fmt::format("expected '}}}}', got {}", describe(cur())));
          advance();
          body.push_back(std::make_unique<OutputStmt>(line, std::move(e)));
          break;
        }
        case Tok::kBlockBegin: {
          const Token& kw = peek();
          if (kw.type != Tok::kName) error(kw.line, fmt::format("expected a statement name, got {}", describe(kw)));
          for (const char* w : end_words) {
            if (kw.text == w) {
              advance();
              advance();
              *found = w;
              return body;
            }
          }
          advance();
          body.push_back(parse_statement());
          break;
        }
        default: error(t.line, fmt::format("unexpected {}", describe(t)));
      }
    }
  }

  StmtPtr parse_statement() {
    const Token kw = cur();
    const std::string& k = kw.text;
    advance();
    if (k == "if") return parse_if(kw.line);
    if (k == "for") return parse_for(kw.line);
    if (k == "set") return parse_set(kw.line);
    if (k == "macro") return parse_macro(kw.line);
    if (k == "call") return parse_call_block(kw.line);
    if (k == "filter") return parse_filter_block(kw.line);
    if (k == "with") return parse_with(kw.line);
    if (k == "break" || k == "continue") {
      if (loop_depth_ == 0) error(kw.line, fmt::format("'{}' outside of a loop", k));
      expect_block_end();
      return std::make_unique<Stmt>(k == "break" ? StmtKind::kBreak : StmtKind::kContinue, kw.line);
    }
    if (k == "generation" || k == "block") {
      if (k == "block") expect_ident();
      expect_block_end();
      auto s = std::make_unique<ScopeStmt>(kw.line);
      std::string end;
      s->body = parse_body({k == "generation" ? "endgeneration" : "endblock"}, &end);
      if (k == "block" && cur().type == Tok::kName) advance();
      expect_block_end();
      return s;
    }
    if (k == "include" || k == "extends" || k == "import" || k == "from")
      error(kw.line, fmt::format("'{}' is not supported (templates are standalone)", k));
    if (k.rfind("end", 0) == 0 || k == "elif" || k == "else") error(kw.line, fmt::format("unexpected '{}'", k));
    error(kw.line, fmt::format("unknown tag '{}'", k));
  }

  StmtPtr parse_if(int line) {
    auto s = std::make_unique<IfStmt>(line);
    auto cond = parse_tuple(true);
    expect_block_end();
    while (true) {
      std::string end;
      Body body = parse_body({"elif", "else", "endif"}, &end);
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") {
        cond = parse_tuple(true);
        expect_block_end();
        continue;
      }
      if (end == "else") {
        expect_block_end();
        s->else_body = parse_body({"endif"}, &end);
      }
      expect_block_end();
      return s;
    }
  }

  std::vector<std::string> parse_target_names() {
    std::vector<std::string> names;
    bool paren = skip_op("(");
    names.push_back(expect_ident());
    while (skip_op(",")) {
      if (cur().type != Tok::kName) break;
      names.push_back(expect_ident());
    }
    if (paren) expect_op(")");
    return names;
  }

  StmtPtr parse_for(int line) {
    auto s = std::make_unique<ForStmt>(line);
    s->targets = parse_target_names();
    if (!skip_name("in")) error(cur().line, fmt::format("expected 'in', got {}", describe(cur())));
    s->iter = parse_tuple(false);
    if (skip_name("if")) s->filter = parse_expr(true);
    if (is_name("recursive")) error(cur().line, "recursive loops are not supported");
    expect_block_end();
    std::string end;
    ++loop_depth_;
    s->body = parse_body({"else", "endfor"}, &end);
    --loop_depth_;
    if (end == "else") {
      expect_block_end();
      s->else_body = parse_body({"endfor"}, &end);
    }
    expect_block_end();
    return s;
  }

  SetTarget parse_set_target() {
    SetTarget t;
    std::string first = expect_ident();
    if (skip_op(".")) {
      t.names.push_back(first);
      t.attr = expect_ident();
      return t;
    }
    t.names.push_back(first);
    while (skip_op(",")) t.names.push_back(expect_ident());
    return t;
  }

  std::vector<ExprPtr> parse_filter_chain(bool leading_pipe) {
    std::vector<ExprPtr> filters;
    if (leading_pipe && !is_op("|")) return filters;
    if (!leading_pipe) filters.push_back(parse_filter(nullptr));
    while (skip_op("|")) filters.push_back(parse_filter(nullptr, /*pipe_consumed=*/true));
    return filters;
  }

  StmtPtr parse_set(int line) {
    SetTarget target = parse_set_target();
    if (skip_op("=")) {
      auto s = std::make_unique<SetStmt>(line);
      s->target = std::move(target);
      s->value = parse_tuple(true);
      expect_block_end();
      return s;
    }
    if (target.names.size() > 1) error(line, "block set takes a single target");
    auto s = std::make_unique<SetBlockStmt>(line);
    s->target = std::move(target);
    s->filters = parse_filter_chain(true);
    expect_block_end();
    std::string end;
    s->body = parse_body({"endset"}, &end);
    expect_block_end();
    return s;
  }

  void parse_params(MacroStmt& m) {
    expect_op("(");
    while (!is_op(")")) {
      m.params.push_back(expect_ident());
      if (skip_op("=")) {
        m.defaults.push_back(parse_expr(true));
      } else {
        if (!m.defaults.empty() && m.defaults.back())
          error(cur().line, "non-default argument follows default argument");
        m.defaults.push_back(nullptr);
      }
      if (!skip_op(",")) break;
    }
    expect_op(")");
  }

  StmtPtr parse_macro(int line) {
    auto s = std::make_unique<MacroStmt>(line);
    s->name = expect_ident();
    parse_params(*s);
    expect_block_end();
    std::string end;
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_body({"endmacro"}, &end);
    loop_depth_ = saved;
    if (cur().type == Tok::kName) advance();  // {% endmacro name %}
    expect_block_end();
    return s;
  }

  StmtPtr parse_call_block(int line) {
    auto s = std::make_unique<CallBlockStmt>(line);
    s->caller.line = line;
    s->caller.name = "caller";
    if (is_op("(")) parse_params(s->caller);
    s->call = parse_expr(true);
    if (s->call->kind != ExprKind::kCall) error(line, "expected a call expression in 'call' block");
    expect_block_end();
    std::string end;
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->caller.body = parse_body({"endcall"}, &end);
    loop_depth_ = saved;
    expect_block_end();
    return s;
  }

  StmtPtr parse_filter_block(int line) {
    auto s = std::make_unique<FilterBlockStmt>(line);
    s->filters = parse_filter_chain(false);
    expect_block_end();
    std::string end;
    s->body = parse_body({"endfilter"}, &end);
    expect_block_end();
    return s;
  }

  StmtPtr parse_with(int line) {
    auto s = std::make_unique<WithStmt>(line);
    while (cur().type == Tok::kName) {
      std::string n = expect_ident();
      expect_op("=");
      s->assigns.emplace_back(n, parse_expr(true));
      if (!skip_op(",")) break;
    }
    expect_block_end();
    std::string end;
    s->body = parse_body({"endwith"}, &end);
    expect_block_end();
    return s;
  }

  // ---- expressions ----

  ExprPtr parse_tuple(bool with_cond) {
    int line = cur().line;
    auto first = parse_expr(with_cond);
    if (!is_op(",")) return first;
    auto list = std::make_unique<ListExpr>(line);
    list->items.push_back(std::move(first));
    while (skip_op(",")) {
      if (at_expr_end()) break;
      list->items.push_back(parse_expr(with_cond));
    }
    return list;
  }

  bool at_expr_end() const {
    auto t = cur().type;
    return t == Tok::kVarEnd || t == Tok::kBlockEnd || t == Tok::kEof ||
           (t == Tok::kOp && (cur().text == ")" || cur().text == "]"));
  }

  ExprPtr parse_expr(bool with_cond) {
    DepthGuard guard(this);
    if (!with_cond) return parse_or();
    auto e = parse_or();
    while (is_name("if")) {
      int line = cur().line;
      advance();
      auto c = std::make_unique<CondExpr>(line);
      c->then = std::move(e);
      c->cond = parse_or();
      if (skip_name("else")) c->otherwise = parse_expr(true);
      e = std::move(c);
    }
    return e;
  }

  ExprPtr parse_or() {
    auto e = parse_and();
    while (is_name("or")) {
      int line = cur().line;
      advance();
      e = std::make_unique<BinaryExpr>(ExprKind::kOr, line, BinOp::kAdd, std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    auto e = parse_not();
    while (is_name("and")) {
      int line = cur().line;
      advance();
      e = std::make_unique<BinaryExpr>(ExprKind::kAnd, line, BinOp::kAdd, std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(this);
      int line = cur().line;
      advance();
      return std::make_unique<UnaryExpr>(ExprKind::kNot, line, 'n', parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = cur().line;
    auto first = parse_math1();
    std::unique_ptr<CompareExpr> cmp;
    while (true) {
      CmpOp op;
      if (is_op("=="))
        op = CmpOp::kEq;
      else if (is_op("!="))
        op = CmpOp::kNe;
      else if (is_op("<"))
        op = CmpOp::kLt;
      else if (is_op("<="))
        op = CmpOp::kLe;
      else if (is_op(">"))
        op = CmpOp::kGt;
      else if (is_op(">="))
        op = CmpOp::kGe;
      else if (is_name("in"))
        op = CmpOp::kIn;
      else if (is_name("not") && peek().type == Tok::kName && peek().text == "in") {
        advance();
        op = CmpOp::kNotIn;
      } else {
        break;
      }
      advance();
      if (!cmp) {
        cmp = std::make_unique<CompareExpr>(line);
        cmp->first = std::move(first);
      }
      cmp->rest.emplace_back(op, parse_math1());
    }
    if (cmp) return cmp;
    return first;
  }

  ExprPtr parse_math1() {
    auto e = parse_concat();
    while (is_op("+") || is_op("-")) {
      BinOp op = cur().text == "+" ? BinOp::kAdd : BinOp::kSub;
      int line = cur().line;
      advance();
      e = std::make_unique<BinaryExpr>(ExprKind::kBinary, line, op, std::move(e), parse_concat());
    }
    return e;
  }

  ExprPtr parse_concat() {
    auto e = parse_math2();
    while (is_op("~")) {
      int line = cur().line;
      advance();
      e = std::make_unique<BinaryExpr>(ExprKind::kBinary, line, BinOp::kConcat, std::move(e), parse_math2());
    }
    return e;
  }

  ExprPtr parse_math2() {
    auto e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string& t = cur().text;
      BinOp op = t == "*" ? BinOp::kMul : t == "/" ? BinOp::kDiv : t == "//" ? BinOp::kFloorDiv : BinOp::kMod;
      int line = cur().line;
      advance();
      e = std::make_unique<BinaryExpr>(ExprKind::kBinary, line, op, std::move(e), parse_pow());
    }
    return e;
  }

  ExprPtr parse_pow() {
    auto e = parse_unary(true);
    while (is_op("**")) {
      int line = cur().line;
      advance();
      e = std::make_unique<BinaryExpr>(ExprKind::kBinary, line, BinOp::kPow, std::move(e), parse_unary(true));
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      char op = cur().text[0];
      int line = cur().line;
      advance();
      e = std::make_unique<UnaryExpr>(ExprKind::kUnary, line, op, parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    DepthGuard guard(this);
    const Token t = cur();
    switch (t.type) {
      case Tok::kName: {
        advance();
        if (t.text == "true" || t.text == "True") return std::make_unique<LiteralExpr>(t.line, Value(true));
        if (t.text == "false" || t.text == "False") return std::make_unique<LiteralExpr>(t.line, Value(false));
        if (t.text == "none" || t.text == "None") return std::make_unique<LiteralExpr>(t.line, Value(nullptr));
        if (t.text == "tools") mentions_tools_ = true;
        return std::make_unique<NameExpr>(t.line, t.text);
      }
      case Tok::kString: {
        std::string s = t.text;
        advance();
        while (cur().type == Tok::kString) {
          s += cur().text;
          advance();
        }
        if (s == "text") mentions_text_ = true;
        return std::make_unique<LiteralExpr>(t.line, Value(std::move(s)));
      }
      case Tok::kInt: advance(); return std::make_unique<LiteralExpr>(t.line, Value(t.ival));
      case Tok::kFloat: advance(); return std::make_unique<LiteralExpr>(t.line, Value(t.fval));
      case Tok::kOp:
        if (t.text == "(") {
          advance();
          if (skip_op(")")) return std::make_unique<ListExpr>(t.line);  // empty tuple
          auto e = parse_expr(true);
          if (is_op(",")) {
            auto list = std::make_unique<ListExpr>(t.line);
            list->items.push_back(std::move(e));
            while (skip_op(",")) {
              if (is_op(")")) break;
              list->items.push_back(parse_expr(true));
            }
            e = std::move(list);
          }
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          advance();
          auto list = std::make_unique<ListExpr>(t.line);
          while (!is_op("]")) {
            list->items.push_back(parse_expr(true));
            if (!skip_op(",")) break;
          }
          expect_op("]");
          return list;
        }
        if (t.text == "{") {
          advance();
          auto dict = std::make_unique<DictExpr>(t.line);
          while (!is_op("}")) {
            auto k = parse_expr(true);
            expect_op(":");
            dict->items.emplace_back(std::move(k), parse_expr(true));
            if (!skip_op(",")) break;
          }
          expect_op("}");
          return dict;
        }
        break;
      default: break;
    }
    error(t.line, fmt::format("unexpected {}", describe(t)));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      int line = cur().line;
      if (is_op(".")) {
        advance();
        if (cur().type == Tok::kName) {
          e = std::make_unique<AttrExpr>(line, std::move(e), cur().text);
          advance();
        } else if (cur().type == Tok::kInt) {
          e = std::make_unique<ItemExpr>(line, std::move(e), std::make_unique<LiteralExpr>(line, Value(cur().ival)));
          advance();
        } else {
          error(line, fmt::format("expected an attribute name after '.', got {}", describe(cur())));
        }
      } else if (is_op("[")) {
        advance();
        e = parse_subscript(std::move(e), line);
      } else if (is_op("(")) {
        auto call = std::make_unique<CallExpr>(line);
        call->callee = std::move(e);
        call->args = parse_call_args();
        e = std::move(call);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, int line) {
    ExprPtr start, stop, step;
    bool is_slice = false;
    if (!is_op(":")) start = parse_expr(true);
    if (skip_op(":")) {
      is_slice = true;
      if (!is_op("]") && !is_op(":")) stop = parse_expr(true);
      if (skip_op(":")) {
        if (!is_op("]")) step = parse_expr(true);
      }
    }
    expect_op("]");
    if (!is_slice) return std::make_unique<ItemExpr>(line, std::move(obj), std::move(start));
    auto s = std::make_unique<SliceExpr>(line);
    s->object = std::move(obj);
    s->start = std::move(start);
    s->stop = std::move(stop);
    s->step = std::move(step);
    return s;
  }

  Args parse_call_args() {
    Args args;
    expect_op("(");
    while (!is_op(")")) {
      if (is_op("*") || is_op("**")) error(cur().line, "*args and **kwargs in calls are not supported");
      if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == "=") {
        std::string n = cur().text;
        advance();
        advance();
        args.keyword.emplace_back(n, parse_expr(true));
      } else {
        if (!args.keyword.empty()) error(cur().line, "positional argument follows keyword argument");
        args.positional.push_back(parse_expr(true));
      }
      if (!skip_op(",")) break;
    }
    expect_op(")");
    return args;
  }

  ExprPtr parse_filter(ExprPtr operand, bool pipe_consumed = true) {
    (void)pipe_consumed;
    int line = cur().line;
    std::string name = expect_ident();
    while (is_op(".") && peek().type == Tok::kName) {  // dotted filter names
      advance();
      name += "." + cur().text;
      advance();
    }
    if (!has_filter(name)) error(line, fmt::format("unknown filter '{}'", name));
    auto f = std::make_unique<FilterExpr>(line);
    f->operand = std::move(operand);
    f->name = std::move(name);
    if (is_op("(")) f->args = parse_call_args();
    return f;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (skip_op("|")) {
        e = parse_filter(std::move(e));
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        auto call = std::make_unique<CallExpr>(cur().line);
        call->callee = std::move(e);
        call->args = parse_call_args();
        e = std::move(call);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_test(ExprPtr operand) {
    int line = cur().line;
    advance();  // 'is'
    auto t = std::make_unique<TestExpr>(line);
    t->operand = std::move(operand);
    t->negated = skip_name("not");
    // Test names may be keywords: "is none", "is true", "is in".
    t->name = expect_ident();
    while (is_op(".") && peek().type == Tok::kName) {
      advance();
      t->name += "." + cur().text;
      advance();
    }
    if (!has_test(t->name)) error(line, fmt::format("unknown test '{}'", t->name));
    if (is_op("(")) {
      t->args = parse_call_args();
    } else if (takes_bare_argument()) {
      auto arg = parse_primary();
      t->args.positional.push_back(parse_postfix(std::move(arg)));
    }
    return t;
  }

  bool takes_bare_argument() const {
    const Token& t = cur();
    if (t.type == Tok::kName) {
      static const char* stop[] = {"else", "or", "and", "if", "is", "in", "not"};
      for (const char* s : stop)
        if (t.text == s) return false;
      return true;
    }
    if (t.type == Tok::kString || t.type == Tok::kInt || t.type == Tok::kFloat) return true;
    return t.type == Tok::kOp && (t.text == "[" || t.text == "{");
  }

  std::vector<Token> toks_;
  const std::string& name_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  bool mentions_text_ = false;
  bool mentions_tools_ = false;
};

}  // namespace

std::unique_ptr<Program> parse_program(std::vector<Token> tokens, const std::string& name) {
  Parser p(std::move(tokens), name);
  return p.run();
}

}  // namespace llmchain::chat
