#pragma once
// Grammar checks shared by the sampling harnesses (gbnf, json_schema, regex): a small
// vocabulary, and a walk of a GrammarMatcher that checks the matcher's documented promises.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"
#include "sampling/vocab.h"

namespace llmchain::fuzz {

// Every byte as a token (so any text can be spelled), some multi-byte tokens (JSON
// punctuation, words, UTF-8 characters, a partial UTF-8 sequence) and one EOG token.
inline std::shared_ptr<const sampling::CompiledVocab> small_vocab() {
  static const std::shared_ptr<const sampling::CompiledVocab> vocab = [] {
    sampling::Vocab v;
    for (int b = 0; b < 256; ++b) v.token_bytes.emplace_back(1, static_cast<char>(b));
    for (const char* p :
         {"{\"", "\":", "\": ", "\",", ", \"", "\"}", "[]", "{}",  "true",  "false", "null", "  ", "\n",
          "ab",  "abc", " the", "12",  "-1",   "0.5", "e+", "\\n", "\\u00", "é",     "日本", "😀",  "\xE6\x97"}) {
      v.token_bytes.emplace_back(p);
    }
    v.eog_tokens.push_back(static_cast<int32_t>(v.token_bytes.size()));
    v.token_bytes.emplace_back();
    return sampling::compile_vocab(std::move(v)).value();
  }();
  return vocab;
}

// Cheap deterministic choices driven by the input.
struct Chooser {
  uint64_t h;
  explicit Chooser(std::string_view seed) : h(1469598103934665603ull) {
    for (unsigned char c : seed) h = (h ^ c) * 1099511628211ull;
  }
  size_t pick(size_t n) {
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return n == 0 ? 0 : static_cast<size_t>(h % n);
  }
};

// Checks, on a fresh matcher over `g`:
//  - the mask agrees with can_accept_token() for every token;
//  - min_tokens_to_complete() keeps its promise: with that budget, accepting only tokens that
//    pass can_accept_token_within() while the budget drops by one per token always has a
//    token to take and reaches an accepting state (followed for at most max_steps tokens);
// and returns the text of the document that walk produced ("" with *complete = false when
// the grammar has no document or the walk was cut). Throws llmchain::Error (kInvalidArgument)
// where the matcher's limits refuse the grammar, as it is documented to.
inline std::string walk_grammar(const char* harness, std::shared_ptr<const sampling::Grammar> g,
                                std::string_view prefix, Chooser& choose, bool* complete, int max_steps = 400) {
  using sampling::GrammarMatcher;
  auto vocab = small_vocab();
  GrammarMatcher m(std::move(g), vocab);
  *complete = false;
  std::string text;
  if (!prefix.empty()) {
    bool had_token = m.can_accept_token(static_cast<int32_t>(static_cast<unsigned char>(prefix[0])));
    if (!m.accept_bytes(prefix)) {
      if (had_token && prefix.size() == 1)
        violated(harness, "a one-byte token passed can_accept_token but not accept_bytes");
      return "";
    }
    text.append(prefix);
  }
  const std::vector<uint64_t> mask = m.allowed_tokens();
  for (int32_t t = 0; t < vocab->size(); ++t) {
    bool bit = (mask[static_cast<size_t>(t) >> 6] >> (t & 63)) & 1;
    if (bit != m.can_accept_token(t)) {
      violated(harness, "allowed_tokens() and can_accept_token() disagree on token " + std::to_string(t));
    }
  }
  int32_t budget = m.min_tokens_to_complete();
  if (budget == GrammarMatcher::kNoCompletion || budget > max_steps) return "";
  if (m.accepting() != (budget == 0)) violated(harness, "min_tokens_to_complete() is 0 exactly when accepting");
  std::vector<int32_t> ok;
  while (!m.accepting()) {
    if (budget <= 0) violated(harness, "the budget ran out before the document was complete");
    m.tokens_within(budget, ok);
    if (ok.empty()) violated(harness, "no token fits a budget of min_tokens_to_complete()");
    int32_t t = ok[choose.pick(ok.size())];
    if (!m.can_accept_token_within(t, budget)) violated(harness, "tokens_within() lists a token that does not fit");
    if (!m.accept_token(t)) violated(harness, "a token that fits the budget is not accepted");
    text += vocab->bytes(t);
    --budget;
  }
  *complete = true;
  return text;
}

}  // namespace llmchain::fuzz
