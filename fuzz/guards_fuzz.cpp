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

// Runs one guard over the text with each action; `rescan_clean`: what redact removed must not
// be found again.
void check_guard(const std::function<GuardPtr(GuardAction)>& make, const std::string& text, bool rescan_clean) {
  GuardPtr flag = make(GuardAction::kFlag);
  auto findings = flag->scan(text);
  for (const auto& f : findings) {
    if (f.begin > f.end || f.end > text.size()) fuzz::violated(kHarness, flag->name() + ": a finding outside the text");
  }
  for (GuardStage stage : {GuardStage::kInput, GuardStage::kOutput}) {
    if (flag->apply(text, stage) != text) fuzz::violated(kHarness, flag->name() + ": flag changed the text");
    GuardPtr block = make(GuardAction::kBlock);
    bool blocked = false;
    try {
      (void)block->apply(text, stage);
    } catch (const Error& e) {
      blocked = true;
      ErrorCode want = stage == GuardStage::kInput ? ErrorCode::kInvalidArgument : ErrorCode::kInternal;
      if (e.code() != want) fuzz::violated(kHarness, block->name() + ": block threw the wrong code");
    }
    if (blocked != !findings.empty()) fuzz::violated(kHarness, block->name() + ": block disagrees with scan");
  }
  GuardPtr redact;
  try {
    redact = make(GuardAction::kRedact);
  } catch (const Error&) {
    return;  // json_validity: no redact
  }
  std::string out = redact->apply(text, GuardStage::kInput);
  if (findings.empty() && out != text) fuzz::violated(kHarness, redact->name() + ": redact changed a clean text");
  if (utf8::is_valid(text) && !utf8::is_valid(out)) {
    fuzz::violated(kHarness, redact->name() + ": redaction made valid UTF-8 invalid: " + out);
  }
  if (rescan_clean && !redact->scan(out).empty()) {
    fuzz::violated(kHarness, redact->name() + ": the redacted text still has findings: " + out);
  }
}

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

  // examples/chains.yaml customer_service (and the deploy config): input pii redact +
  // max_length 4000 block; output deny_list [guarantee, lawsuit] flag + max_length 2000 redact.
  check_guard([](GuardAction a) { return std::make_shared<PiiGuard>(a); }, text, true);
  check_guard([](GuardAction a) { return std::make_shared<PiiGuard>(a, PiiGuard::Kinds{true, false, true}); }, text,
              true);
  check_guard([](GuardAction a) { return std::make_shared<DenyListGuard>(std::vector<std::string>{"guarantee", "lawsuit"},
                                                                          std::vector<std::string>{}, a); },
              text, true);
  check_guard([](GuardAction a) { return std::make_shared<JsonValidityGuard>(a); }, text, false);
  for (size_t max : {size_t{0}, size_t{7}, size_t{2000}, size_t{4000}}) {
    check_guard([max](GuardAction a) { return std::make_shared<MaxLengthGuard>(max, a); }, text, false);
    std::string cut = MaxLengthGuard(max, GuardAction::kRedact).apply(text, GuardStage::kOutput);
    if (cut.size() > max || text.compare(0, cut.size(), cut) != 0) {
      fuzz::violated(kHarness, "max_length redact is not a prefix of at most max bytes");
    }
  }

  // The input's own deny list.
  GuardPtr custom;
  if (!terms.empty() || !patterns.empty()) {
    try {
      custom = std::make_shared<DenyListGuard>(terms, patterns, GuardAction::kRedact);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kInvalidArgument) fuzz::violated(kHarness, "deny list refused with another code");
    }
    if (custom) {
      check_guard([&](GuardAction a) { return std::make_shared<DenyListGuard>(terms, patterns, a); }, text, false);
    }
  }

  // As chains apply them: every string of the value, cheapest guard first.
  std::vector<GuardPtr> chain_guards = {std::make_shared<MaxLengthGuard>(4000, GuardAction::kRedact),
                                        std::make_shared<PiiGuard>(GuardAction::kRedact),
                                        std::make_shared<JsonValidityGuard>(GuardAction::kFlag)};
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
