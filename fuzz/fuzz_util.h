#pragma once
// Helpers shared by the fuzz harnesses (header only: each harness is one program).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "base/json_util.h"

namespace llmchain::fuzz {

// A property the harness checks does not hold: report and abort (libFuzzer saves the input;
// the replay tests fail).
[[noreturn]] inline void violated(const char* harness, const std::string& what) {
  std::fprintf(stderr, "%s: property violated: %s\n", harness, what.c_str());
  std::abort();
}

// Splits the input at the first `sep`: (before, after); without one, (input, "") and
// found = false.
inline std::pair<std::string_view, std::string_view> split_at(std::string_view in, std::string_view sep,
                                                              bool* found = nullptr) {
  size_t at = in.find(sep);
  if (found) *found = at != std::string_view::npos;
  if (at == std::string_view::npos) return {in, {}};
  return {in.substr(0, at), in.substr(at + sep.size())};
}

// The server's body gate (base/json_util.h), for what harnesses feed recursive walkers.
using llmchain::json_depth;
using llmchain::kMaxJsonDepth;

}  // namespace llmchain::fuzz
