#pragma once
// Logging goes to stderr (stdout belongs to command output). Thin wrapper over
// spdlog so the rest of the code does not depend on its setup.
#include <spdlog/spdlog.h>

#include <string>

namespace llmchain {

enum class LogFormat { kText, kJson };

// level: trace|debug|info|warn|error|off. JSON format writes one object per line.
void init_logging(LogFormat format = LogFormat::kText, const std::string& level = "info");

}  // namespace llmchain

#define LLMC_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define LLMC_LOG_INFO(...) spdlog::info(__VA_ARGS__)
#define LLMC_LOG_WARN(...) spdlog::warn(__VA_ARGS__)
#define LLMC_LOG_ERROR(...) spdlog::error(__VA_ARGS__)
