// Per-token cost of structured output: a constrained sample + accept beside an
// unconstrained sample of the same logits, for the CLI's and the server's
// default sampling settings, nucleus sampling and greedy, at vocab 32000 (the
// real llama SPM vocabulary when ../shared has it, and a synthetic one) and a
// synthetic 150k vocabulary; split by where the token goes (inside a string,
// inside a number, between values). Then the full allowed-token mask alone.
// Each sequence gets a fresh Sampler (cold grammar cache, as in serving); a
// random "model" picks tokens so the grammar walks through real JSON states.
// The "budget Nx" lines add the token budget (Sampler::set_budget): each
// sequence gets N times its shortest document (1x: the budget binds at every
// step, the document is closed as early as it can be); the other lines run
// without a budget. A real
// byte-level BPE vocabulary (deepseek-llm, 102k) runs when ../shared has it.
//
//   ninja -C build bench_grammar && ./build/bench/bench_grammar [n_sequences] [vocabulary label filter]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/timer.h"
#include "gguf/gguf.h"
#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"
#include "sampling/json_schema.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

using namespace llmchain;
using namespace llmchain::sampling;

namespace {

std::shared_ptr<const CompiledVocab> synthetic_vocab(size_t n, uint32_t seed) {
  std::vector<std::string> pieces;
  std::set<std::string> seen;
  auto add = [&](std::string s) {
    if (!s.empty() && seen.insert(s).second) pieces.push_back(std::move(s));
  };
  for (int b = 0; b < 256; ++b) add(std::string(1, static_cast<char>(b)));
  for (const char* p : {"{\"", "\"}", "\":", "\": ", "\", \"", "\",", "[{", "}]", "},", ",\n", "\n  ", "null", "true",
                        "false", "é", "日本", "😀"}) {
    add(p);
  }
  std::mt19937 rng(seed);
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ0123456789";
  const std::vector<std::string> multi = {"é", "ü", "日", "本", "語", "—", "ж", "ا", "한"};
  while (pieces.size() < n - 1) {
    size_t len = 1 + rng() % 10;
    std::string s = (rng() % 2) ? " " : "";
    for (size_t i = 0; i < len; ++i) {
      if (rng() % 12 == 0) {
        s += multi[rng() % multi.size()];
      } else if (rng() % 20 == 0) {
        s += "\"{}[],:"[rng() % 7];
      } else {
        s += letters[rng() % (i == 0 ? letters.size() : 26)];
      }
    }
    add(s);
  }
  Vocab v;
  v.token_bytes = std::move(pieces);
  v.eog_tokens = {static_cast<int32_t>(v.token_bytes.size())};
  v.token_bytes.emplace_back();
  return compile_vocab(std::move(v)).value();
}

// SPM pieces as bytes: U+2581 is a space, <0xXX> a raw byte, control tokens empty.
std::shared_ptr<const CompiledVocab> llama_spm_vocab() {
  auto f = gguf::File::open(std::string(LLMCHAIN_SHARED_DIR) + "/testdata/tokenizer/ggml-vocab-llama-spm.gguf");
  if (!f.ok()) return nullptr;
  const gguf::Value* toks = (*f)->find("tokenizer.ggml.tokens");
  const gguf::Value* types = (*f)->find("tokenizer.ggml.token_type");
  const gguf::Value* eos = (*f)->find("tokenizer.ggml.eos_token_id");
  if (!toks || !types || !eos) return nullptr;
  Vocab v;
  std::vector<int64_t> type = types->as_int_array();
  for (const auto& piece : toks->as_string_array()) {
    size_t i = v.token_bytes.size();
    std::string b;
    if (type[i] == 6 && piece.size() == 6 && piece.rfind("<0x", 0) == 0) {
      b = std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
    } else if (type[i] == 1 || type[i] == 4) {
      for (size_t k = 0; k < piece.size(); ++k) {
        if (piece.compare(k, 3, "\xE2\x96\x81") == 0) {
          b += ' ';
          k += 2;
        } else {
          b += piece[k];
        }
      }
    }
    v.token_bytes.push_back(b);
  }
  v.eog_tokens = {static_cast<int32_t>(std::get<uint64_t>(eos->v))};
  return compile_vocab(std::move(v)).value();
}

// Any vocabulary the tokenizer module reads (byte-level BPE included).
std::shared_ptr<const CompiledVocab> gguf_vocab(const std::string& name) {
  auto f = gguf::File::open(std::string(LLMCHAIN_SHARED_DIR) + "/testdata/tokenizer/" + name);
  if (!f.ok()) return nullptr;
  auto tok = tokenizer::Tokenizer::from_gguf(**f);
  if (!tok.ok()) return nullptr;
  Vocab v;
  for (int32_t i = 0; i < (*tok)->n_vocab(); ++i) v.token_bytes.push_back((*tok)->token_bytes(i));
  v.eog_tokens = (*tok)->eog_tokens();
  return compile_vocab(std::move(v)).value();
}

struct Stats {
  std::vector<double> ms;
  void add(double x) { ms.push_back(x); }
  double mean() const {
    double s = 0;
    for (double x : ms) s += x;
    return ms.empty() ? 0 : s / ms.size();
  }
  double pct(double q) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  }
};

