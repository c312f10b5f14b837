// llmchain-testing: the llmchain command with the scripted fake engine (fake_engine.h) as a
// second engine for `serve`: `llmchain-testing serve --fake-engine [--fake-token-delay-ms N]`.
// The end-to-end, UI and load tests use it where they need exact outputs or a known pace
// without a model; the shipped binary has no fake engine.
#include "apps/serve_engines.h"
#include "base/log.h"
#include "support/fake_engine.h"

namespace llmchain::fakes {
namespace {

struct FakeServeFlags {
  bool on = false;
  int token_delay_ms = 0;
};

const bool registered = [] {
  auto flags = std::make_shared<FakeServeFlags>();
  apps::ServeEngineSource source;
  source.add_options = [flags](CLI::App* serve) -> std::function<bool()> {
    serve->add_flag("--fake-engine", flags->on, "Serve the scripted fake engine instead of a model (tests)")
        ->envname("LLMCHAIN_FAKE_ENGINE");
    serve->add_option("--fake-token-delay-ms", flags->token_delay_ms, "Fake engine: delay per generated token")
        ->envname("LLMCHAIN_FAKE_TOKEN_DELAY_MS");
    return [flags] { return flags->on; };
  };
  source.make = [flags](const apps::ServeEngineContext& ctx) -> std::unique_ptr<engine::Engine> {
    FakeEngineOptions fo;
    if (!ctx.name.empty()) fo.name = ctx.name;
    fo.n_ctx = ctx.n_ctx > 0 ? ctx.n_ctx : 2048;
    fo.parallel = ctx.parallel;
    fo.token_delay_ms = flags->token_delay_ms;
    LLMC_LOG_WARN("serving the scripted fake engine (--fake-engine), not a model");
    return std::make_unique<FakeEngine>(fo);
  };
  apps::set_serve_engine_source(std::move(source));
  return true;
}();

}  // namespace
}  // namespace llmchain::fakes
