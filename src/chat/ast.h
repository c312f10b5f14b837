#pragma once
// Syntax tree of a parsed template. Immutable after parsing and shared by all
// concurrent renders. Nodes carry their source line for error messages.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace llmchain::chat {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  kLiteral,
  kName,
  kList,
  kDict,
  kUnary,
  kBinary,
  kAnd,
  kOr,
  kNot,
  kCompare,
  kCond,
  kAttr,
  kItem,
  kSlice,
  kCall,
  kFilter,
  kTest,
};

struct Expr {
  Expr(ExprKind k, int l) : kind(k), line(l) {}
  virtual ~Expr() = default;
  ExprKind kind;
  int line;
};

struct LiteralExpr : Expr {
  LiteralExpr(int l, Value v) : Expr(ExprKind::kLiteral, l), value(std::move(v)) {}
  Value value;  // scalars only (shared containers would leak mutations across renders)
};

struct NameExpr : Expr {
  NameExpr(int l, std::string n) : Expr(ExprKind::kName, l), name(std::move(n)) {}
  std::string name;
};

struct ListExpr : Expr {  // list or tuple literal
  explicit ListExpr(int l) : Expr(ExprKind::kList, l) {}
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(int l) : Expr(ExprKind::kDict, l) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct UnaryExpr : Expr {  // op: '-', '+', or 'n' for not
  UnaryExpr(ExprKind k, int l, char o, ExprPtr e) : Expr(k, l), op(o), operand(std::move(e)) {}
  char op;
  ExprPtr operand;
};

enum class BinOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow, kConcat };

struct BinaryExpr : Expr {  // also kAnd / kOr with op unused
  BinaryExpr(ExprKind k, int l, BinOp o, ExprPtr a, ExprPtr b)
      : Expr(k, l), op(o), lhs(std::move(a)), rhs(std::move(b)) {}
  BinOp op;
  ExprPtr lhs, rhs;
};

enum class CmpOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct CompareExpr : Expr {
  explicit CompareExpr(int l) : Expr(ExprKind::kCompare, l) {}
  ExprPtr first;
  std::vector<std::pair<CmpOp, ExprPtr>> rest;  // chained: a < b < c
};

struct CondExpr : Expr {
  explicit CondExpr(int l) : Expr(ExprKind::kCond, l) {}
  ExprPtr cond, then, otherwise;  // otherwise may be null (gives undefined)
};

struct AttrExpr : Expr {
  AttrExpr(int l, ExprPtr o, std::string n) : Expr(ExprKind::kAttr, l), object(std::move(o)), name(std::move(n)) {}
  ExprPtr object;
  std::string name;
};

struct ItemExpr : Expr {
  ItemExpr(int l, ExprPtr o, ExprPtr i) : Expr(ExprKind::kItem, l), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object, index;
};

struct SliceExpr : Expr {
  explicit SliceExpr(int l) : Expr(ExprKind::kSlice, l) {}
  ExprPtr object, start, stop, step;  // any of start/stop/step may be null
};

struct Args {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct CallExpr : Expr {
  explicit CallExpr(int l) : Expr(ExprKind::kCall, l) {}
  ExprPtr callee;
  Args args;
};

struct FilterExpr : Expr {  // operand is null inside {% filter %} blocks
  explicit FilterExpr(int l) : Expr(ExprKind::kFilter, l) {}
  ExprPtr operand;
  std::string name;
  Args args;
};

struct TestExpr : Expr {
  explicit TestExpr(int l) : Expr(ExprKind::kTest, l) {}
  ExprPtr operand;
  std::string name;
  bool negated = false;
  Args args;
};

enum class StmtKind {
  kText,
  kOutput,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kCallBlock,
  kFilterBlock,
  kWith,
  kScope,
  kBreak,
  kContinue
};

struct Stmt {
  Stmt(StmtKind k, int l) : kind(k), line(l) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  int line;
};

struct TextStmt : Stmt {
  TextStmt(int l, std::string t) : Stmt(StmtKind::kText, l), text(std::move(t)) {}
  std::string text;
};

struct OutputStmt : Stmt {
  OutputStmt(int l, ExprPtr e) : Stmt(StmtKind::kOutput, l), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(int l) : Stmt(StmtKind::kIf, l) {}
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body else_body;
};

struct ForStmt : Stmt {
  explicit ForStmt(int l) : Stmt(StmtKind::kFor, l) {}
  std::vector<std::string> targets;  // more than one: tuple unpacking
  ExprPtr iter, filter;              // filter may be null
  Body body, else_body;
};

// Assignment target: a name, a tuple of names, or namespace.attr.
struct SetTarget {
  std::vector<std::string> names;
  std::string attr;  // non-empty: names[0].attr
};

struct SetStmt : Stmt {
  explicit SetStmt(int l) : Stmt(StmtKind::kSet, l) {}
  SetTarget target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(int l) : Stmt(StmtKind::kSetBlock, l) {}
  SetTarget target;
  std::vector<ExprPtr> filters;  // FilterExprs with null operand, applied in order
  Body body;
};

struct MacroStmt : Stmt {
  explicit MacroStmt(int l) : Stmt(StmtKind::kMacro, l) {}
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // parallel to params; null when required
  Body body;
};

struct CallBlockStmt : Stmt {  // {% call(params) macro(args) %}body{% endcall %}
  explicit CallBlockStmt(int l) : Stmt(StmtKind::kCallBlock, l) {}
  MacroStmt caller{0};  // the body as an anonymous macro named "caller"
  ExprPtr call;
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(int l) : Stmt(StmtKind::kFilterBlock, l) {}
  std::vector<ExprPtr> filters;
  Body body;
};

struct WithStmt : Stmt {
  explicit WithStmt(int l) : Stmt(StmtKind::kWith, l) {}
  std::vector<std::pair<std::string, ExprPtr>> assigns;
  Body body;
};

// A body rendered in place: {% generation %} (HF's assistant-mask marker) and
// {% block %} in a standalone template.
struct ScopeStmt : Stmt {
  explicit ScopeStmt(int l) : Stmt(StmtKind::kScope, l) {}
  Body body;
};

struct Program {
  Body body;
  std::string name;
  bool mentions_text_type = false;  // a string literal 'text' appears (typed content parts)
  bool mentions_tools = false;      // the variable 'tools' is read (the template renders tool definitions)
};

}  // namespace llmchain::chat
