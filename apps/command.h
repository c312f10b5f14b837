#pragma once
// Each subcommand lives in its own apps/cmd_*.cpp and registers itself:
//
//   static int run_info(InfoOptions& o);
//   LLMC_REGISTER_COMMAND(info, [](CLI::App& app) -> CommandAction { ... });
//
// A registrar adds its subcommand to the CLI11 app and returns the action to
// run when that subcommand is chosen (its exit code is the process's).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "base/log.h"

namespace llmchain::apps {

struct CommandAction {
  CLI::App* sub = nullptr;
  std::function<int()> run;
};

using CommandRegistrar = std::function<CommandAction(CLI::App&)>;

std::vector<CommandRegistrar>& command_registry();

struct RegisterCommand {
  explicit RegisterCommand(CommandRegistrar r) { command_registry().push_back(std::move(r)); }
};

// Reads LLMCHAIN_<NAME> into an option when the flag is absent (containers are configured that way).
inline void env_option(CLI::Option* opt, const std::string& name) { opt->envname("LLMCHAIN_" + name); }

// --backend NAME (LLMCHAIN_BACKEND): what runs the model's layers, one of kernels/backend.h's.
void add_backend_option(CLI::App* sub, std::string& backend);

// Exit codes (every subcommand): 0 done, 1 failure (a file, model or network problem), 2 usage
// error (CLI11's parse errors and bad argument values found after parsing).
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// A bad argument value found after parsing (e.g. an unknown shape name); main prints
// "error: <message>" on stderr and exits kExitUsage.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void usage_error(fmt::format_string<Args...> f, Args&&... args) {
  throw UsageError(fmt::format(f, std::forward<Args>(args)...));
}

// Logging to stderr at `level` (a command's quiet default); LLMCHAIN_LOG_LEVEL, when set, wins.
// main calls it with "info" before any subcommand runs, so nothing logs to stdout.
inline void init_command_logging(const char* level) {
  const char* env = std::getenv("LLMCHAIN_LOG_LEVEL");
  std::string chosen = env && *env ? env : level;
  if (spdlog::level::from_str(chosen) == spdlog::level::off && chosen != "off") {  // from_str's "unknown"
    static bool warned = false;
    if (!warned)
      std::fprintf(stderr, "warning: ignoring LLMCHAIN_LOG_LEVEL=%s (trace|debug|info|warn|error|off)\n", env);
    warned = true;
    chosen = level;
  }
  init_logging(LogFormat::kText, chosen);
}

}  // namespace llmchain::apps

#define LLMC_REGISTER_COMMAND(name, ...) static ::llmchain::apps::RegisterCommand llmc_register_##name(__VA_ARGS__)
