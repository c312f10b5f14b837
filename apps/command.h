#pragma once
// Each subcommand lives in its own apps/cmd_*.cpp and registers itself:
//
//   static int run_info(InfoOptions& o);
//   LLMC_REGISTER_COMMAND(info, [](CLI::App& app) -> CommandAction { ... });
//
// A registrar adds its subcommand to the CLI11 app and returns the action to
// run when that subcommand is chosen (its exit code is the process's).
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

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

}  // namespace llmchain::apps

#define LLMC_REGISTER_COMMAND(name, ...) \
  static ::llmchain::apps::RegisterCommand llmc_register_##name(__VA_ARGS__)
