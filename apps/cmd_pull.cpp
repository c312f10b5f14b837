// llmchain pull: downloads a GGUF from an http(s) URL or hf://owner/repo/file,
// resuming a previous partial download and checking its sha256 when given.
#include <cstdio>
#include <cstdlib>

#include "apps/command.h"
#include "apps/progress_bar.h"
#include "apps/pull_download.h"
#include "base/timer.h"

namespace llmchain::apps {
namespace {

struct PullOptions {
  std::string source, out_dir = ".", sha256;
};

std::string mib(uint64_t b) { return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1 << 20)); }

int run_pull(const PullOptions& o) {
  auto url = parse_download_source(o.source);
  if (!url) usage_error("{}", url.error().message());
  ProgressBar bar("pull");
  Stopwatch sw;
  DownloadOptions d;
  d.out_dir = o.out_dir;
  d.sha256 = o.sha256;
  if (const char* tok = std::getenv("HF_TOKEN"); tok && url->huggingface) d.bearer_token = tok;
  d.progress = [&](uint64_t done, uint64_t total) {
    if (!bar.due(static_cast<int64_t>(done), static_cast<int64_t>(total))) return;  // skip the formatting too
    const double s = std::max(sw.seconds(), 1e-3);
    bar.update(static_cast<int64_t>(done), static_cast<int64_t>(total),
               fmt::format("{} / {} {:.1f} MiB/s", mib(done), mib(total), static_cast<double>(done) / (1 << 20) / s));
  };
  auto r = download_file(*url, d);
  bar.finish();
  if (!r) {
    std::fprintf(stderr, "error: %s\n", r.error().what());
    return 1;
  }
  if (r->resumed_from > 0) std::fprintf(stderr, "resumed at %s\n", mib(r->resumed_from).c_str());
  std::fprintf(stderr, "downloaded %s (%s)%s\n", r->path.c_str(), mib(r->bytes).c_str(),
               r->sha256.empty() ? "" : ", sha256 verified");
  std::printf("%s\n", r->path.c_str());
  return 0;
}

LLMC_REGISTER_COMMAND(pull, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<PullOptions>();
  auto* sub = app.add_subcommand("pull", "Download a GGUF model (http(s):// URL or hf://owner/repo/file.gguf)");
  sub->add_option("source", o->source, "URL or hf://owner/repo/path/file.gguf (HF_TOKEN is sent as Bearer)")
      ->required();
  sub->add_option("-o,--output-dir", o->out_dir, "directory to write into (default: .)");
  sub->add_option("--sha256", o->sha256, "expected SHA-256 (hex); a mismatch removes the download")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            const bool hex = v.size() == 64 && v.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
            return hex ? "" : "expected 64 hex digits";
          },
          "HEX64"));
  return {sub, [o] { return run_pull(*o); }};
});

}  // namespace
}  // namespace llmchain::apps
