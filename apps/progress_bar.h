#pragma once
// A one-line progress bar on stderr, drawn only when stderr is a terminal, at most
// every kRedrawInterval (a download calls update() per 4 KiB received: tens of
// thousands of times), plus the final state (done == total) at once.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace llmchain::apps {

class ProgressBar {
 public:
  static constexpr std::chrono::milliseconds kRedrawInterval{100};

  explicit ProgressBar(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0) {}
  ~ProgressBar() { finish(); }
  bool enabled() const { return tty_; }
  // Whether update(done, total) would draw now; lets callers skip building the suffix.
  bool due(int64_t done, int64_t total) const {
    if (!tty_ || total <= 0) return false;
    return !drawn_ || done >= total || Clock::now() - last_draw_ >= kRedrawInterval;
  }
  // suffix: extra text after the percentage (e.g. "12.3 MiB/s").
  void update(int64_t done, int64_t total, const std::string& suffix = "") {
    if (!due(done, total)) return;
    const int width = 30;
    const double f = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const int fill = static_cast<int>(f * width + 0.5);
    std::fprintf(stderr, "\r%s [%.*s%*s] %5.1f%% %s\x1b[K", label_.c_str(), fill, "##############################",
                 width - fill, "", 100.0 * f, suffix.c_str());
    std::fflush(stderr);
    drawn_ = true;
    last_draw_ = Clock::now();
  }
  void finish() {
    if (drawn_) std::fprintf(stderr, "\n");
    drawn_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_;
  bool tty_;
  bool drawn_ = false;
  Clock::time_point last_draw_;
};

}  // namespace llmchain::apps
