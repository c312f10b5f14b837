// libFuzzer target over the chain guards (chain/guards.h): the guards of the example configs
// (examples/chains.yaml, deploy/k8s/base/config/chains.yaml: PII redact, max_length block and
// redact, deny_list flag, JSON validity) plus a deny list built from the input. Input: the
// text to check, optionally after a first line "#deny:" TERMS [TAB PATTERN]... (TERMS
// comma-separated, PATTERNs RE2). Checked, besides "no crash, no sanitizer report, no
// exception escaping":
//  - findings lie inside the text; block throws Error (kInvalidArgument on input, kInternal
//    on output) exactly when there are findings; flag returns the text unchanged;
//  - redaction keeps valid UTF-8 valid, and what the example PII and deny-list guards
//    redacted rescans clean; max_length redact gives a prefix of at most max bytes;
//  - apply_guards over strings and structured values (valid UTF-8, as parsed JSON is)
//    throws nothing but llmchain::Error;
//  - an invalid deny-list pattern is an Error (kInvalidArgument).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/utf8.h"
#include "chain/guards.h"
#include "fuzz_util.h"

namespace {

using namespace llmchain;
using namespace llmchain::chain;
constexpr const char* kHarness = "guards_fuzz";

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t at = s.find(sep, pos);
    out.emplace_back(s.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
    if (at == std::string_view::npos) return out;
    pos = at + 1;
  }
}

// One guard with each action (a guard's action is fixed when it is made).
struct Variants {
  GuardPtr flag, block, redact;  // redact null: the guard has none (json_validity)
};

Variants make_variants(const std::function<GuardPtr(GuardAction)>& make) {
  Variants v{make(GuardAction::kFlag), make(GuardAction::kBlock), nullptr};
  try {
    v.redact = make(GuardAction::kRedact);
  } catch (const Error&) {
  }
  return v;
}

// Runs one guard over the text with each action; `rescan_clean`: what redact removed must not
// be found again.
void check_guard(const Variants& g, const std::string& text, bool rescan_clean) {
  auto findings = g.flag->scan(text);
  const std::string& name = g.flag->name();
  for (const auto& f : findings) {
    if (f.begin > f.end || f.end > text.size()) fuzz::violated(kHarness, name + ": a finding outside the text");
  }
  for (GuardStage stage : {GuardStage::kInput, GuardStage::kOutput}) {
    if (g.flag->apply(text, stage) != text) fuzz::violated(kHarness, name + ": flag changed the text");
    bool blocked = false;
    try {
      (void)g.block->apply(text, stage);
    } catch (const Error& e) {
      blocked = true;
      ErrorCode want = stage == GuardStage::kInput ? ErrorCode::kInvalidArgument : ErrorCode::kInternal;
      if (e.code() != want) fuzz::violated(kHarness, name + ": block threw the wrong code");
    }
    if (blocked != !findings.empty()) fuzz::violated(kHarness, name + ": block disagrees with scan");
  }
  if (!g.redact) return;
  std::string out = g.redact->apply(text, GuardStage::kInput);
  if (findings.empty() && out != text) fuzz::violated(kHarness, name + ": redact changed a clean text");
  if (utf8::is_valid(text) && !utf8::is_valid(out)) {
    fuzz::violated(kHarness, name + ": redaction made valid UTF-8 invalid: " + out);
  }
  if (rescan_clean && !g.redact->scan(out).empty()) {
    fuzz::violated(kHarness, name + ": the redacted text still has findings: " + out);
  }
}

// The guards of the example configs, made once (RE2 compiles are slow).
struct ExampleGuards {
  // examples/chains.yaml customer_service (and the deploy config): input pii redact +
  // max_length 4000 block; output deny_list [guarantee, lawsuit] flag + max_length 2000 redact.
  Variants pii = make_variants([](GuardAction a) { return std::make_shared<PiiGuard>(a); });
  Variants pii_no_phone = make_variants([](GuardAction a) {
    return std::make_shared<PiiGuard>(a, PiiGuard::Kinds{true, false, true});
  });
  Variants deny = make_variants([](GuardAction a) {
    return std::make_shared<DenyListGuard>(std::vector<std::string>{"guarantee", "lawsuit"}, std::vector<std::string>{},
                                           a);
  });
  Variants json = make_variants([](GuardAction a) { return std::make_shared<JsonValidityGuard>(a); });
  std::vector<std::pair<size_t, Variants>> lengths;
  ExampleGuards() {
    for (size_t max : {size_t{0}, size_t{7}, size_t{2000}, size_t{4000}}) {
      lengths.emplace_back(max,
                           make_variants([max](GuardAction a) { return std::make_shared<MaxLengthGuard>(max, a); }));
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    init_logging(LogFormat::kText, "off");  // flag logs a warning per finding
    return true;
  }();
  (void)quiet;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> terms, patterns;
  if (in.substr(0, 6) == "#deny:") {
    size_t eol = in.find('\n');
    std::string_view header = in.substr(6, eol == std::string_view::npos ? std::string_view::npos : eol - 6);
    in = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);
    auto fields = split(header, '\t');
    terms = split(fields[0], ',');
    patterns.assign(fields.begin() + 1, fields.end());
  }
  const std::string text(in);

  static const ExampleGuards examples;
  check_guard(examples.pii, text, true);
  check_guard(examples.pii_no_phone, text, true);
  check_guard(examples.deny, text, true);
  check_guard(examples.json, text, false);
  for (const auto& [max, g] : examples.lengths) {
    check_guard(g, text, false);
    std::string cut = g.redact->apply(text, GuardStage::kOutput);
    if (cut.size() > max || text.compare(0, cut.size(), cut) != 0) {
      fuzz::violated(kHarness, "max_length redact is not a prefix of at most max bytes");
    }
  }

  // The input's own deny list.
  GuardPtr custom;
  if (!terms.empty() || !patterns.empty()) {
    Variants v;
    try {
      v = make_variants([&](GuardAction a) { return std::make_shared<DenyListGuard>(terms, patterns, a); });
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kInvalidArgument) fuzz::violated(kHarness, "deny list refused with another code");
    }
    if (v.flag) {
      check_guard(v, text, false);
      custom = v.redact;
    }
  }

  // As chains apply them: every string of the value, cheapest guard first.
  std::vector<GuardPtr> chain_guards = {examples.lengths.back().second.redact, examples.pii.redact, examples.json.flag,
                                        examples.deny.flag};
  if (custom) chain_guards.push_back(custom);
  try {
    (void)apply_guards(chain_guards, Json(text), GuardStage::kOutput);
    if (utf8::is_valid(text)) {
      Json value = {{"question", text}, {"history", Json::array({text, 42, nullptr})}};
      (void)apply_guards(chain_guards, value, GuardStage::kInput);
    }
  } catch (const Error&) {
    // a guard with action block; none here
    fuzz::violated(kHarness, "apply_guards threw without a blocking guard");
  }
  return 0;
}
