// llmchain: one binary, one subcommand per job (run, tokenize, info, bench, serve...).
#include <cstdio>
#include <exception>

#include "apps/command.h"
#include "base/error.h"
#include "base/log.h"

namespace llmchain::apps {

std::vector<CommandRegistrar>& command_registry() {
  static std::vector<CommandRegistrar> registry;
  return registry;
}

}  // namespace llmchain::apps

int main(int argc, char** argv) {
  using namespace llmchain;
  CLI::App app{"llmchain: LLM inference engine, chains and OpenAI-compatible server"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "llmchain 0.1.0");
  std::vector<apps::CommandAction> actions;
  for (auto& reg : apps::command_registry()) actions.push_back(reg(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& a : actions) {
      if (a.sub && a.sub->parsed()) return a.run();
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 1;
}
