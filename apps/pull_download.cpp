#include "apps/pull_download.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace llmchain::apps {
namespace fs = std::filesystem;

Expected<DownloadUrl> parse_download_source(const std::string& source) {
  return capture([&]() -> DownloadUrl {
    DownloadUrl u;
    std::string rest;
    if (source.rfind("hf://", 0) == 0) {
      rest = source.substr(5);
      // owner/repo/path...: at least three components.
      const size_t a = rest.find('/'), b = a == std::string::npos ? a : rest.find('/', a + 1);
      if (b == std::string::npos || b + 1 >= rest.size())
        fail(ErrorCode::kInvalidArgument, "'{}': expected hf://owner/repo/path/file.gguf", source);
      u.scheme_host_port = "https://huggingface.co";
      u.path = fmt::format("/{}/resolve/main/{}", rest.substr(0, b), rest.substr(b + 1));
      u.huggingface = true;
    } else {
      const size_t sep = source.find("://");
      const std::string scheme = sep == std::string::npos ? "" : source.substr(0, sep);
      if (scheme != "http" && scheme != "https")
        fail(ErrorCode::kInvalidArgument, "'{}': expected an http(s):// URL or hf://owner/repo/file.gguf", source);
      const size_t slash = source.find('/', sep + 3);
      if (slash == std::string::npos || slash + 1 >= source.size())
        fail(ErrorCode::kInvalidArgument, "'{}': the URL names no file", source);
      u.scheme_host_port = source.substr(0, slash);
      u.path = source.substr(slash);
      u.huggingface = u.scheme_host_port == "https://huggingface.co";
    }
    std::string p = u.path.substr(0, u.path.find_first_of("?#"));
    u.file_name = p.substr(p.rfind('/') + 1);
    if (u.file_name.empty() || u.file_name == "." || u.file_name == "..")
      fail(ErrorCode::kInvalidArgument, "'{}': the URL names no file", source);
    return u;
  });
}

Expected<std::string> sha256_file(const std::string& path) {
  return capture([&]() -> std::string {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) fail(ErrorCode::kIo, "{}: cannot read: {}", path, std::strerror(errno));
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
      fail(ErrorCode::kInternal, "sha256: OpenSSL initialisation failed");
    std::vector<unsigned char> buf(1 << 20);
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) EVP_DigestUpdate(ctx.get(), buf.data(), n);
    if (std::ferror(f.get())) fail(ErrorCode::kIo, "{}: read error: {}", path, std::strerror(errno));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
    return hex;
  });
}

namespace {

// The first bytes of `path` as printable text (for "not a GGUF file" messages).
std::string file_head(const std::string& path, size_t n) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  std::string head(n, '\0');
  head.resize(f ? std::fread(head.data(), 1, n, f.get()) : 0);
  return head;
}

std::string printable(const std::string& bytes) {
  std::string s;
  for (unsigned char c : bytes) s += c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? static_cast<char>(c) : '.';
  return s;
}

}  // namespace

