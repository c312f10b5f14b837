#pragma once
// Engines `llmchain serve` can run other than a model file, added by the program that links
// the commands: the shipped binary adds none; the test build (tests/support/llmchain_testing.cpp,
// `llmchain-testing`) adds the scripted fake engine behind --fake-engine. Registered before
// main() runs (a static object's constructor), read when `serve` adds its flags.
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "engine/engine.h"

namespace llmchain::apps {

// What `serve` knows when it makes the engine.
struct ServeEngineContext {
  std::string name;  // the first --alias, or "" (the engine's own name)
  int n_ctx = 0;     // --ctx-size (0: not given)
  int parallel = 1;  // --parallel
};

struct ServeEngineSource {
  // Adds the source's flags to `serve`; the returned function tells whether they chose it.
  std::function<std::function<bool()>(CLI::App* serve)> add_options;
  std::function<std::unique_ptr<engine::Engine>(const ServeEngineContext& ctx)> make;
};

// Sets the one extra source (a second call replaces the first); null when there is none.
void set_serve_engine_source(ServeEngineSource source);
const ServeEngineSource* serve_engine_source();

}  // namespace llmchain::apps
