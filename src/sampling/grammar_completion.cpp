#include "sampling/grammar_completion.h"

#include <algorithm>

namespace llmchain::sampling {
namespace {

// Work cap of append_suffix (elements expanded): far above any real schema,
// it only guards against a table bug turning into a hang.
constexpr size_t kMaxExpansions = size_t{1} << 22;

uint32_t utf8_len(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

int64_t first_match_plain(const CharSet& cs, uint32_t lo, uint32_t hi) {
  if (lo > hi) return -1;
  if (!cs.negated) {
    int64_t best = -1;
    for (auto [a, b] : cs.ranges) {
      uint32_t c = std::max(a, lo);
      if (c <= std::min(b, hi) && (best < 0 || c < best)) best = c;
    }
    return best;
  }
  // Negated: the lowest point of [lo, hi] outside every range. Each pass
  // either returns or moves `cur` past one range, so it ends.
  uint32_t cur = lo;
  for (bool moved = true; moved;) {
    moved = false;
    for (auto [a, b] : cs.ranges) {
      if (a <= cur && cur <= b) {
        if (b >= hi) return -1;
        cur = b + 1;
        moved = true;
      }
    }
  }
  return cur;
}

}  // namespace

int64_t first_match(const CharSet& cs, uint32_t lo, uint32_t hi) {
  hi = std::min<uint32_t>(hi, 0x10FFFF);
  int64_t below = first_match_plain(cs, lo, std::min<uint32_t>(hi, 0xD7FF));
  if (below >= 0) return below;
  return first_match_plain(cs, std::max<uint32_t>(lo, 0xE000), hi);
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

CompletionTable::CompletionTable(const Grammar& g) : g_(g) {
  char_len_.assign(g.charsets.size(), kInf);
  char_cp_.assign(g.charsets.size(), 0);
  for (size_t i = 0; i < g.charsets.size(); ++i) {
    // The shortest encoding first, then the lowest code point.
    static constexpr std::pair<uint32_t, uint32_t> kByLength[] = {
        {0, 0x7F}, {0x80, 0x7FF}, {0x800, 0xFFFF}, {0x10000, 0x10FFFF}};
    for (auto [lo, hi] : kByLength) {
      int64_t cp = first_match(g.charsets[i], lo, hi);
      if (cp >= 0) {
        char_cp_[i] = static_cast<uint32_t>(cp);
        char_len_[i] = utf8_len(static_cast<uint32_t>(cp));
        break;
      }
    }
  }
  suffix_.assign(g.elems.size(), kInf);
  for (size_t p = 0; p < g.elems.size(); ++p) {
    if (g.elems[p].type == ElemType::kEnd) suffix_[p] = 0;
  }
  std::vector<uint32_t> rule_bytes(g.rule_alts.size(), kInf);
  best_alt_.assign(g.rule_alts.size(), 0);
  // Values only decrease; a pass without a change is the fixed point.
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.rule_alts.size(); ++r) {
      for (uint32_t alt : g.rule_alts[r]) {
        uint32_t end = alt;
        while (g.elems[end].type != ElemType::kEnd) ++end;
        for (uint32_t p = end; p-- > alt;) {
          const Elem& e = g.elems[p];
          uint32_t own = e.type == ElemType::kChars ? char_len_[e.arg] : rule_bytes[e.arg];
          uint32_t v = add(own, suffix_[p + 1]);
          if (v < suffix_[p]) suffix_[p] = v;
        }
        if (suffix_[alt] < rule_bytes[r]) {
          rule_bytes[r] = suffix_[alt];
          best_alt_[r] = alt;
          changed = true;
        }
      }
    }
  }
}

void CompletionTable::append_char(uint32_t charset, std::string& out) const { append_utf8(char_cp_[charset], out); }

bool CompletionTable::append_suffix(uint32_t pos, std::string& out, size_t max_bytes) const {
  if (suffix_[pos] >= kInf || out.size() + suffix_[pos] > max_bytes) return false;
  std::vector<uint32_t> todo = {pos};  // positions still to expand, the next on top
  size_t work = 0;
  while (!todo.empty()) {
    if (++work > kMaxExpansions) return false;
    uint32_t p = todo.back();
    todo.pop_back();
    const Elem& e = g_.elems[p];
    if (e.type == ElemType::kEnd) continue;
    todo.push_back(p + 1);
    if (e.type == ElemType::kChars) {
      append_char(e.arg, out);
    } else {
      todo.push_back(best_alt_[e.arg]);
    }
    if (out.size() > max_bytes) return false;
  }
  return true;
}

}  // namespace llmchain::sampling