Expected<DownloadResult> download_file(const DownloadUrl& url, const DownloadOptions& opts) {
  return capture([&]() -> DownloadResult {
    std::error_code ec;
    fs::create_directories(opts.out_dir, ec);
    if (ec) fail(ErrorCode::kIo, "cannot create output directory {}: {}", opts.out_dir, ec.message());
    const std::string final_path = (fs::path(opts.out_dir) / url.file_name).string();
    const std::string part = final_path + ".part";
    if (::access(opts.out_dir.c_str(), W_OK) != 0)
      fail(ErrorCode::kIo, "output directory {} is not writable: {}", opts.out_dir, std::strerror(errno));

    DownloadResult res;
    res.path = final_path;
    uint64_t have = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
    if (ec) have = 0;

    httplib::Client cli(url.scheme_host_port);
    cli.set_follow_location(true);
    cli.set_connection_timeout(30);
    cli.set_read_timeout(60);

    // Up to two attempts: a server that ignores or rejects the Range starts over.
    for (int attempt = 0; attempt < 2; ++attempt) {
      httplib::Headers headers;
      if (!opts.bearer_token.empty()) headers.emplace("Authorization", "Bearer " + opts.bearer_token);
      if (have > 0) headers.emplace("Range", fmt::format("bytes={}-", have));
      res.resumed_from = have;

      std::unique_ptr<FILE, int (*)(FILE*)> out(nullptr, &std::fclose);
      int status = 0, write_errno = 0;
      uint64_t total = 0, done = have;
      bool restart = false;
      auto on_response = [&](const httplib::Response& r) {
        status = r.status;
        if (r.status == 416 && have > 0) {  // our .part is not a prefix the server knows: start over
          restart = true;
          return false;
        }
        if (r.status != 200 && r.status != 206) return false;
        if (r.status == 200) have = 0;  // Range ignored: the whole body follows
        done = have;
        const std::string len = r.get_header_value("Content-Length");
        total = len.empty() ? 0 : have + std::strtoull(len.c_str(), nullptr, 10);
        out.reset(std::fopen(part.c_str(), have > 0 ? "ab" : "wb"));
        if (!out) {
          write_errno = errno;
          return false;
        }
        return true;
      };
      auto on_data = [&](const char* data, size_t n) {
        if (std::fwrite(data, 1, n, out.get()) != n) {
          write_errno = errno ? errno : EIO;
          return false;
        }
        done += n;
        if (opts.progress) opts.progress(done, total);
        return true;
      };
      auto r = cli.Get(url.path, headers, on_response, on_data);
      if (out && std::fflush(out.get()) != 0 && write_errno == 0) write_errno = errno;
      if (out && ::fsync(fileno(out.get())) != 0 && write_errno == 0) write_errno = errno;
      out.reset();
      const std::string where = url.scheme_host_port + url.path;
      if (write_errno == ENOSPC)
        fail(ErrorCode::kResourceExhausted, "{}: disk full after {} bytes (kept for resuming)", part, done);
      if (write_errno != 0) fail(ErrorCode::kIo, "cannot write {}: {}", part, std::strerror(write_errno));
      if (restart) {
        fs::remove(part, ec);
        have = 0;
        continue;
      }
      if (status != 0 && status != 200 && status != 206)
        fail(ErrorCode::kUnavailable, "{}: HTTP status {}{}", where, status,
             status == 401 || status == 403 ? " (set HF_TOKEN for gated or private repositories)" : "");
      if (!r)
        fail(ErrorCode::kUnavailable, "{}: transfer failed after {} bytes ({}); run again to resume", where, done,
             httplib::to_string(r.error()));
      if (total > 0 && done != total)
        fail(ErrorCode::kUnavailable, "{}: transfer ended at {} of {} bytes; run again to resume", where, done, total);
      res.bytes = done;
      // A login page or an error document served with status 200 must not become "model.gguf".
      if (const std::string head = file_head(part, 16); head.compare(0, 4, "GGUF") != 0) {
        fs::remove(part, ec);
        fail(ErrorCode::kInvalidFile,
             "{}: not a GGUF file (it starts with \"{}\"; a GGUF starts with \"GGUF\"); {} was removed", where,
             printable(head), part);
      }
      if (!opts.sha256.empty()) {
        res.sha256 = sha256_file(part).value();
        std::string want = opts.sha256;
        std::transform(want.begin(), want.end(), want.begin(), ::tolower);
        if (res.sha256 != want) {
          fs::remove(part, ec);
          fail(ErrorCode::kInvalidFile, "{}: sha256 mismatch: got {}, expected {} (the download was removed)", where,
               res.sha256, want);
        }
      }
      fs::rename(part, final_path, ec);
      if (ec) fail(ErrorCode::kIo, "cannot rename {} to {}: {}", part, final_path, ec.message());
      return res;
    }
    fail(ErrorCode::kUnavailable, "{}{}: the server rejected resuming twice", url.scheme_host_port, url.path);
  });
}

}  // namespace llmchain::apps
