#pragma once
// Resumable HTTP(S) download of one file (llmchain pull): bytes go to
// "<final>.part", a later run resumes it with a Range request, and only a
// complete GGUF file (and, when asked, checksum-verified) is renamed to its name;
// a complete download that is not GGUF (no "GGUF" magic) is removed.
#include <cstdint>
#include <functional>
#include <string>

#include "base/error.h"

namespace llmchain::apps {

struct DownloadUrl {
  std::string scheme_host_port;  // "https://huggingface.co" or "http://127.0.0.1:8080"
  std::string path;              // "/owner/repo/resolve/main/file.gguf"
  std::string file_name;         // last path component
  bool huggingface = false;      // send HF_TOKEN
};

// http(s)://host[:port]/path or hf://owner/repo/path/file.gguf (main branch).
Expected<DownloadUrl> parse_download_source(const std::string& source);

struct DownloadOptions {
  std::string out_dir = ".";
  std::string sha256;        // expected hex digest; empty: not checked
  std::string bearer_token;  // Authorization: Bearer (HF_TOKEN)
  // Bytes on disk so far and expected total (0 when unknown).
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct DownloadResult {
  std::string path;           // final file
  uint64_t bytes = 0;         // size of the final file
  uint64_t resumed_from = 0;  // bytes already in the .part file when the transfer started
  std::string sha256;         // hex digest of the final file
};

Expected<DownloadResult> download_file(const DownloadUrl& url, const DownloadOptions& opts);

// Hex SHA-256 of a file.
Expected<std::string> sha256_file(const std::string& path);

}  // namespace llmchain::apps
