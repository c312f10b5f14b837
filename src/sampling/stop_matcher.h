#pragma once
// Stop strings over streamed text. push() returns the text that is safe to emit
// now: it holds back any suffix that could be the start of a stop string (and
// an incomplete UTF-8 character at the end), so a stop string split across
// tokens is never partly emitted. The stop string itself is never emitted.
#include <string>
#include <string_view>
#include <vector>

namespace llmchain::sampling {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);  // empty strings are ignored

  struct Out {
    std::string emit;
    bool stopped = false;  // a stop string was found; emit holds the text before it
    std::string stop;      // which one (the earliest in the text; longest on ties)
  };
  Out push(std::string_view text);
  // End of generation without a stop: releases the held-back text.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace llmchain::sampling
