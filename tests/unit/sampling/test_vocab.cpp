#include "test_vocab.h"

#include <random>
#include <set>

namespace llmchain::sampling::testing {

std::shared_ptr<const CompiledVocab> make_vocab(std::vector<std::string> pieces, int n_eog) {
  Vocab v;
  v.token_bytes = std::move(pieces);
  for (int i = 0; i < n_eog; ++i) {
    v.eog_tokens.push_back(static_cast<int32_t>(v.token_bytes.size()));
    v.token_bytes.emplace_back();
  }
  return compile_vocab(std::move(v)).value();
}

std::shared_ptr<const CompiledVocab> realistic_vocab(size_t target) {
  std::vector<std::string> pieces;
  std::set<std::string> seen;
  auto add = [&](std::string s) {
    if (!s.empty() && seen.insert(s).second) pieces.push_back(std::move(s));
  };
  for (int b = 0; b < 256; ++b) add(std::string(1, static_cast<char>(b)));
  for (const char* p :
       {"{",    "}",    "{\"",  "\"}",      "\":",      "\": ",        "\", \"", "\",",    "\"]",  "[\"",    "[{",
        "}]",   "},",   "}, {", "\":\"",    "\": \"",   ", ",          ",\n",    "\n",     "\n  ", "\n    ", "  ",
        "    ", "\t",   "null", "true",     "false",    " null",       " true",  " false", "[]",   "{}",     "\"\"",
        "\\\"", "\\n",  "\\\\", "\\u",      "\\u00",    "e+",          "E-",     "0.",     ".5",   "-1",     "-0",
        "00",   "T",    "Z",    "T12",      ":00",      ":30Z",        "-01",    "-12-",   "2024", "1999",   "+01:00",
        "uuid", "http", "://",  "```",      "```json",  "é",           "ü",      "日本",   "語",   "😀",      "—",
        "“",    "”",    "\xC3", "\xE6\x97", "\xF0\x9F", "\xF0\x9F\x98"}) {
    add(p);
  }
  for (int i = 0; i < 1000; ++i) add(std::to_string(i));
  std::mt19937 rng(1234);
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ_-";
  const std::string hexish = "0123456789abcdefABCDEF";
  while (pieces.size() < target - 1) {
    int kind = rng() % 10;
    size_t len = 1 + rng() % 8;
    std::string s;
    if (kind < 6) {
      for (size_t i = 0; i < len; ++i) s += letters[rng() % (i == 0 ? letters.size() : 26)];
      if (kind < 3) s = " " + s;
    } else if (kind < 8) {
      for (size_t i = 0; i < len; ++i) s += hexish[rng() % hexish.size()];
    } else {
      const std::vector<std::string> frag = {"\"", ":", ",", " ", "-",  "é", "日", ".",
                                             "{",  "[", "]", "}", "\\", "a", "0"};
      for (size_t i = 0; i < 1 + len / 2; ++i) s += frag[rng() % frag.size()];
    }
    add(s);
  }
  return make_vocab(std::move(pieces), 1);
}

}  // namespace llmchain::sampling::testing
