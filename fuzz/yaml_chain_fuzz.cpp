// libFuzzer target over the YAML chain loader (chain/yaml_loader.h): the input is one YAML
// file. Local models get a factory that is never called at load time (models load on first
// use); API keys come from an empty environment. Chains are only built, never invoked (a
// config may name remote servers and SQLite files anywhere). Checked, besides "no crash, no
// sanitizer report, no exception escaping":
//  - a refused config is an Error value whose message carries no library exception text
//    (nlohmann's "[json.exception...", libstdc++'s "basic_string"/"vector::"/"stoi"...);
//  - a loaded config lists its chains, and each one's info and input/output schemas are
//    available.
#include <cstdint>
#include <string>
#include <string_view>

#include "base/log.h"
#include "chain/yaml_loader.h"
#include "fuzz_util.h"

namespace {

using namespace llmchain;
constexpr const char* kHarness = "yaml_chain_fuzz";

// Text that only a library's own exception could have put in a message (unless the input
// itself carries it).
bool internal_text(const std::string& message, std::string_view input) {
  for (const char* marker : {"[json.exception", "basic_string", "vector::", "_M_", "stoi", "stol", "stod",
                             "std::", "bad_alloc", "bad_any_cast", "bad_variant", "bad_optional", "YAML::"}) {
    if (message.find(marker) != std::string::npos && input.find(marker) == std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    init_logging(LogFormat::kText, "off");
    return true;
  }();
  (void)quiet;
  std::string text(reinterpret_cast<const char*>(data), size);
  chain::LoadOptions opts;
  opts.getenv = [](const std::string&) { return std::string(); };
  opts.local_model_factory = [](const chain::LocalModelSpec& spec) -> Expected<chain::LanguageModelPtr> {
    return Error(ErrorCode::kUnsupported, "fuzz: no local models (" + spec.path + ")");
  };
  auto cfg = chain::load_chain_config_string(text, "fuzz.yaml", opts);
  if (!cfg.ok()) {
    if (internal_text(cfg.error().message(), text)) {
      fuzz::violated(kHarness, "an error carries library exception text: " + cfg.error().message());
    }
    return 0;
  }
  for (const auto& info : cfg->registry->list()) {
    if (!cfg->registry->info(info.name).ok() || !cfg->registry->get(info.name).ok()) {
      fuzz::violated(kHarness, "a listed chain is missing: " + info.name);
    }
    (void)cfg->registry->input_schema(info.name);
    (void)cfg->registry->output_schema(info.name);
  }
  return 0;
}
