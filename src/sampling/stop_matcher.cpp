#include "sampling/stop_matcher.h"

#include <algorithm>

#include "base/utf8.h"

namespace llmchain::sampling {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

StopMatcher::Out StopMatcher::push(std::string_view text) {
  Out out;
  if (stopped_) {
    out.stopped = true;
    return out;
  }
  held_.append(text);
  // Earliest occurrence of any stop string. held_ never contains a whole stop
  // string from before (it would have stopped), so searching all of it is exact.
  size_t best = std::string::npos;
  for (const auto& s : stops_) {
    size_t at = held_.find(s);
    if (at == std::string::npos) continue;
    if (at < best || (at == best && s.size() > out.stop.size())) {
      best = at;
      out.stop = s;
    }
  }
  if (best != std::string::npos) {
    out.emit = held_.substr(0, best);
    out.stopped = stopped_ = true;
    held_.clear();
    return out;
  }
  // Longest suffix of held_ that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const auto& s : stops_) {
    size_t max = std::min(s.size() - 1, held_.size());
    for (size_t n = max; n > keep; --n) {
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
    }
  }
  size_t cut = held_.size() - keep;
  cut -= utf8::incomplete_tail(std::string_view(held_).substr(0, cut));
  out.emit = held_.substr(0, cut);
  held_.erase(0, cut);
  return out;
}

std::string StopMatcher::flush() {
  std::string rest = std::move(held_);
  held_.clear();
  return stopped_ ? std::string() : rest;
}

}  // namespace llmchain::sampling