const char* kSchema = R"({"type":"object","properties":{
  "name":{"type":"string","maxLength":24},"age":{"type":"integer"},
  "tags":{"type":"array","items":{"type":"string","maxLength":10},"maxItems":4},
  "address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"string","pattern":"^[0-9]{5}$"}},
             "required":["city","zip"],"additionalProperties":false},
  "day":{"type":"string","format":"date"},"ok":{"type":"boolean"}},
  "required":["name","age","tags","address","day","ok"],"additionalProperties":false})";

// Where the next token goes, judged from the text so far (a tiny JSON lexer).
enum Where { kInString, kInNumber, kStructure, kWhereCount };
const char* const kWhereName[] = {"inside a string", "inside a number", "between values"};

Where where_next(const std::string& text) {
  bool in_str = false, esc = false;
  for (char c : text) {
    if (esc) {
      esc = false;
    } else if (in_str && c == '\\') {
      esc = true;
    } else if (c == '"') {
      in_str = !in_str;
    }
  }
  if (in_str) return kInString;
  if (!text.empty() && std::strchr("-0123456789.eE+", text.back())) return kInNumber;
  return kStructure;
}

struct Preset {
  const char* name;
  SamplingParams p;
};

std::vector<Preset> presets() {
  SamplingParams cli;     // CLI defaults: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8
  SamplingParams server;  // the OpenAI endpoint's defaults: temperature 1, no truncation
  server.temperature = 1.0f, server.top_k = 0, server.top_p = 1.0f, server.min_p = 0.0f;
  SamplingParams top_p = server;  // nucleus without top-k: needs the whole mask
  top_p.top_p = 0.9f;
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  return {{"cli defaults (top-k 40)", cli},
          {"server defaults (T 1)", server},
          {"T 1, top-p 0.9", top_p},
          {"greedy", greedy}};
}

// One vocabulary, one preset, one model: `n_seq` fresh sequences (cold grammar
// cache, as in serving). Each step times an unconstrained sampler and the
// constrained one on the same logits; the difference is what the constraint
// costs. The "random" model knows nothing of JSON and favours every token with
// a closing character (so most of its favourites are not allowed: the worst
// case for checking the best candidates first); the "knows JSON" model adds
// kKnows to the allowed tokens (an oracle matcher, outside the timing), like a
// model that follows the format but still ranks some invalid tokens high.
constexpr float kKnows = 8.0f;

void run_preset(const std::shared_ptr<const CompiledVocab>& vocab, const std::vector<float>& bonus,
                const Preset& preset, bool knows_json, int n_seq, int budget_mult = 0) {
  const int32_t n = vocab->size();
  Stats plain, constrained;
  Stats by_where[kWhereCount][2];
  size_t tokens = 0;
  SamplingParams p = preset.p;
  for (int seq = 0; seq < n_seq; ++seq) {
    p.seed = seq + 1;
    std::mt19937 rng(seq);
    std::normal_distribution<float> nd(0.0f, 1.5f);
    std::vector<float> logits(n);
    Constraint c;
    c.json_schema = nlohmann::json::parse(kSchema);
    auto free_sampler = Sampler::create(p, {}, vocab).value();
    auto s = Sampler::create(p, c, vocab).value();
    GrammarMatcher oracle(parse_gbnf(json_schema_to_gbnf(*c.json_schema).value()).value(), vocab);
    std::string text;
    const int budget = budget_mult * s->min_tokens_to_complete();
    for (int step = 0; step < (budget > 0 ? budget : 400); ++step) {
      for (int32_t i = 0; i < n; ++i) logits[i] = nd(rng) + bonus[i];
      if (knows_json) {
        const std::vector<uint64_t>& mask = oracle.allowed_tokens();
        for (int32_t i = 0; i < n; ++i) logits[i] += ((mask[i >> 6] >> (i & 63)) & 1) ? kKnows : 0.0f;
      }
      Stopwatch sw;
      auto f = free_sampler->sample(logits.data(), n);
      free_sampler->accept(f.token);
      double free_ms = sw.ms();
      sw.reset();
      if (budget > 0) s->set_budget(budget - step);
      auto r = s->sample(logits.data(), n);
      bool ok = r.token >= 0 && s->accept(r.token);
      double constrained_ms = sw.ms();
      if (!ok) {
        std::printf("  dead end!\n");
        break;
      }
      if (knows_json) oracle.accept_token(r.token);
      plain.add(free_ms);
      constrained.add(constrained_ms);
      Where w = where_next(text);
      by_where[w][0].add(free_ms);
      by_where[w][1].add(constrained_ms);
      ++tokens;
      if (vocab->is_eog(r.token)) break;
      text += vocab->bytes(r.token);
      if (s->grammar_done()) break;
    }
    if (budget > 0 && !s->grammar_complete()) std::printf("  budget %d: document cut!\n", budget);
  }
  auto over = [](Stats* pair) { return pair[1].ms.empty() ? 0.0 : pair[1].mean() - pair[0].mean(); };
  double overhead = constrained.mean() - plain.mean();
  char label[64];
  std::snprintf(label, sizeof label, budget_mult > 0 ? "%s, budget %dx" : "%s", preset.name, budget_mult);
  std::printf("  %-10s %-36s %5zu %7.3f %7.3f %7.3f | %+7.3f %5.1f%% | %+7.3f %+7.3f %+7.3f\n",
              knows_json ? "knows JSON" : "random", label, tokens, plain.mean(), constrained.mean(),
              constrained.pct(0.99), overhead, overhead / 22.0 * 100, over(by_where[kInString]),
              over(by_where[kInNumber]), over(by_where[kStructure]));
}

