// Regex parsing (ECMAScript subset -> AST) and compilation to backtracking programs.
#include <algorithm>

#include "base/error.h"
#include "base/utf8.h"
#include "tokenizer/regex_internal.h"

namespace llmchain::tokenizer::detail {
namespace {

class Parser {
 public:
  Parser(std::string_view pattern, Regex::Impl& re) : cps_(utf8::to_codepoints(pattern)), re_(re) {}

  Node parse() {
    Node n = parse_alt();
    if (i_ != cps_.size()) error("unbalanced ')'");
    return n;
  }

 private:
  [[noreturn]] void error(const char* what) const {
    fail(ErrorCode::kUnsupported, "regex '{}': {} at offset {}", re_.pattern, what, i_);
  }
  bool at_end() const { return i_ >= cps_.size(); }
  uint32_t peek(size_t k = 0) const { return i_ + k < cps_.size() ? cps_[i_ + k] : 0; }
  uint32_t next() {
    if (at_end()) error("unexpected end");
    return cps_[i_++];
  }
  bool eat(uint32_t c) {
    if (!at_end() && cps_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  int add_class(CharClass c) {
    re_.classes.push_back(std::move(c));
    return static_cast<int>(re_.classes.size()) - 1;
  }
  int add_matcher(Matcher m) {
    re_.matchers.push_back(std::move(m));
    return static_cast<int>(re_.matchers.size()) - 1;
  }
  Node char_node(CharClass c) {
    Node n;
    n.kind = Node::kChar;
    n.matcher = add_matcher(Matcher{{{add_class(std::move(c)), false}}});
    return n;
  }

  void add_literal(CharClass& c, uint32_t lo, uint32_t hi) const {
    c.ranges.emplace_back(lo, hi);
    if (!icase_) return;
    // Case-insensitive groups only ever hold ASCII contractions ('s, 'LL...).
    for (uint32_t x = std::max<uint32_t>(lo, 'A'); x <= std::min<uint32_t>(hi, 'Z'); ++x)
      c.ranges.emplace_back(x + 32, x + 32);
    for (uint32_t x = std::max<uint32_t>(lo, 'a'); x <= std::min<uint32_t>(hi, 'z'); ++x)
      c.ranges.emplace_back(x - 32, x - 32);
  }

  Node parse_alt() {
    Node alt;
    alt.kind = Node::kAlt;
    alt.kids.push_back(parse_seq());
    while (eat('|')) alt.kids.push_back(parse_seq());
    if (alt.kids.size() == 1) return std::move(alt.kids[0]);
    return alt;
  }

  Node parse_seq() {
    Node seq;
    seq.kind = Node::kSeq;
    while (!at_end() && peek() != '|' && peek() != ')') {
      Node atom = parse_atom();
      parse_quantifier(atom);
      seq.kids.push_back(std::move(atom));
    }
    if (seq.kids.size() == 1) return std::move(seq.kids[0]);
    if (seq.kids.empty()) return Node{};
    return seq;
  }

  uint32_t parse_number() {
    if (at_end() || peek() < '0' || peek() > '9') error("expected a number");
    uint64_t v = 0;
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      v = v * 10 + (next() - '0');
      if (v > 100000) error("repeat count too large");
    }
    return static_cast<uint32_t>(v);
  }

  void parse_quantifier(Node& atom) {
    uint32_t lo = 0, hi = 0;
    uint32_t c = peek();
    if (c == '*') {
      ++i_, lo = 0, hi = kInf;
    } else if (c == '+') {
      ++i_, lo = 1, hi = kInf;
    } else if (c == '?') {
      ++i_, lo = 0, hi = 1;
    } else if (c == '{' && peek(1) >= '0' && peek(1) <= '9') {
      ++i_;
      lo = hi = parse_number();
      if (eat(',')) hi = peek() == '}' ? kInf : parse_number();
      if (!eat('}') || hi < lo) error("bad {m,n}");
    } else {
      return;
    }
    if (atom.kind == Node::kLook || atom.kind == Node::kBol || atom.kind == Node::kEol || atom.kind == Node::kWordB ||
        atom.kind == Node::kNotWordB) {
      error("quantifier on an assertion");
    }
    Node rep;
    rep.kind = Node::kRepeat;
    rep.min = lo;
    rep.max = hi;
    rep.greedy = !eat('?');
    rep.kids.push_back(std::move(atom));
    atom = std::move(rep);
    if (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{') {
      if (peek() != '{' || (peek(1) >= '0' && peek(1) <= '9')) error("nested quantifier");
    }
  }

  // \p{..} -> property bit.
  uint8_t parse_property() {
    if (!eat('{')) error("expected '{' after \\p");
    std::string name;
    while (!at_end() && peek() != '}') name.push_back(static_cast<char>(next()));
    if (!eat('}')) error("unterminated \\p{");
    if (name == "N") return kPropN;
    if (name == "L" || name == "Lu" || name == "Ll" || name == "Lt" || name == "Lm" || name == "Lo") return kPropL;
    if (name == "P") return kPropP;
    if (name == "M") return kPropM;
    if (name == "S") return kPropS;
    error("unsupported \\p{} category");
  }

  uint32_t parse_hex(int digits) {
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      uint32_t c = next();
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) error("bad hex escape");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    return v;
  }

  // Escape after '\' that stands for one literal code point.
  uint32_t escaped_literal(uint32_t c) {
    switch (c) {
      case 'r': return '\r';
      case 'n': return '\n';
      case 't': return '\t';
      case 'f': return '\f';
      case 'v': return '\v';
      case '0': return 0;
      case 'x': return parse_hex(2);
      case 'u': {
        if (!eat('{')) return parse_hex(4);
        uint32_t v = 0;
        int digits = 0;
        while (!eat('}')) {
          v = v * 16 + parse_hex(1);
          if (++digits > 6 || v > 0x10FFFF) error("bad \\u{} escape");
        }
        if (digits == 0) error("empty \\u{} escape");
        return v;
      }
      default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) error("unsupported escape");
        return c;  // escaped punctuation
    }
  }

