// Regex matching: a backtracking VM with run-length repeats and failure memos.
#include <algorithm>
#include <limits>

#include "tokenizer/regex_internal.h"
#include "tokenizer/unicode.h"

namespace llmchain::tokenizer::detail {
namespace {

constexpr size_t kNoMatch = std::numeric_limits<size_t>::max();

// Per-call matching state: backtrack stacks and what failed runs taught.
struct RepeatMemo {
  uint64_t gen = 0;
  size_t run_begin = 0, run_end = 0;  // every position in [run_begin, run_end) matches; run_end does not
  bool has_fail = false;
  size_t fail_lo = 0, fail_hi = 0;  // the continuation after the repeat fails from each of these
};

struct Frame {
  int32_t pc;  // >= 0: resume at pc; < 0: repeat at -(pc + 1) tries its next shorter run
  size_t pos;
  size_t lo, hi;
};

class Matcher_ {
 public:
  // Lookahead nesting is bounded by the number of programs: one stack per depth, made
  // up front so that a nested run never reallocates a stack in use.
  Matcher_(const Regex::Impl& re, const RegexText& t)
      : re_(re), t_(t), memo_(re.memo_size), stacks_(re.progs.size() + 1) {}

  void reset(size_t begin, size_t end) {
    begin_ = begin;
    end_ = end;
    ++gen_;
  }

  size_t run(int prog, size_t start, size_t depth = 0) {
    std::vector<Frame>& stack = stacks_[depth];
    stack.clear();
    const std::vector<Inst>& code = re_.progs[prog];
    const size_t base = re_.memo_base[prog];
    int32_t pc = 0;
    size_t pos = start;
    while (true) {
      const Inst& in = code[pc];
      bool ok = true;
      switch (in.op) {
        case Op::kChar:
          if (pos < end_ && re_.matches(in.a, t_, pos)) {
            ++pos;
            ++pc;
          } else {
            ok = false;
          }
          break;
        case Op::kRepeat: {
          RepeatMemo& m = memo(base + pc);
          size_t run_end;
          if (m.run_begin <= pos && pos < m.run_end) {
            run_end = m.run_end;
          } else {
            run_end = pos;
            while (run_end < end_ && re_.matches(in.a, t_, run_end)) ++run_end;
            if (run_end > pos) {
              m.run_begin = pos;
              m.run_end = run_end;
            }
          }
          size_t hi = in.max == kInf ? run_end : std::min(run_end, pos + in.max);
          size_t lo = pos + in.min;
          size_t q = hi + 1;
          if (hi >= lo && next_candidate(m, &q, lo)) {
            stack.push_back(Frame{-(pc + 1), q, lo, hi});
            pos = q;
            ++pc;
          } else {
            if (hi >= lo) record_fail(m, lo, hi);
            ok = false;
          }
          break;
        }
        case Op::kSplit:
          stack.push_back(Frame{in.b, pos, 0, 0});
          pc = in.a;
          break;
        case Op::kJmp: pc = in.a; break;
        case Op::kLook: {
          bool found = run(in.a, pos, depth + 1) != kNoMatch;
          if (found != (in.b != 0)) {
            ++pc;
          } else {
            ok = false;
          }
          break;
        }
        case Op::kBol:
          ok = pos == begin_;
          ++pc;
          break;
        case Op::kEol:
          ok = pos == end_;
          ++pc;
          break;
        case Op::kWordB:
        case Op::kNotWordB: {
          bool before = pos > begin_ && (t_.props[pos - 1] & kPropWord);
          bool after = pos < end_ && (t_.props[pos] & kPropWord);
          ok = (before != after) == (in.op == Op::kWordB);
          ++pc;
          break;
        }
        case Op::kMatch: return pos;
      }
      if (ok) continue;
      // Backtrack.
      bool resumed = false;
      while (!stack.empty()) {
        Frame f = stack.back();
        stack.pop_back();
        if (f.pc >= 0) {
          pc = f.pc;
          pos = f.pos;
          resumed = true;
          break;
        }
        int32_t rpc = -(f.pc + 1);
        RepeatMemo& m = memo(base + rpc);
        size_t q = f.pos;
        if (next_candidate(m, &q, f.lo)) {
          stack.push_back(Frame{f.pc, q, f.lo, f.hi});
          pc = rpc + 1;
          pos = q;
          resumed = true;
          break;
        }
        record_fail(m, f.lo, f.hi);
      }
      if (!resumed) return kNoMatch;
    }
  }

