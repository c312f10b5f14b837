#pragma once
// Helpers shared by the fuzz harnesses (header only: each harness is one program).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

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

// Array/object nesting of a JSON text, strings skipped; stops counting past `limit`. The
// server refuses bodies deeper than 128 (server/openai_request.cpp) before anything walks
// them recursively; the harnesses apply the same gate to what they feed such walkers.
inline int json_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}
inline constexpr int kMaxJsonDepth = 128;

}  // namespace llmchain::fuzz
