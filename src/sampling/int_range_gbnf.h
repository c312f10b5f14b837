#pragma once
// Integer ranges as GBNF: the JSON integers (no leading zeros, no "-0") whose
// value lies in [lo, hi], and nothing else. Used for JSON Schema `minimum`,
// `maximum`, `exclusiveMinimum` and `exclusiveMaximum` on integers.
//
// The expression splits the range by sign and by number of digits; a range of
// equal-length numbers is built digit by digit (the shared prefix, then the
// low edge, the full middle digits, the high edge), so its size grows with the
// number of digits, never with the width of the range.
#include <cstdint>
#include <string>

namespace llmchain::sampling {

// Requires lo <= hi. Returns a parenthesised GBNF expression.
std::string int_range_gbnf(int64_t lo, int64_t hi);

}  // namespace llmchain::sampling