  // Class escapes shared by atoms and [...]: returns true and fills pos/neg when c is one.
  bool class_escape(uint32_t c, uint8_t* pos, uint8_t* neg) {
    switch (c) {
      case 's': *pos |= kPropSpace; return true;
      case 'S': *neg |= kPropSpace; return true;
      case 'd': *pos |= kPropDigit; return true;
      case 'D': *neg |= kPropDigit; return true;
      case 'w': *pos |= kPropWord; return true;
      case 'W': *neg |= kPropWord; return true;
      case 'p': *pos |= parse_property(); return true;
      case 'P': *neg |= parse_property(); return true;
      default: return false;
    }
  }

  Node parse_class() {
    CharClass c;
    c.negated = eat('^');
    bool first = true;
    while (true) {
      if (at_end()) error("unterminated [");
      uint32_t ch = next();
      if (ch == ']' && !first) break;
      if (ch == ']' && first) break;  // "[]": empty class
      first = false;
      uint32_t lo;
      if (ch == '\\') {
        uint32_t e = next();
        if (class_escape(e, &c.pos, &c.neg)) continue;
        lo = e == 'b' ? '\b' : escaped_literal(e);
      } else {
        lo = ch;
      }
      uint32_t hi = lo;
      if (peek() == '-' && peek(1) != ']' && i_ + 1 < cps_.size()) {
        size_t save = i_;
        ++i_;
        uint32_t h = next();
        if (h == '\\') {
          uint32_t e = next();
          uint8_t p = 0, n = 0;
          if (class_escape(e, &p, &n)) {  // "a-\s": '-' is a literal
            i_ = save;
            add_literal(c, lo, lo);
            continue;
          }
          h = escaped_literal(e);
        }
        if (h < lo) error("bad range");
        hi = h;
      }
      add_literal(c, lo, hi);
    }
    return char_node(std::move(c));
  }

