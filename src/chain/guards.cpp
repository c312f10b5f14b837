#include "chain/guards.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "base/json_util.h"
#include "base/log.h"
#include "chain/json_schema.h"
#include "chain/text_normalize.h"

namespace llmchain::chain {

GuardAction parse_guard_action(const std::string& s) {
  if (s == "block") return GuardAction::kBlock;
  if (s == "redact") return GuardAction::kRedact;
  if (s == "flag") return GuardAction::kFlag;
  fail(ErrorCode::kInvalidArgument, "unknown guard action '{}' (expected block, redact or flag)", s);
}

const char* guard_action_name(GuardAction a) {
  switch (a) {
    case GuardAction::kBlock: return "block";
    case GuardAction::kRedact: return "redact";
    case GuardAction::kFlag: return "flag";
  }
  return "?";
}

Guard::Guard(std::string name, GuardAction action) : name_(std::move(name)), action_(action) {}

std::string Guard::apply(const std::string& text, GuardStage stage, GuardEventLog* events) const {
  auto findings = scan(text);
  if (findings.empty()) return text;
  const char* where = stage == GuardStage::kInput ? "input" : "output";
  if (events) events->add({name_, guard_action_name(action_), where, findings.front().what});
  switch (action_) {
    case GuardAction::kBlock:
      ++blocked_;
      throw Error(stage == GuardStage::kInput ? ErrorCode::kInvalidArgument : ErrorCode::kInternal,
                  fmt::format("guard '{}' blocked the {}: {}", name_, where, findings.front().what));
    case GuardAction::kRedact: {
      ++redacted_;
      // A replacement may join what is left around it into a new finding: redact again until
      // clean (a few passes; each removes text a finding covered).
      std::string out = redact(text, findings);
      for (int pass = 1; pass < 4; ++pass) {
        auto again = scan(out);
        if (again.empty()) break;
        out = redact(out, again);
      }
      return out;
    }
    case GuardAction::kFlag:
      ++flagged_;
      LLMC_LOG_WARN("guard '{}' flagged the {}: {} ({} finding(s))", name_, where, findings.front().what,
                    findings.size());
      return text;
  }
  return text;
}

std::string Guard::redact(const std::string& text, const std::vector<Finding>& findings) const {
  auto sorted = findings;
  std::sort(sorted.begin(), sorted.end(), [](const Finding& a, const Finding& b) { return a.begin < b.begin; });
  std::string out;
  size_t pos = 0;
  for (const auto& f : sorted) {
    if (f.begin < pos) {  // overlaps an earlier finding: one replacement covers both
      pos = std::max(pos, f.end);
      continue;
    }
    out.append(text, pos, f.begin - pos);
    out += f.replacement;
    pos = f.end;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

// ---- max length ----

MaxLengthGuard::MaxLengthGuard(size_t max_chars, GuardAction action) : Guard("max_length", action), max_(max_chars) {}

std::vector<Guard::Finding> MaxLengthGuard::scan(const std::string& text) const {
  if (text.size() <= max_) return {};
  return {{max_, text.size(), fmt::format("length {} exceeds the maximum of {}", text.size(), max_), ""}};
}

std::string MaxLengthGuard::redact(const std::string& text, const std::vector<Finding>&) const {
  size_t n = max_;
  // do not cut a UTF-8 sequence in half
  while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

// ---- deny list ----

namespace {

std::shared_ptr<const re2::RE2> compile(const std::string& pattern, const std::string& what) {
  re2::RE2::Options o;
  o.set_case_sensitive(false);
  o.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(pattern, o);
  if (!re->ok()) fail(ErrorCode::kInvalidArgument, "deny list: invalid pattern {}: {}", what, re->error());
  return re;
}

// Calls on_match(begin, end) for every non-empty match of group `group` (0: the whole match)
// in text, left to right; the next search starts where the group ended. Linear time (RE2).
template <typename OnMatch>
void for_each_match(const re2::RE2& re, const std::string& text, int group, OnMatch&& on_match) {
  re2::StringPiece input(text);
  re2::StringPiece sub[2];
  size_t pos = 0;
  while (pos <= text.size() && re.Match(input, pos, text.size(), re2::RE2::UNANCHORED, sub, group + 1)) {
    const size_t b = static_cast<size_t>(sub[group].data() - text.data());
    const size_t e = b + sub[group].size();
    if (e > b) on_match(b, e);
    pos = e > pos ? e : pos + 1;
  }
}

}  // namespace

// Terms match as whole words of the normalized text (text_normalize.h), in their usual word
// forms: the term plus s, es, d, ed, ing, er or ers. Patterns are RE2 syntax, case-insensitive,
// run on the normalized text.
DenyListGuard::DenyListGuard(std::vector<std::string> terms, std::vector<std::string> patterns, GuardAction action)
    : Guard("deny_list", action) {
  for (const auto& t : terms) {
    std::string norm = normalize_term(t);
    if (norm.empty()) continue;
    rules_.push_back(
        {"denied term '" + t + "'",
         compile("(?:^|[^\\pL\\pN])(" + re2::RE2::QuoteMeta(norm) + "(?:s|es|d|ed|ing|er|ers)?)(?:[^\\pL\\pN]|$)",
                 "'" + t + "'"),
         1});
  }
  for (const auto& p : patterns) {
    rules_.push_back({"denied pattern /" + p + "/", compile(p, "/" + p + "/"), 0});
  }
  if (rules_.empty()) fail(ErrorCode::kInvalidArgument, "deny list: no terms or patterns");
}

std::vector<Guard::Finding> DenyListGuard::scan(const std::string& text) const {
  NormalizedText norm = normalize_for_matching(text);
  std::vector<Finding> out;
  for (const auto& rule : rules_) {
    for_each_match(*rule.re, norm.text, rule.group, [&](size_t b, size_t e) {
      out.push_back({norm.original_begin(b), norm.original_end(e), rule.label, "[REDACTED]"});
    });
  }
  return out;
}

// ---- PII ----

bool luhn_valid(const std::string& digits) {
  int sum = 0;
  bool dbl = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (d < 0 || d > 9) return false;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return !digits.empty() && sum % 10 == 0;
}

PiiGuard::PiiGuard(GuardAction action, Kinds kinds) : Guard("pii", action), kinds_(kinds) {}

// Matched on the normalized text: fullwidth and other-script digits and @, and numbers split
// by NBSP or zero-width characters, are found too.
std::vector<Guard::Finding> PiiGuard::scan(const std::string& text) const {
  static const re2::RE2 email(R"([a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})");
  // runs of digits with spaces, dashes, dots, slashes or parentheses between them, optionally after '+'
  static const re2::RE2 digits_run(R"(\+?\(?[0-9][0-9 ()./-]{5,}[0-9])");
  NormalizedText norm = normalize_for_matching(text);
  std::vector<Finding> out;
  if (kinds_.email) {
    for_each_match(email, norm.text, 0, [&](size_t b, size_t e) {
      out.push_back({norm.original_begin(b), norm.original_end(e), "e-mail address", "[EMAIL]"});
    });
  }
  if (kinds_.phone || kinds_.card) {
    for_each_match(digits_run, norm.text, 0, [&](size_t b, size_t e) {
      std::string digits;
      for (size_t i = b; i < e; ++i) {
        if (std::isdigit(static_cast<unsigned char>(norm.text[i]))) digits += norm.text[i];
      }
      const size_t ob = norm.original_begin(b), oe = norm.original_end(e);
      if (kinds_.card && digits.size() >= 13 && digits.size() <= 19 && luhn_valid(digits)) {
        out.push_back({ob, oe, "payment card number", "[CARD]"});
      } else if (kinds_.phone && digits.size() >= 7 && digits.size() <= 15) {
        out.push_back({ob, oe, "phone number", "[PHONE]"});
      }
    });
  }
  return out;
}

// ---- JSON validity ----

JsonValidityGuard::JsonValidityGuard(GuardAction action) : Guard("json_validity", action) {
  if (action == GuardAction::kRedact)
    fail(ErrorCode::kInvalidArgument, "json_validity guard: action must be block or flag");
}

std::vector<Guard::Finding> JsonValidityGuard::scan(const std::string& text) const {
  try {
    extract_json(text);
    return {};
  } catch (const Error&) {
    return {{0, text.size(), "output is not valid JSON", ""}};
  }
}

// ---- applying ----

namespace {

Json apply_per_string(const std::vector<GuardPtr>& guards, const Json& value, GuardStage stage, GuardEventLog* events) {
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    for (const auto& g : guards) s = g->apply(s, stage, events);
    return s;
  }
  if (value.is_array() || value.is_object()) {
    Json out = value;
    for (auto it = out.begin(); it != out.end(); ++it) *it = apply_per_string(guards, *it, stage, events);
    return out;
  }
  return value;
}

}  // namespace

Json apply_guards(const std::vector<GuardPtr>& declared, const Json& value, GuardStage stage, GuardEventLog* events) {
  if (declared.empty()) return value;
  // Cheapest first: a length limit decides before any pattern scans a long text.
  std::vector<GuardPtr> guards = declared;
  std::stable_sort(guards.begin(), guards.end(),
                   [](const GuardPtr& a, const GuardPtr& b) { return a->cost() < b->cost(); });
  if (value.is_string()) return apply_per_string(guards, value, stage, events);
  std::vector<GuardPtr> per_string;
  for (const auto& g : guards) {
    if (g->per_string()) {
      per_string.push_back(g);
    } else {
      g->apply(json_text(value), stage, events);  // a structured value is one document
    }
  }
  return apply_per_string(per_string, value, stage, events);
}

GuardedRunnable::GuardedRunnable(RunnablePtr inner, std::vector<GuardPtr> input_guards,
                                 std::vector<GuardPtr> output_guards)
    : Runnable("guarded"), inner_(std::move(inner)), in_(std::move(input_guards)), out_(std::move(output_guards)) {
  if (!inner_) fail(ErrorCode::kInvalidArgument, "guarded: null runnable");
}

Json GuardedRunnable::do_invoke(const Json& input, const RunConfig& config) {
  GuardEventLog* events = config.guard_events.get();
  Json out = inner_->invoke(apply_guards(in_, input, GuardStage::kInput, events), config);
  return apply_guards(out_, out, GuardStage::kOutput, events);
}

}  // namespace llmchain::chain
