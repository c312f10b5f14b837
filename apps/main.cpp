// llmchain: one binary, one subcommand per job (run, tokenize, info, bench, serve...).
#include <cstdio>
#include <exception>

#include "apps/command.h"
#include "apps/serve_engines.h"
#include "base/error.h"
#include "base/log.h"
#include "kernels/backend.h"

namespace llmchain::apps {

void add_backend_option(CLI::App* sub, std::string& backend) {
  std::vector<std::string> names;
  for (auto n : kernels::backend_names()) names.emplace_back(n);
  env_option(sub->add_option("--backend", backend,
                             "What runs the model: cpu (SIMD kernels, packed weights) or reference (scalar twins)")
                 ->check(CLI::IsMember(names))
                 ->capture_default_str(),
             "BACKEND");
}

std::vector<CommandRegistrar>& command_registry() {
  static std::vector<CommandRegistrar> registry;
  return registry;
}

namespace {
std::unique_ptr<ServeEngineSource>& extra_serve_engine() {
  static std::unique_ptr<ServeEngineSource> source;
  return source;
}
}  // namespace

void set_serve_engine_source(ServeEngineSource source) {
  extra_serve_engine() = std::make_unique<ServeEngineSource>(std::move(source));
}
const ServeEngineSource* serve_engine_source() { return extra_serve_engine().get(); }

}  // namespace llmchain::apps

int main(int argc, char** argv) {
  using namespace llmchain;
  // Before anything can log: spdlog's default logger writes to stdout, which carries only results.
  apps::init_command_logging("info");
  CLI::App app{"llmchain: LLM inference engine, chains and OpenAI-compatible server"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "llmchain 0.1.0");
  std::vector<apps::CommandAction> actions;
  for (auto& reg : apps::command_registry()) actions.push_back(reg(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are ParseErrors too (exit code 0); every real one is a usage error.
    const int rc = app.exit(e);
    return rc == 0 ? 0 : apps::kExitUsage;
  }
  try {
    for (auto& a : actions) {
      if (a.sub && a.sub->parsed()) return a.run();
    }
  } catch (const apps::UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return apps::kExitUsage;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return apps::kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return apps::kExitFailure;
  }
  return apps::kExitFailure;
}