  // (?=[x])[y] and friends: a sequence of single-character lookaheads and one
  // character becomes one matcher, so that repeating it stays a simple run.
  static bool fold_single(Node& n, Regex::Impl& re) {
    if (n.kind != Node::kSeq || n.kids.empty() || n.kids.back().kind != Node::kChar) return false;
    Matcher m = re.matchers[n.kids.back().matcher];
    for (size_t k = 0; k + 1 < n.kids.size(); ++k) {
      const Node& look = n.kids[k];
      if (look.kind != Node::kLook || look.kids.size() != 1 || look.kids[0].kind != Node::kChar) return false;
      const Matcher& lm = re.matchers[look.kids[0].matcher];
      if (look.negate && lm.parts.size() != 1) return false;
      for (auto part : lm.parts) {
        if (look.negate) part.second = !part.second;
        m.parts.push_back(part);
      }
    }
    re.matchers.push_back(std::move(m));
    Node out;
    out.kind = Node::kChar;
    out.matcher = static_cast<int>(re.matchers.size()) - 1;
    n = std::move(out);
    return true;
  }

  Node parse_atom() {
    uint32_t c = next();
    switch (c) {
      case '(': {
        Node::Kind kind = Node::kSeq;
        bool negate = false;
        bool saved_icase = icase_;
        if (eat('?')) {
          if (eat(':')) {
          } else if (eat('=')) {
            kind = Node::kLook;
          } else if (eat('!')) {
            kind = Node::kLook;
            negate = true;
          } else if (peek() == 'i' && peek(1) == ':') {
            i_ += 2;
            icase_ = true;
          } else {
            error("unsupported group");
          }
        }
        Node inner = parse_alt();
        icase_ = saved_icase;
        if (!eat(')')) error("missing ')'");
        if (kind == Node::kLook) {
          Node look;
          look.kind = Node::kLook;
          look.negate = negate;
          look.kids.push_back(std::move(inner));
          return look;
        }
        fold_single(inner, re_);
        return inner;
      }
      case '[': return parse_class();
      case '.': {
        CharClass cls;
        cls.negated = true;
        cls.ranges = {{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}};
        return char_node(std::move(cls));
      }
      case '^': {
        Node n;
        n.kind = Node::kBol;
        return n;
      }
      case '$': {
        Node n;
        n.kind = Node::kEol;
        return n;
      }
      case '\\': {
        uint32_t e = next();
        if (e == 'b' || e == 'B') {
          Node n;
          n.kind = e == 'b' ? Node::kWordB : Node::kNotWordB;
          return n;
        }
        CharClass cls;
        uint8_t pos = 0, neg = 0;
        if (class_escape(e, &pos, &neg)) {
          // Outside [], \S is "not space": a negated class is exact.
          if (neg) {
            cls.pos = neg;
            cls.negated = true;
          } else {
            cls.pos = pos;
          }
          return char_node(std::move(cls));
        }
        uint32_t lit = escaped_literal(e);
        add_literal(cls, lit, lit);
        return char_node(std::move(cls));
      }
      case '*':
      case '+':
      case '?': error("nothing to repeat");
      case ')': error("unbalanced ')'");
      default: {
        CharClass cls;
        add_literal(cls, c, c);
        return char_node(std::move(cls));
      }
    }
  }

  std::vector<uint32_t> cps_;
  size_t i_ = 0;
  bool icase_ = false;
  Regex::Impl& re_;
};

bool nullable(const Node& n) {
  switch (n.kind) {
    case Node::kChar: return false;
    case Node::kSeq:
      for (const auto& k : n.kids)
        if (!nullable(k)) return false;
      return true;
    case Node::kAlt:
      for (const auto& k : n.kids)
        if (nullable(k)) return true;
      return false;
    case Node::kRepeat: return n.min == 0 || nullable(n.kids[0]);
    default: return true;
  }
}

class Compiler {
 public:
  explicit Compiler(Regex::Impl& re) : re_(re) {}

