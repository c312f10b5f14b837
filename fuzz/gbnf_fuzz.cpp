// libFuzzer target over the GBNF parser (sampling/grammar.h) and the GrammarMatcher that
// runs its output. Input: grammar text, optionally followed by a line "#feed:" and bytes to
// feed the matcher (a GBNF comment, so seeds stay valid grammars). Checked, besides "no crash,
// no sanitizer report, no exception escaping":
//  - a parse error is an Error value of code kInvalidArgument;
//  - on a matcher over a parsed grammar (small vocabulary), the mask and the completion
//    budget keep their promises (fuzz_grammar.h); the only exception the matcher may throw
//    is kInvalidArgument, for a grammar beyond its limits.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_grammar.h"
#include "fuzz_util.h"
#include "sampling/grammar.h"

namespace {

using namespace llmchain;
constexpr const char* kHarness = "gbnf_fuzz";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto [text, feed] = fuzz::split_at(in, "\n#feed:");
  auto grammar = sampling::parse_gbnf(text);
  if (!grammar.ok()) {
    if (grammar.error().code() != ErrorCode::kInvalidArgument) {
      fuzz::violated(kHarness, std::string("parse error of another code: ") + grammar.error().what());
    }
    return 0;
  }
  const sampling::Grammar& g = **grammar;
  if (g.root >= g.rule_alts.size() || g.rule_names.size() != g.rule_alts.size()) {
    fuzz::violated(kHarness, "root or rule tables inconsistent");
  }
  for (const sampling::Elem& e : g.elems) {
    if ((e.type == sampling::ElemType::kChars && e.arg >= g.charsets.size()) ||
        (e.type == sampling::ElemType::kRule && e.arg >= g.rule_alts.size())) {
      fuzz::violated(kHarness, "an element refers outside the grammar");
    }
  }
  fuzz::Chooser choose(in);
  bool complete = false;
  try {
    (void)fuzz::walk_grammar(kHarness, *grammar, feed.substr(0, 64), choose, &complete);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidArgument) fuzz::violated(kHarness, std::string("matcher: ") + e.what());
  }
  return 0;
}
