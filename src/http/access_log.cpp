#include "http/access_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace llmchain::http {

void write_access_log(LogFormat format, const AccessLogEntry& e) {
  if (!spdlog::should_log(spdlog::level::info)) return;
  if (format == LogFormat::kText) {
    spdlog::info("{} {} {} {:.1f}ms route={} id={}", e.method, e.path, e.status, e.duration_ms, e.route, e.request_id);
    return;
  }
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  nlohmann::json j = {{"ts", ts},
                      {"level", "info"},
                      {"msg", "request"},
                      {"request_id", e.request_id},
                      {"method", e.method},
                      {"path", e.path},
                      {"route", e.route},
                      {"status", e.status},
                      {"duration_ms", e.duration_ms},
                      {"remote_addr", e.remote_addr}};
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  // One fwrite per line: stdio locks the stream, so lines never interleave with spdlog's.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace llmchain::http
