// libFuzzer target over the JSON-Schema-to-GBNF compiler (sampling/json_schema.h). The input
// is a JSON text (the schema). Checked, besides "no crash, no sanitizer report, no exception
// escaping":
//  - what the compiler emits parses as GBNF (parse_gbnf succeeds on every output);
//  - the compile honours its deadline (CompileBudget) within a few seconds;
//  - on a matcher over that grammar, the mask and the completion budget keep their promises
//    (fuzz_grammar.h), and the document the budget walk produces is valid JSON.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_grammar.h"
#include "fuzz_util.h"
#include "sampling/grammar.h"
#include "sampling/json_schema.h"

namespace {

using namespace llmchain;
constexpr const char* kHarness = "json_schema_fuzz";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (fuzz::json_depth(text, fuzz::kMaxJsonDepth) > fuzz::kMaxJsonDepth) return 0;  // the server refuses these
  nlohmann::json schema = nlohmann::json::parse(text, nullptr, false);
  if (schema.is_discarded()) return 0;

  sampling::CompileBudget budget;
  const auto start = std::chrono::steady_clock::now();
  budget.deadline = start + std::chrono::seconds(1);
  auto gbnf = sampling::json_schema_to_gbnf(schema, budget);
  if (std::chrono::steady_clock::now() - start > std::chrono::seconds(6)) {
    fuzz::violated(kHarness, "json_schema_to_gbnf ran 5 s past its deadline");
  }
  if (!gbnf.ok()) {
    if (std::string(gbnf.error().what()).empty()) fuzz::violated(kHarness, "an error without a message");
    return 0;
  }
  auto grammar = sampling::parse_gbnf(*gbnf);
  if (!grammar.ok()) {
    fuzz::violated(kHarness, "the compiler's grammar does not parse: " + grammar.error().message() + "\n" + *gbnf);
  }
  if (gbnf->size() > (64u << 10)) return 0;  // the matcher walk below is for small grammars

  fuzz::Chooser choose(text);
  bool complete = false;
  std::string doc;
  try {
    doc = fuzz::walk_grammar(kHarness, *grammar, "", choose, &complete);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidArgument) fuzz::violated(kHarness, std::string("matcher: ") + e.what());
    return 0;
  }
  if (complete && nlohmann::json::parse(doc, nullptr, false).is_discarded()) {
    fuzz::violated(kHarness, "the schema's grammar produced a document that is not JSON: " + doc);
  }
  return 0;
}
