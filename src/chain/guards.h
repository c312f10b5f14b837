#pragma once
// Guards check text going into a model (input filters) and coming out of it (output
// monitors). Each has an action:
//   block  - throw Error naming the guard and the reason (kInvalidArgument for input,
//            kInternal for output: a model's answer is not the caller's fault);
//   redact - rewrite the text (PII -> "[EMAIL]"/"[PHONE]"/"[CARD]", deny-listed -> "[REDACTED]",
//            too long -> truncated);
//   flag   - let the text through, count it (flagged()) and log a warning.
// Every action is also reported to the run's GuardEventLog (RunConfig::guard_events), so that
// callers can show it (chain response metadata, /metrics).
// Guards are immutable after construction apart from their atomic counters; thread-safe.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "chain/runnable.h"

namespace re2 {
class RE2;
}

namespace llmchain::chain {

enum class GuardAction { kBlock, kRedact, kFlag };

// "block" | "redact" | "flag"; throws Error(kInvalidArgument) otherwise.
GuardAction parse_guard_action(const std::string& s);
const char* guard_action_name(GuardAction a);

enum class GuardStage { kInput, kOutput };

class Guard {
 public:
  struct Finding {
    size_t begin = 0, end = 0;  // byte span in the text
    std::string what;           // e.g. "e-mail address", "denied term 'foo'"
    std::string replacement;    // used by redact
  };

  Guard(std::string name, GuardAction action);
  virtual ~Guard() = default;

  // Returns the (possibly redacted) text; throws on block. Reports what it did to events.
  std::string apply(const std::string& text, GuardStage stage, GuardEventLog* events = nullptr) const;
  virtual std::vector<Finding> scan(const std::string& text) const = 0;
  // False for guards about a whole document (JSON validity): apply_guards then checks
  // structured values as one serialized document instead of each string in them.
  virtual bool per_string() const { return true; }
  // apply_guards runs a stage's guards cheapest first (stable): 0 length, 1 parse, 2 scans.
  virtual int cost() const { return 2; }

  const std::string& name() const { return name_; }
  GuardAction action() const { return action_; }
  int64_t flagged() const { return flagged_.load(); }
  int64_t blocked() const { return blocked_.load(); }
  int64_t redacted() const { return redacted_.load(); }

 protected:
  // Default: replaces every finding's span with its replacement.
  virtual std::string redact(const std::string& text, const std::vector<Finding>& findings) const;

 private:
  std::string name_;
  GuardAction action_;
  mutable std::atomic<int64_t> flagged_{0}, blocked_{0}, redacted_{0};
};

using GuardPtr = std::shared_ptr<Guard>;

// Longer than max_chars bytes; redact truncates.
class MaxLengthGuard : public Guard {
 public:
  MaxLengthGuard(size_t max_chars, GuardAction action);
  std::vector<Finding> scan(const std::string& text) const override;
  int cost() const override { return 0; }

 protected:
  std::string redact(const std::string& text, const std::vector<Finding>& findings) const override;

 private:
  size_t max_;
};

// Terms and/or patterns, matched on the normalized text (chain/text_normalize.h: NFKC, case
// folded, format characters dropped, other scripts' digits and Latin homoglyphs mapped,
// separators collapsed). Terms match as whole words and their forms (+s, es, d, ed, ing, er,
// ers). Patterns are RE2 syntax (linear time: no backreferences or lookaround),
// case-insensitive; an invalid one throws Error(kInvalidArgument) naming it.
class DenyListGuard : public Guard {
 public:
  DenyListGuard(std::vector<std::string> terms, std::vector<std::string> patterns, GuardAction action);
  std::vector<Finding> scan(const std::string& text) const override;

 private:
  struct Rule {
    std::string label;
    std::shared_ptr<const re2::RE2> re;
    int group;  // the capture group that is the finding (0: the whole match)
  };
  std::vector<Rule> rules_;
};

// E-mail addresses, phone numbers (7-15 digits with common separators), payment card numbers
// (13-19 digits passing the Luhn check), found in the normalized text (fullwidth @ and digits,
// Arabic-Indic and other digits, numbers split by NBSP or zero-width characters).
class PiiGuard : public Guard {
 public:
  struct Kinds {
    bool email = true, phone = true, card = true;
  };
  explicit PiiGuard(GuardAction action) : PiiGuard(action, Kinds{}) {}
  PiiGuard(GuardAction action, Kinds kinds);
  std::vector<Finding> scan(const std::string& text) const override;

 private:
  Kinds kinds_;
};

// The text must parse as JSON (fences tolerated). Only block or flag.
class JsonValidityGuard : public Guard {
 public:
  explicit JsonValidityGuard(GuardAction action);
  std::vector<Finding> scan(const std::string& text) const override;
  bool per_string() const override { return false; }
  int cost() const override { return 1; }
};

bool luhn_valid(const std::string& digits);

// Applies guards in order to every string in value (recursively through arrays and objects).
Json apply_guards(const std::vector<GuardPtr>& guards, const Json& value, GuardStage stage,
                  GuardEventLog* events = nullptr);

// Runs inner with input guards on its input and output guards on its output.
class GuardedRunnable : public Runnable {
 public:
  GuardedRunnable(RunnablePtr inner, std::vector<GuardPtr> input_guards, std::vector<GuardPtr> output_guards);
  Json input_schema() const override { return inner_->input_schema(); }
  Json output_schema() const override { return inner_->output_schema(); }

 protected:
  Json do_invoke(const Json& input, const RunConfig& config) override;

 private:
  RunnablePtr inner_;
  std::vector<GuardPtr> in_, out_;
};

}  // namespace llmchain::chain
