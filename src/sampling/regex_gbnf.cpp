#include "sampling/regex_gbnf.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "base/utf8.h"

namespace llmchain::sampling {
namespace {

// Groups nest at most this deep (the parser recurses per group).
constexpr int kMaxGroupDepth = 256;

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

constexpr uint32_t kMaxCp = 0x10FFFF;

Ranges normalize(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  for (auto [lo, hi] : r) {
    if (!out.empty() && lo <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, hi);
    } else {
      out.emplace_back(lo, hi);
    }
  }
  return out;
}

// Everything a JSON string can hold (no surrogates), minus r.
Ranges complement(const Ranges& in) {
  Ranges r = normalize(in);
  r.emplace_back(0xD800, 0xDFFF);
  r = normalize(r);
  Ranges out;
  uint32_t next = 0;
  for (auto [lo, hi] : r) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCp) out.emplace_back(next, kMaxCp);
  return out;
}

Ranges intersect(const Ranges& a, const Ranges& b) {
  Ranges out;
  for (auto [alo, ahi] : a) {
    for (auto [blo, bhi] : b) {
      uint32_t lo = std::max(alo, blo), hi = std::min(ahi, bhi);
      if (lo <= hi) out.emplace_back(lo, hi);
    }
  }
  return normalize(out);
}

const Ranges kAscii = {{0, 0x7F}};
const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const Ranges kSpace = {{'\t', '\r'}, {' ', ' '}};  // \t \n \v \f \r and space
const Ranges kLineTerminators = {{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}};

std::string class_cp(uint32_t cp) {
  if ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return std::string(1, char(cp));
  return cp <= 0xFFFF ? fmt::format("\\u{:04X}", cp) : fmt::format("\\U{:08X}", cp);
}

// GBNF for one character of the set, written as escaped JSON string content.
std::string set_to_gbnf(const Ranges& set) {
  std::vector<std::string> alts;
  Ranges plain = intersect(set, {{0x20, 0x21}, {0x23, 0x5B}, {0x5D, kMaxCp}});
  if (!plain.empty()) {
    std::string c = "[";
    for (auto [lo, hi] : plain) c += lo == hi ? class_cp(lo) : class_cp(lo) + "-" + class_cp(hi);
    alts.push_back(c + "]");
  }
  for (auto [lo, hi] : intersect(set, {{0, 0x1F}, {0x22, 0x22}, {0x5C, 0x5C}})) {
    for (uint32_t cp = lo; cp <= hi; ++cp) {
      switch (cp) {
        case '"': alts.push_back(R"("\\\"")"); break;
        case '\\': alts.push_back(R"("\\\\")"); break;
        case '\n': alts.push_back(R"("\\n")"); break;
        case '\r': alts.push_back(R"("\\r")"); break;
        case '\t': alts.push_back(R"("\\t")"); break;
        case '\b': alts.push_back(R"("\\b")"); break;
        case '\f': alts.push_back(R"("\\f")"); break;
        default: alts.push_back(fmt::format(R"("\\u{:04x}")", cp));
      }
    }
  }
  if (alts.empty()) return "";
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) {
    if (i) out += " | ";
    out += alts[i];
  }
  return out + ")";
}

class RegexTranslator {
 public:
  RegexTranslator(std::string_view p, const std::string& where) : cps_(utf8::to_codepoints(p)), where_(where) {}

  std::string translate(const std::string& json_char) {
    bool anchored_start = !cps_.empty() && cps_[0] == '^';
    if (anchored_start) pos_ = 1;
    std::string body = parse_alternation(0);
    if (pos_ != cps_.size()) error("unbalanced ')'");
    std::string out;
    if (!anchored_start) out += json_char + "* ";
    out += body;
    if (!anchored_end_) out += " " + json_char + "*";
    return out;
  }

 private:
  std::vector<uint32_t> cps_;
  size_t pos_ = 0;
  bool anchored_end_ = false;
  const std::string& where_;

  [[noreturn]] void error(std::string_view what) const {
    fail(ErrorCode::kUnsupported, "JSON schema: unsupported pattern at '{}': {} (at character {})", where_, what, pos_);
  }
  bool eof() const { return pos_ >= cps_.size(); }
  uint32_t peek() const { return eof() ? 0 : cps_[pos_]; }

  std::string parse_alternation(int depth) {
    std::vector<std::string> alts{parse_sequence(depth)};
    while (!eof() && peek() == '|') {
      ++pos_;
      alts.push_back(parse_sequence(depth));
    }
    if (alts.size() == 1) return alts[0];
    // "^a|b" is (^a)|(b): an anchor at the top level binds one branch only, which the grammar
    // (anchored or not as a whole) cannot express.
    if (depth == 0 && (anchored_end_ || (!cps_.empty() && cps_[0] == '^'))) {
      error("'^' or '$' with a top-level '|' anchors one branch only; group the alternatives: ^(a|b)$");
    }
    std::string out = "(";
    for (size_t i = 0; i < alts.size(); ++i) {
      if (i) out += " | ";
      out += alts[i].empty() ? "\"\"" : alts[i];
    }
    return out + ")";
  }

  std::string parse_sequence(int depth) {
    std::string out;
    while (!eof() && peek() != '|' && peek() != ')') {
      if (peek() == '$') {
        ++pos_;
        if (!eof() || depth > 0) error("'$' is only supported at the end of the pattern");
        anchored_end_ = true;
        break;
      }
      std::string atom = parse_atom(depth);
      atom = parse_quantifier(atom);
      if (!out.empty()) out += ' ';
      out += atom;
    }
    return out;
  }

