#pragma once
// A one-line progress bar on stderr, drawn only when stderr is a terminal.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace llmchain::apps {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0) {}
  ~ProgressBar() { finish(); }
  bool enabled() const { return tty_; }
  // suffix: extra text after the percentage (e.g. "12.3 MiB/s").
  void update(int64_t done, int64_t total, const std::string& suffix = "") {
    if (!tty_ || total <= 0) return;
    const int width = 30;
    const double f = static_cast<double>(done) / static_cast<double>(total);
    const int fill = static_cast<int>(f * width + 0.5);
    std::fprintf(stderr, "\r%s [%.*s%*s] %5.1f%% %s\x1b[K", label_.c_str(), fill, "##############################",
                 width - fill, "", 100.0 * f, suffix.c_str());
    std::fflush(stderr);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::fprintf(stderr, "\n");
    drawn_ = false;
  }

 private:
  std::string label_;
  bool tty_;
  bool drawn_ = false;
};

}  // namespace llmchain::apps
