// libFuzzer target over the regex-to-grammar translator (sampling/regex_gbnf.h), reached the
// way requests reach it: a JSON schema {"type": "string", "pattern": <input>}. Input: the
// pattern, optionally followed by a line "#sample:" and a text to match. Checked, besides
// "no crash, no sanitizer report, no exception escaping":
//  - a refused pattern is an Error value (kUnsupported or kInvalidArgument);
//  - the grammar made of an accepted pattern parses;
//  - differential, for short ASCII patterns that std::regex (ECMAScript) also accepts:
//    the grammar accepts the JSON string "<sample>" exactly when std::regex_search finds the
//    pattern in the sample, and every string the grammar generates (budget walk,
//    fuzz_grammar.h) is one that std::regex_search matches.
// The comparison is limited to printable ASCII without '"' and '\' (the grammar works on the
// escaped string content, identical there) and to patterns without POSIX bracket
// expressions or large counts (std::regex extensions and costs, not ECMAScript's).
#include <cstdint>
#include <string>
#include <string_view>
// libstdc++ 12's <regex> trips g++'s -Wmaybe-uninitialized at -O2 with the sanitizers (GCC
// bug 105562, a false positive in std::function's move); not our code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "base/utf8.h"
#include "fuzz_grammar.h"
#include "fuzz_util.h"
#include "sampling/grammar.h"
#include "sampling/json_schema.h"

namespace {

using namespace llmchain;
constexpr const char* kHarness = "regex_fuzz";

bool plain_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') return false;
  }
  return true;
}

// Patterns std::regex should agree on: short, ASCII, no [: [= [. (POSIX classes), counts <= 20.
bool comparable_pattern(std::string_view p) {
  if (p.size() > 24) return false;
  for (unsigned char c : p) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  if (p.find("[:") != std::string_view::npos || p.find("[=") != std::string_view::npos ||
      p.find("[.") != std::string_view::npos) {
    return false;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] < '0' || p[i] > '9' || i == 0 || (p[i - 1] != '{' && p[i - 1] != ',')) continue;
    size_t j = i;
    while (j < p.size() && p[j] >= '0' && p[j] <= '9') ++j;
    if (j - i > 2 || std::stoi(std::string(p.substr(i, j - i))) > 20) return false;
    i = j;
  }
  return true;
}

bool grammar_accepts(const std::shared_ptr<const sampling::Grammar>& g, const std::string& json_text) {
  sampling::GrammarMatcher m(g, fuzz::small_vocab());
  return m.accept_bytes(json_text) && m.accepting();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto [pattern, sample] = fuzz::split_at(in, "\n#sample:");
  // Patterns arrive inside parsed JSON: always valid UTF-8.
  if (!utf8::is_valid(pattern)) return 0;
  nlohmann::json schema = {{"type", "string"}, {"pattern", std::string(pattern)}};
  auto gbnf = sampling::json_schema_to_gbnf(schema);
  if (!gbnf.ok()) {
    ErrorCode c = gbnf.error().code();
    if (c != ErrorCode::kUnsupported && c != ErrorCode::kInvalidArgument) {
      fuzz::violated(kHarness, std::string("refused with an unexpected code: ") + gbnf.error().what());
    }
    return 0;
  }
  auto grammar = sampling::parse_gbnf(*gbnf);
  if (!grammar.ok()) {
    fuzz::violated(kHarness, "the pattern's grammar does not parse: " + grammar.error().message() + "\n" + *gbnf);
  }
  if (!comparable_pattern(pattern)) return 0;
  std::regex re;
  try {
    re = std::regex(std::string(pattern), std::regex::ECMAScript);
  } catch (const std::regex_error&) {
    return 0;
  }
  try {
    if (plain_ascii(sample) && sample.size() <= 10) {
      std::string s(sample);
      bool expected = std::regex_search(s, re);
      if (grammar_accepts(*grammar, "\"" + s + "\"") != expected) {
        fuzz::violated(kHarness, "pattern /" + std::string(pattern) + "/ on \"" + s + "\": std::regex says " +
                                     (expected ? "match" : "no match") + ", the grammar the opposite");
      }
    }
    fuzz::Chooser choose(in);
    bool complete = false;
    std::string doc = fuzz::walk_grammar(kHarness, *grammar, "", choose, &complete, 64);
    if (complete) {
      nlohmann::json j = nlohmann::json::parse(doc, nullptr, false);
      if (!j.is_string()) fuzz::violated(kHarness, "the pattern's grammar generated a non-string: " + doc);
      std::string s = j.get<std::string>();
      if (plain_ascii(s) && s.size() <= 16 && !std::regex_search(s, re)) {
        fuzz::violated(kHarness, "pattern /" + std::string(pattern) + "/: the grammar generated \"" + s +
                                     "\", which std::regex does not match");
      }
    }
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidArgument) fuzz::violated(kHarness, std::string("matcher: ") + e.what());
  } catch (const std::regex_error&) {
    // std::regex's own limits (error_complexity, error_stack): no verdict
  }
  return 0;
}
