#include "sampling/int_range_gbnf.h"

#include <string_view>
#include <vector>

#include "base/error.h"

namespace llmchain::sampling {
namespace {

std::string join(const std::vector<std::string>& alts) {
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out + ")";
}

std::string digits(char from, char to) {
  if (from == to) return fmt::format("\"{}\"", from);
  if (from == '0' && to == '9') return "[0-9]";
  return fmt::format("[{}-{}]", from, to);
}

std::string any_digits(size_t n) {
  if (n == 0) return "";
  return n == 1 ? "[0-9]" : fmt::format("[0-9]{{{}}}", n);
}

// Digit strings of x.size() == y.size() digits from x to y (x <= y), leading
// zeros allowed (the caller fixes the first digit).
std::string same_length(std::string_view x, std::string_view y) {
  size_t n = x.size();
  if (n == 0) return "\"\"";
  if (x.find_first_not_of('0') == std::string_view::npos && y.find_first_not_of('9') == std::string_view::npos) {
    return any_digits(n);
  }
  if (x[0] == y[0]) {
    if (n == 1) return digits(x[0], x[0]);
    return digits(x[0], x[0]) + " " + same_length(x.substr(1), y.substr(1));
  }
  std::vector<std::string> alts;
  char lo = x[0], hi = y[0];
  std::string_view xr = x.substr(1), yr = y.substr(1);
  // x[0] followed by [x rest, 99..9]: unless x rest is all zeros, where the whole x[0] block is in.
  if (xr.find_first_not_of('0') != std::string_view::npos) {
    alts.push_back(digits(lo, lo) + " " + same_length(xr, std::string(n - 1, '9')));
    ++lo;
  }
  // y[0] followed by [00..0, y rest]: likewise for a y rest of all nines.
  std::string high;
  if (yr.find_first_not_of('9') != std::string_view::npos) {
    high = digits(hi, hi) + " " + same_length(std::string(n - 1, '0'), yr);
    --hi;
  }
  if (lo <= hi) alts.push_back(n == 1 ? digits(lo, hi) : digits(lo, hi) + " " + any_digits(n - 1));
  if (!high.empty()) alts.push_back(high);
  return join(alts);
}

// Positive integers (no leading zeros) from a to b, 1 <= a <= b.
void positive(uint64_t a, uint64_t b, std::vector<std::string>& alts) {
  std::string sa = std::to_string(a), sb = std::to_string(b);
  for (size_t len = sa.size(); len <= sb.size(); ++len) {
    std::string x = sa;
    if (len > sa.size()) {
      x.assign(len, '0');  // 10..0
      x[0] = '1';
    }
    std::string y = len == sb.size() ? sb : std::string(len, '9');
    alts.push_back(same_length(x, y));
  }
}

}  // namespace

std::string int_range_gbnf(int64_t lo, int64_t hi) {
  if (lo > hi) fail(ErrorCode::kInternal, "int_range_gbnf: empty range [{}, {}]", lo, hi);
  std::vector<std::string> alts;
  if (lo < 0) {
    // -|x| for x in [lo, min(hi, -1)]: "-" then |x| in [max(1, -hi), -lo].
    uint64_t a = hi < 0 ? static_cast<uint64_t>(-(hi + 1)) + 1 : 1;
    uint64_t b = static_cast<uint64_t>(-(lo + 1)) + 1;
    std::vector<std::string> neg;
    positive(a, b, neg);
    alts.push_back("\"-\" " + join(neg));
  }
  if (lo <= 0 && hi >= 0) alts.push_back("\"0\"");
  if (hi > 0) positive(static_cast<uint64_t>(std::max<int64_t>(lo, 1)), static_cast<uint64_t>(hi), alts);
  std::string e = join(alts);
  return e.front() == '(' ? e : "(" + e + ")";
}

}  // namespace llmchain::sampling