// The full mask alone (what a step costs when the whole allowed set is needed):
// fresh matchers walking the same JSON states.
void run_mask(const std::shared_ptr<const CompiledVocab>& vocab, const std::vector<float>& bonus, int n_seq) {
  const int32_t n = vocab->size();
  Stats mask, cold;
  SamplingParams p;
  for (int seq = 0; seq < n_seq; ++seq) {
    p.seed = seq + 1;
    std::mt19937 rng(seq);
    std::normal_distribution<float> nd(0.0f, 1.5f);
    std::vector<float> logits(n);
    Constraint c;
    c.json_schema = nlohmann::json::parse(kSchema);
    auto s = Sampler::create(p, c, vocab).value();
    GrammarMatcher m(parse_gbnf(json_schema_to_gbnf(*c.json_schema).value()).value(), vocab);
    for (int step = 0; step < 400; ++step) {
      for (int32_t i = 0; i < n; ++i) logits[i] = nd(rng) + bonus[i];
      auto r = s->sample(logits.data(), n);
      if (r.token < 0 || !s->accept(r.token)) break;
      Stopwatch sm;
      (void)m.allowed_tokens();
      double ms = sm.ms();
      mask.add(ms);
      if (step == 0) cold.add(ms);
      m.accept_token(r.token);
      if (vocab->is_eog(r.token)) break;
    }
  }
  std::printf(
      "  full allowed-token mask alone (random model): mean %6.3f ms  p50 %6.3f  p99 %6.3f  max %6.3f  (first step "
      "%6.3f)\n",
      mask.mean(), mask.pct(0.5), mask.pct(0.99), mask.pct(1.0), cold.mean());
}

void run(const char* label, const std::shared_ptr<const CompiledVocab>& vocab, int n_seq) {
  const int32_t n = vocab->size();
  std::vector<float> bonus(n, 0.0f);
  for (int32_t t = 0; t < n; ++t) {
    if (vocab->is_eog(t)) bonus[t] = 6;
    if (vocab->bytes(t).find_first_of("\"}]") != std::string::npos) bonus[t] = 2.5f;
  }
  std::printf(
      "%s, vocab %d, %d sequences per line; ms per token; overhead = constrained - free, also as %% of a 22 ms "
      "decode step, and by where the token goes\n",
      label, n, n_seq);
  std::printf("  %-10s %-36s %5s %7s %7s %7s | %7s %6s | %7s %7s %7s\n", "model", "sampling", "tok", "free", "constr",
              "c p99", "over", "", "string", "number", "between");
  for (bool knows : {false, true}) {
    for (const auto& preset : presets()) run_preset(vocab, bonus, preset, knows, n_seq);
    for (int mult : {1, 2}) {
      for (const auto& preset : presets()) run_preset(vocab, bonus, preset, knows, n_seq, mult);
    }
  }
  run_mask(vocab, bonus, n_seq);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int n_seq = argc > 1 ? std::atoi(argv[1]) : 4;
  std::string only = argc > 2 ? argv[2] : "";  // run only vocabularies whose label contains this
  auto want = [&](const char* label) { return std::string(label).find(only) != std::string::npos; };
  if (want("llama-spm (real)")) {
    if (auto spm = llama_spm_vocab()) run("llama-spm (real)", spm, n_seq);
  }
  if (want("deepseek-llm (real, BPE)")) {
    if (auto bpe = gguf_vocab("ggml-vocab-deepseek-llm.gguf")) run("deepseek-llm (real, BPE)", bpe, n_seq);
  }
  if (want("synthetic 32k")) run("synthetic 32k", synthetic_vocab(32000, 1), n_seq);
  if (want("synthetic 150k")) run("synthetic 150k", synthetic_vocab(150000, 2), n_seq);
  return 0;
}