  uint32_t parse_uint() {
    if (eof() || peek() < '0' || peek() > '9') error("expected a number in '{...}'");
    uint32_t v = 0;
    while (!eof() && peek() >= '0' && peek() <= '9') {
      v = v * 10 + (peek() - '0');
      if (v > 10000) error("repetition count too large");
      ++pos_;
    }
    return v;
  }

  std::string parse_quantifier(const std::string& atom) {
    if (eof()) return atom;
    uint32_t c = peek();
    std::string q;
    if (c == '*' || c == '+' || c == '?') {
      ++pos_;
      q = std::string(1, char(c));
    } else if (c == '{') {
      ++pos_;
      uint32_t m = parse_uint(), n = m;
      bool open = false;
      if (peek() == ',') {
        ++pos_;
        if (peek() == '}') {
          open = true;
        } else {
          n = parse_uint();
        }
      }
      if (peek() != '}') error("malformed '{m,n}'");
      ++pos_;
      if (!open && n < m) error("'{m,n}' with n < m");
      q = open ? fmt::format("{{{},}}", m) : fmt::format("{{{},{}}}", m, n);
    } else {
      return atom;
    }
    if (!eof() && peek() == '?') ++pos_;  // lazy: same language
    if (!eof() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{')) error("nested quantifier");
    return "(" + atom + ")" + q;
  }

  std::string parse_atom(int depth) {
    uint32_t c = peek();
    ++pos_;
    switch (c) {
      case '(': {
        if (peek() == '?') {
          if (pos_ + 1 < cps_.size() && cps_[pos_ + 1] == ':') {
            pos_ += 2;
          } else {
            error("lookaround and named groups are not supported");
          }
        }
        if (depth >= kMaxGroupDepth) error(fmt::format("groups nested more than {} deep", kMaxGroupDepth));
        std::string inner = parse_alternation(depth + 1);
        if (eof() || peek() != ')') error("missing ')'");
        ++pos_;
        if (inner.empty()) inner = "\"\"";
        std::string group = "(";
        group += inner;
        group += ')';
        return group;
      }
      case '.': return emit(complement(kLineTerminators));
      case '[': return emit(parse_class());
      case '\\': return emit(parse_escape(false));
      case '^': --pos_; error("'^' is only supported at the start of the pattern");
      case '*':
      case '+':
      case '?':
      case '{': --pos_; error("quantifier without anything to repeat");
      default: return emit({{c, c}});
    }
  }

  std::string emit(const Ranges& set) {
    std::string g = set_to_gbnf(normalize(set));
    if (g.empty()) error("a character class that matches nothing");
    return g;
  }

  uint32_t parse_hex(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      uint32_t c = peek();
      int d = (c >= '0' && c <= '9')   ? int(c - '0')
              : (c >= 'a' && c <= 'f') ? int(c - 'a' + 10)
              : (c >= 'A' && c <= 'F') ? int(c - 'A' + 10)
                                       : -1;
      if (eof() || d < 0) error("bad hex escape");
      v = v * 16 + d;
      ++pos_;
    }
    return v;
  }

  Ranges parse_escape(bool in_class) {
    if (eof()) error("trailing '\\'");
    uint32_t c = peek();
    ++pos_;
    switch (c) {
      case 'd': return kDigit;
      case 'w': return kWord;
      case 's': return kSpace;
      case 'D': return intersect(complement(kDigit), kAscii);
      case 'W': return intersect(complement(kWord), kAscii);
      case 'S': return intersect(complement(kSpace), kAscii);
      case 't': return {{'\t', '\t'}};
      case 'n': return {{'\n', '\n'}};
      case 'r': return {{'\r', '\r'}};
      case 'f': return {{'\f', '\f'}};
      case 'v': return {{'\v', '\v'}};
      case '0': return {{0, 0}};
      case 'x': {
        uint32_t v = parse_hex(2);
        return {{v, v}};
      }
      case 'u': {
        uint32_t v = parse_hex(4);
        if (v >= 0xD800 && v <= 0xDFFF) error("surrogate escapes are not supported");
        return {{v, v}};
      }
      case 'b':
        if (in_class) return {{'\b', '\b'}};
        error("'\\b' (word boundary) is not supported");
      default:
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return {{c, c}};
        --pos_;
        error(fmt::format("escape '\\{}' is not supported", utf8::from_codepoints({c})));
    }
  }

  Ranges parse_class() {
    bool negated = false;
    if (peek() == '^') {
      negated = true;
      ++pos_;
    }
    Ranges set;
    bool first = true;
    while (true) {
      if (eof()) error("unterminated character class");
      uint32_t c = peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      if (c == ']') error("empty character class");
      first = false;
      Ranges item;
      ++pos_;
      if (c == '\\') {
        item = parse_escape(true);
      } else if (c == '[') {
        error("nested '[' in a class is not supported");
      } else {
        item = {{c, c}};
      }
      // A range a-b needs single characters on both sides.
      if (!eof() && peek() == '-' && pos_ + 1 < cps_.size() && cps_[pos_ + 1] != ']') {
        if (item.size() != 1 || item[0].first != item[0].second) error("range with a class escape");
        ++pos_;
        uint32_t h = peek();
        ++pos_;
        Ranges hi = h == '\\' ? parse_escape(true) : Ranges{{h, h}};
        if (hi.size() != 1 || hi[0].first != hi[0].second) error("range with a class escape");
        if (hi[0].first < item[0].first) error("character range out of order");
        item = {{item[0].first, hi[0].first}};
      }
      set.insert(set.end(), item.begin(), item.end());
    }
    return negated ? complement(set) : normalize(set);
  }
};

}  // namespace

std::string regex_to_gbnf(std::string_view pattern, const std::string& json_char_rule, const std::string& where) {
  return RegexTranslator(pattern, where).translate(json_char_rule);
}

}  // namespace llmchain::sampling
