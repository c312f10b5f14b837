#include <algorithm>
#include <map>
#include <set>

#include "base/utf8.h"
#include "sampling/grammar.h"

namespace llmchain::sampling {

bool CharSet::matches(uint32_t cp) const {
  bool in = false;
  for (auto [lo, hi] : ranges) {
    if (cp >= lo && cp <= hi) {
      in = true;
      break;
    }
  }
  return in != negated;
}

bool CharSet::intersects(uint32_t lo, uint32_t hi) const {
  if (!negated) {
    for (auto [a, b] : ranges) {
      if (a <= hi && b >= lo) return true;
    }
    return false;
  }
  // Negated: some point of [lo, hi] is outside every range. Walk the ranges that
  // cover lo upwards; if they cover all of [lo, hi] there is none.
  uint32_t cur = lo;
  bool advanced = true;
  while (advanced) {
    advanced = false;
    for (auto [a, b] : ranges) {
      if (a <= cur && b >= cur) {
        if (b >= hi) return false;
        cur = b + 1;
        advanced = true;
      }
    }
  }
  return true;
}

namespace {

constexpr uint32_t kMaxRepeat = 100000;
constexpr int kMaxGroupDepth = 256;

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view text) : s_(text) {}

  Grammar parse(std::string_view root_name) {
    skip_space(true);
    while (pos_ < s_.size()) {
      parse_rule();
      skip_space(true);
    }
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (!defined_[r]) fail(ErrorCode::kInvalidArgument, "grammar: rule '{}' is used but not defined", names_[r]);
    }
    auto it = ids_.find(std::string(root_name));
    if (it == ids_.end()) fail(ErrorCode::kInvalidArgument, "grammar: no '{}' rule", root_name);
    repeat_non_empty();
    check_left_recursion();
    return flatten(it->second);
  }

 private:
  using Seq = std::vector<Elem>;
  using Alts = std::vector<Seq>;

  std::string_view s_;
  size_t pos_ = 0;
  int group_depth_ = 0;  // "(" groups open at the current position
  std::vector<std::string> names_;
  std::vector<Alts> rules_;
  std::vector<bool> defined_;
  std::map<std::string, uint32_t> ids_;
  std::vector<CharSet> charsets_;
  std::vector<uint32_t> stars_;  // rules `star ::= x star | ε` made by apply_repetition

  [[noreturn]] void error(std::string_view what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    fail(ErrorCode::kInvalidArgument, "grammar: {} at line {} column {}", what, line, col);
  }

  char peek(size_t off = 0) const { return pos_ + off < s_.size() ? s_[pos_ + off] : '\0'; }
  bool eof() const { return pos_ >= s_.size(); }

  void skip_space(bool newlines) {
    while (!eof()) {
      char c = peek();
      if (c == '#') {
        while (!eof() && peek() != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  std::string parse_name() {
    size_t start = pos_;
    while (!eof() && is_name_char(peek())) ++pos_;
    if (start == pos_) error("expected a rule name");
    return std::string(s_.substr(start, pos_ - start));
  }

  uint32_t rule_id(const std::string& name) {
    auto [it, inserted] = ids_.emplace(name, static_cast<uint32_t>(names_.size()));
    if (inserted) {
      names_.push_back(name);
      rules_.emplace_back();
      defined_.push_back(false);
    }
    return it->second;
  }

  uint32_t new_rule(const std::string& base, Alts alts) {
    std::string name;
    for (int i = static_cast<int>(names_.size());; ++i) {
      name = base + "_" + std::to_string(i);
      if (!ids_.count(name)) break;
    }
    uint32_t id = rule_id(name);
    rules_[id] = std::move(alts);
    defined_[id] = true;
    return id;
  }

  uint32_t add_charset(CharSet cs) {
    charsets_.push_back(std::move(cs));
    return static_cast<uint32_t>(charsets_.size() - 1);
  }

  void parse_rule() {
    std::string name = parse_name();
    skip_space(false);
    if (s_.substr(pos_, 3) != "::=") error("expected '::='");
    pos_ += 3;
    uint32_t id = rule_id(name);
    if (defined_[id]) error(fmt::format("rule '{}' defined twice", name));
    defined_[id] = true;
    rules_[id] = parse_alternatives(name, false);
    skip_space(false);
    if (!eof() && peek() != '\n' && peek() != '\r') error("expected end of line after rule");
  }

  Alts parse_alternatives(const std::string& name, bool nested) {
    Alts alts;
    skip_space(true);
    alts.push_back(parse_sequence(name, nested));
    while (true) {
      // At top level a rule may continue on the next line when it starts with '|'.
      size_t save = pos_;
      skip_space(true);
      if (peek() != '|') {
        pos_ = save;
        break;
      }
      ++pos_;
      skip_space(true);
      alts.push_back(parse_sequence(name, nested));
    }
    return alts;
  }

  Seq parse_sequence(const std::string& name, bool nested) {
    Seq seq;
    size_t last_start = 0;  // where the last atom's elements begin in seq
    bool have_atom = false;
    while (true) {
      skip_space(nested);
      if (eof()) break;
      char c = peek();
      if (c == '|' || c == ')' || c == '\n' || c == '\r') break;
      if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (!have_atom) error(fmt::format("'{}' without anything to repeat", c));
        apply_repetition(name, seq, last_start);
        have_atom = false;  // "a**" is an error
        continue;
      }
      last_start = seq.size();
      if (c == '"') {
        ++pos_;
        while (peek() != '"') {
          if (eof()) error("unterminated literal");
          uint32_t cp = parse_char();
          seq.push_back({ElemType::kChars, add_charset(CharSet{{{cp, cp}}, false})});
        }
        ++pos_;
      } else if (c == '[') {
        seq.push_back({ElemType::kChars, add_charset(parse_class())});
      } else if (c == '.') {
        ++pos_;
        seq.push_back({ElemType::kChars, add_charset(CharSet{{}, true})});
      } else if (c == '(') {
        ++pos_;
        // The parser recurses per group: bounded, so no input can exhaust the stack.
        if (++group_depth_ > kMaxGroupDepth) error(fmt::format("groups nested more than {} deep", kMaxGroupDepth));
        Alts inner = parse_alternatives(name, true);
        --group_depth_;
        skip_space(true);
        if (peek() != ')') error("expected ')'");
        ++pos_;
        seq.push_back({ElemType::kRule, new_rule(name, std::move(inner))});
      } else if (is_name_char(c)) {
        size_t save = pos_;
        std::string ref = parse_name();
        // "name ::=" on the same logical line starts a new rule: stop here.
        size_t after = pos_;
        skip_space(false);
        if (s_.substr(pos_, 3) == "::=") {
          pos_ = save;
          error(fmt::format("missing newline before rule '{}'", ref));
        }
        pos_ = after;
        seq.push_back({ElemType::kRule, rule_id(ref)});
      } else {
        error(fmt::format("unexpected character '{}'", c));
      }
      have_atom = true;
    }
    return seq;
  }

  uint32_t parse_number() {
    size_t start = pos_;
    uint64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      v = v * 10 + static_cast<uint64_t>(peek() - '0');
      if (v > kMaxRepeat) error("repetition count too large");
      ++pos_;
    }
    if (start == pos_) error("expected a number");
    return static_cast<uint32_t>(v);
  }

  // Rewrites seq[last_start..] (the last atom) under a repetition operator.
  void apply_repetition(const std::string& name, Seq& seq, size_t last_start) {
    Seq atom(seq.begin() + last_start, seq.end());
    seq.resize(last_start);
    if (atom.size() != 1) atom = Seq{{ElemType::kRule, new_rule(name, Alts{atom})}};
    const Elem x = atom[0];
    uint32_t min = 0, max = 0;
    bool unbounded = false;
    char op = peek();
    ++pos_;
    if (op == '*') {
      unbounded = true;
    } else if (op == '+') {
      min = 1;
      unbounded = true;
    } else if (op == '?') {
      max = 1;
    } else {  // {m}, {m,}, {m,n}
      skip_space(false);
      min = max = parse_number();
      skip_space(false);
      if (peek() == ',') {
        ++pos_;
        skip_space(false);
        if (peek() == '}') {
          unbounded = true;
        } else {
          max = parse_number();
          if (max < min) error("repetition {m,n} with n < m");
        }
        skip_space(false);
      }
      if (peek() != '}') error("expected '}'");
      ++pos_;
    }
    for (uint32_t i = 0; i < min; ++i) seq.push_back(x);
    if (unbounded) {
      // star ::= x star | ε   (right recursion: the stack does not grow per item)
      uint32_t star = new_rule(name, {});
      rules_[star] = Alts{Seq{x, {ElemType::kRule, star}}, Seq{}};
      stars_.push_back(star);
      seq.push_back({ElemType::kRule, star});
      return;
    }
    // opt_k ::= x opt_{k+1} | ε, chained (max - min) deep, built from the tail.
    uint32_t next = UINT32_MAX;
    for (uint32_t i = min; i < max; ++i) {
      Seq s{x};
      if (next != UINT32_MAX) s.push_back({ElemType::kRule, next});
      next = new_rule(name, Alts{s, Seq{}});
    }
    if (next != UINT32_MAX) seq.push_back({ElemType::kRule, next});
  }

  uint32_t parse_hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      char c = peek();
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) error("bad hex escape");
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    if (v > 0x10FFFF) error("code point out of range");
    return v;
  }

  // One (possibly escaped) character of a literal or class, as a code point.
  uint32_t parse_char() {
    if (peek() == '\\') {
      ++pos_;
      char e = peek();
      ++pos_;
      switch (e) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case '0': return 0;
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/':
        case '\'':
        case '.': return static_cast<unsigned char>(e);
        case 'x': return parse_hex(2);
        case 'u': return parse_hex(4);
        case 'U': return parse_hex(8);
        default: --pos_; error(fmt::format("unknown escape '\\{}'", e));
      }
    }
    if (static_cast<unsigned char>(peek()) < 0x20 && peek() != '\t') error("control character in literal");
    size_t i = pos_;
    uint32_t cp = utf8::decode(s_, i);
    if (cp == 0xFFFD && s_.substr(pos_, 3) != "\xEF\xBF\xBD") error("invalid UTF-8");
    pos_ = i;
    return cp;
  }

  CharSet parse_class() {
    ++pos_;  // '['
    CharSet cs;
    if (peek() == '^') {
      cs.negated = true;
      ++pos_;
    }
    while (peek() != ']') {
      if (eof()) error("unterminated character class");
      uint32_t lo = parse_char();
      uint32_t hi = lo;
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < s_.size()) {
        ++pos_;
        hi = parse_char();
        if (hi < lo) error("character range out of order");
      }
      cs.ranges.emplace_back(lo, hi);
    }
    ++pos_;
    return cs;
  }

  // A rule can derive the empty string.
  std::vector<bool> nullable() const {
    std::vector<bool> n(rules_.size(), false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < rules_.size(); ++r) {
        if (n[r]) continue;
        for (const Seq& seq : rules_[r]) {
          bool all =
              std::all_of(seq.begin(), seq.end(), [&](const Elem& e) { return e.type == ElemType::kRule && n[e.arg]; });
          if (all) {
            n[r] = true;
            changed = true;
            break;
          }
        }
      }
    }
    return n;
  }

  // `x*` with an x that can match the empty string (`("a" | "")*`, or a regex's `(a|)+`)
  // would make `star ::= x star | ε` left-recursive, though the language is fine: it is
  // (x without ε)*. So x is replaced there by a rule for its non-empty strings, built by
  // the textbook ε-removal: a sequence s1..sn matches something non-empty when some si does
  // and everything before it matched nothing, i.e. the alternatives NE(si) s(i+1)..sn for
  // each i up to the first element that cannot be empty. Tails are rules of their own so
  // the result stays linear in the grammar's size; nothing recurses on the C++ stack.
  void repeat_non_empty() {
    if (stars_.empty()) return;
    std::vector<bool> null = nullable();
    std::map<uint32_t, uint32_t> ne;  // rule -> its non-empty rule
    std::vector<uint32_t> todo;
    auto ne_of = [&](uint32_t r) {
      auto [it, fresh] = ne.emplace(r, 0);
      if (fresh) {
        it->second = new_rule(names_[r] + "-ne", {});
        todo.push_back(r);
      }
      return it->second;
    };
    auto elem_null = [&](const Elem& e) { return e.type == ElemType::kRule && e.arg < null.size() && null[e.arg]; };
    for (uint32_t star : stars_) {
      const Elem x = rules_[star][0][0];
      if (elem_null(x)) {
        const uint32_t non_empty = ne_of(x.arg);  // grows rules_: no reference across it
        rules_[star][0][0] = {ElemType::kRule, non_empty};
      }
    }
    while (!todo.empty()) {
      const uint32_t r = todo.back();
      todo.pop_back();
      Alts alts;
      for (size_t a = 0; a < rules_[r].size(); ++a) {
        const Seq seq = rules_[r][a];  // a copy: new_rule() below grows rules_
        if (seq.empty()) continue;     // matches only the empty string
        size_t last = 0;               // alternatives start at seq[0..last]
        while (last + 1 < seq.size() && elem_null(seq[last])) ++last;
        // tail[j] (j = 1..last+1): one element matching seq[j..]; tail[j] ::= seq[j] tail[j+1]
        const size_t n = seq.size();
        std::vector<Elem> tail(n, seq.back());
        if (last + 2 < n) {
          tail[last + 1] = {
              ElemType::kRule,
              new_rule(names_[r] + "-tail", Alts{Seq(seq.begin() + static_cast<std::ptrdiff_t>(last) + 1, seq.end())})};
        }
        for (size_t j = std::min(last, n - 2); j >= 1 && j + 1 < n; --j) {
          tail[j] = {ElemType::kRule, new_rule(names_[r] + "-tail", Alts{Seq{seq[j], tail[j + 1]}})};
        }
        for (size_t i = 0; i < seq.size() && i <= last; ++i) {
          Seq alt{elem_null(seq[i]) ? Elem{ElemType::kRule, ne_of(seq[i].arg)} : seq[i]};
          if (i + 1 < seq.size()) alt.push_back(tail[i + 1]);
          alts.push_back(std::move(alt));
        }
      }
      rules_[ne[r]] = std::move(alts);
    }
    // A rule that matches only the empty string has no non-empty rule (no alternatives):
    // drop every alternative that needs one, to a fixed point.
    for (bool changed = true; changed;) {
      changed = false;
      for (auto& alts : rules_) {
        auto dead = [&](const Seq& seq) {
          return std::any_of(seq.begin(), seq.end(),
                             [&](const Elem& e) { return e.type == ElemType::kRule && rules_[e.arg].empty(); });
        };
        size_t before = alts.size();
        alts.erase(std::remove_if(alts.begin(), alts.end(), dead), alts.end());
        changed |= alts.size() != before;
      }
    }
  }

  void check_left_recursion() const {
    std::vector<bool> null = nullable();
    // left[r]: rules that can be called before r consumes anything.
    std::vector<std::vector<uint32_t>> left(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      for (const Seq& seq : rules_[r]) {
        for (const Elem& e : seq) {
          if (e.type != ElemType::kRule) break;
          left[r].push_back(e.arg);
          if (!null[e.arg]) break;
        }
      }
    }
    std::vector<int> color(rules_.size(), 0);  // 0 new, 1 on path, 2 done
    std::vector<std::pair<uint32_t, size_t>> stack;
    for (uint32_t start = 0; start < rules_.size(); ++start) {
      if (color[start]) continue;
      stack.push_back({start, 0});
      color[start] = 1;
      while (!stack.empty()) {
        auto& [r, i] = stack.back();
        if (i < left[r].size()) {
          uint32_t next = left[r][i++];
          if (color[next] == 1) {
            fail(ErrorCode::kInvalidArgument, "grammar: rule '{}' is left-recursive", names_[next]);
          }
          if (color[next] == 0) {
            color[next] = 1;
            stack.push_back({next, 0});
          }
        } else {
          color[r] = 2;
          stack.pop_back();
        }
      }
    }
  }

  Grammar flatten(uint32_t root) {
    Grammar g;
    g.rule_names = names_;
    g.charsets = std::move(charsets_);
    g.root = root;
    g.rule_alts.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      for (const Seq& seq : rules_[r]) {
        g.rule_alts[r].push_back(static_cast<uint32_t>(g.elems.size()));
        g.elems.insert(g.elems.end(), seq.begin(), seq.end());
        g.elems.push_back({ElemType::kEnd, 0});
      }
    }
    return g;
  }
};

}  // namespace

Expected<std::shared_ptr<const Grammar>> parse_gbnf(std::string_view text, std::string_view root) {
  return capture([&]() -> std::shared_ptr<const Grammar> {
    return std::make_shared<const Grammar>(GbnfParser(text).parse(root));
  });
}

}  // namespace llmchain::sampling