 private:
  RepeatMemo& memo(size_t slot) {
    RepeatMemo& m = memo_[slot];
    if (m.gen != gen_) {
      m = RepeatMemo{};
      m.gen = gen_;
    }
    return m;
  }

  // Next run length to try below *q (exclusive), skipping known failures; false when none.
  static bool next_candidate(const RepeatMemo& m, size_t* q, size_t lo) {
    if (*q == 0) return false;
    size_t c = *q - 1;
    if (c < lo) return false;
    if (m.has_fail && c >= m.fail_lo && c <= m.fail_hi) {
      if (m.fail_lo == 0 || m.fail_lo - 1 < lo) return false;
      c = m.fail_lo - 1;
    }
    *q = c;
    return true;
  }

  static void record_fail(RepeatMemo& m, size_t lo, size_t hi) {
    if (m.has_fail && lo <= m.fail_hi + 1 && hi + 1 >= m.fail_lo) {
      m.fail_lo = std::min(m.fail_lo, lo);
      m.fail_hi = std::max(m.fail_hi, hi);
    } else {
      m.has_fail = true;
      m.fail_lo = lo;
      m.fail_hi = hi;
    }
  }

  const Regex::Impl& re_;
  const RegexText& t_;
  std::vector<RepeatMemo> memo_;
  std::vector<std::vector<Frame>> stacks_;
  uint64_t gen_ = 0;
  size_t begin_ = 0, end_ = 0;
};

}  // namespace

void RegexText::assign(const std::vector<uint32_t>& code_points) {
  cps.resize(code_points.size());
  props.resize(code_points.size());
  for (size_t i = 0; i < code_points.size(); ++i) {
    uint32_t cp = code_points[i];
    uint16_t f = cp_flags(cp);
    uint8_t p = 0;
    if (f & kCpNumber) p |= kPropN;
    if (f & kCpLetter) p |= kPropL;
    if (f & kCpPunct) p |= kPropP;
    if (f & kCpMark) p |= kPropM;
    if ((f & kCpSymbol) && cp != '~') p |= kPropS;  // llama.cpp's ASCII \p{S} lacks '~'
    if (f & kCpWhitespace) p |= kPropSpace;
    if (cp >= '0' && cp <= '9') p |= kPropDigit;
    if ((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') || cp == '_') p |= kPropWord;
    props[i] = p;
    cps[i] = (cp > 0x7F && (f & kCpWhitespace)) ? 0x0B : cp;
  }
}

Regex::Regex(std::string_view pattern) {
  auto impl = std::make_shared<Impl>();
  compile_regex(pattern, *impl);
  impl_ = std::move(impl);
}

const std::string& Regex::pattern() const { return impl_->pattern; }

namespace {

void split_range(Matcher_& m, size_t begin, size_t end, std::vector<size_t>& out) {
  m.reset(begin, end);
  size_t piece = begin;
  size_t p = begin;
  while (p < end) {
    size_t e = m.run(0, p);
    if (e == kNoMatch) {
      ++p;
      continue;
    }
    if (p > piece) out.push_back(p - piece);
    piece = p;
    if (e == p) {  // empty match: only a split point
      ++p;
      continue;
    }
    out.push_back(e - p);
    piece = p = e;
  }
  if (end > piece) out.push_back(end - piece);
}

}  // namespace

void Regex::split(const RegexText& t, size_t begin, size_t end, std::vector<size_t>& out) const {
  Matcher_ m(*impl_, t);
  split_range(m, begin, end, out);
}

void Regex::split(const RegexText& t, const std::vector<size_t>& lengths, std::vector<size_t>& out) const {
  Matcher_ m(*impl_, t);
  size_t begin = 0;
  for (size_t len : lengths) {
    split_range(m, begin, begin + len, out);
    begin += len;
  }
}

bool Regex::search(const RegexText& t, size_t begin, size_t end, size_t* match_begin, size_t* match_end) const {
  Matcher_ m(*impl_, t);
  m.reset(begin, end);
  for (size_t p = begin; p <= end; ++p) {
    size_t e = m.run(0, p);
    if (e != kNoMatch) {
      *match_begin = p;
      *match_end = e;
      return true;
    }
  }
  return false;
}

}  // namespace llmchain::tokenizer::detail