  int compile_program(const Node& n) {
    int idx = static_cast<int>(re_.progs.size());
    re_.progs.emplace_back();
    std::vector<Inst> code;
    emit(n, code);
    code.push_back(Inst{Op::kMatch});
    re_.progs[idx] = std::move(code);
    return idx;
  }

 private:
  static int32_t here(const std::vector<Inst>& code) { return static_cast<int32_t>(code.size()); }

  void emit(const Node& n, std::vector<Inst>& code) {
    switch (n.kind) {
      case Node::kEmpty: return;
      case Node::kChar: code.push_back(Inst{Op::kChar, n.matcher}); return;
      case Node::kBol: code.push_back(Inst{Op::kBol}); return;
      case Node::kEol: code.push_back(Inst{Op::kEol}); return;
      case Node::kWordB: code.push_back(Inst{Op::kWordB}); return;
      case Node::kNotWordB: code.push_back(Inst{Op::kNotWordB}); return;
      case Node::kSeq:
        for (const auto& k : n.kids) emit(k, code);
        return;
      case Node::kAlt: {
        std::vector<size_t> jumps;
        for (size_t k = 0; k < n.kids.size(); ++k) {
          if (k + 1 == n.kids.size()) {
            emit(n.kids[k], code);
            break;
          }
          size_t split = code.size();
          code.push_back(Inst{Op::kSplit, here(code) + 1, 0});
          emit(n.kids[k], code);
          jumps.push_back(code.size());
          code.push_back(Inst{Op::kJmp});
          code[split].b = here(code);
        }
        for (size_t j : jumps) code[j].a = here(code);
        return;
      }
      case Node::kLook: {
        Inst look{Op::kLook};
        look.b = n.negate ? 1 : 0;
        look.a = compile_program(n.kids[0]);
        code.push_back(look);
        return;
      }
      case Node::kRepeat: {
        const Node& body = n.kids[0];
        if (body.kind == Node::kChar && n.greedy) {
          Inst r{Op::kRepeat, body.matcher};
          r.min = n.min;
          r.max = n.max;
          code.push_back(r);
          return;
        }
        for (uint32_t k = 0; k < n.min; ++k) emit(body, code);
        if (n.max == kInf) {
          if (nullable(body)) {  // an empty iteration would loop forever: allow one
            emit_optional(body, n.greedy, code, nullptr);
            return;
          }
          size_t loop = code.size();
          code.push_back(Inst{Op::kSplit});
          emit(body, code);
          code.push_back(Inst{Op::kJmp, static_cast<int32_t>(loop)});
          set_split(code[loop], static_cast<int32_t>(loop) + 1, here(code), n.greedy);
          return;
        }
        std::vector<size_t> splits;
        for (uint32_t k = n.min; k < n.max; ++k) emit_optional(body, n.greedy, code, &splits);
        for (size_t s : splits) set_split(code[s], static_cast<int32_t>(s) + 1, here(code), n.greedy);
        return;
      }
    }
  }

  // SPLIT(body, skip); body. The skip target is patched by the caller (or here).
  void emit_optional(const Node& body, bool greedy, std::vector<Inst>& code, std::vector<size_t>* pending) {
    size_t split = code.size();
    code.push_back(Inst{Op::kSplit});
    emit(body, code);
    if (pending) {
      pending->push_back(split);
    } else {
      set_split(code[split], static_cast<int32_t>(split) + 1, here(code), greedy);
    }
  }

  static void set_split(Inst& s, int32_t body, int32_t skip, bool greedy) {
    s.a = greedy ? body : skip;
    s.b = greedy ? skip : body;
  }

  Regex::Impl& re_;
};

}  // namespace

void compile_regex(std::string_view pattern, Regex::Impl& re) {
  re.pattern = std::string(pattern);
  Parser parser(pattern, re);
  Node root = parser.parse();
  Compiler compiler(re);
  compiler.compile_program(root);
  for (const auto& p : re.progs) {
    re.memo_base.push_back(re.memo_size);
    re.memo_size += p.size();
  }
}

}  // namespace llmchain::tokenizer::detail
