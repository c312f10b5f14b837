// Per-token cost of structured output: the grammar mask + accept, beside an
// unconstrained sample, at vocab 32000 (the real llama SPM vocabulary when
// ../shared has it, and a synthetic one) and a synthetic 150k vocabulary.
// Each sequence gets a fresh Sampler (cold grammar cache, as in serving); a
// random "model" picks tokens so the grammar walks through real JSON states.
//
//   cmake --build build -j2 --target bench_grammar && ./build/bench/bench_grammar [n_sequences]
#include <algorithm>
#include <cstdio>
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

void run(const char* label, const std::shared_ptr<const CompiledVocab>& vocab, int n_seq) {
  const int32_t n = vocab->size();
  std::vector<float> bonus(n, 0.0f);
  for (int32_t t = 0; t < n; ++t) {
    if (vocab->is_eog(t)) bonus[t] = 6;
    if (vocab->bytes(t).find_first_of("\"}]") != std::string::npos) bonus[t] = 2.5f;
  }
  SamplingParams p;  // defaults: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8
  Stats plain, mask, accept, constrained, cold;
  size_t tokens = 0;
  for (int seq = 0; seq < n_seq; ++seq) {
    p.seed = seq;
    std::mt19937 rng(seq);
    std::normal_distribution<float> nd(0.0f, 1.5f);
    std::vector<float> logits(n);
    auto fill = [&] {
      for (int32_t i = 0; i < n; ++i) logits[i] = nd(rng) + bonus[i];
    };
    // Unconstrained sample: the baseline.
    auto free_sampler = Sampler::create(p, {}, vocab).value();
    for (int i = 0; i < 50; ++i) {
      fill();
      Stopwatch sw;
      auto r = free_sampler->sample(logits.data(), n);
      free_sampler->accept(r.token);
      plain.add(sw.ms());
    }
    // Constrained: the sampler with the schema, and the matcher alone beside it.
    Constraint c;
    c.json_schema = nlohmann::json::parse(kSchema);
    auto s = Sampler::create(p, c, vocab).value();
    GrammarMatcher m(parse_gbnf(json_schema_to_gbnf(*c.json_schema).value()).value(), vocab);
    for (int step = 0; step < 400; ++step) {
      fill();
      Stopwatch sw;
      auto r = s->sample(logits.data(), n);
      bool ok = r.token >= 0 && s->accept(r.token);
      constrained.add(sw.ms());
      if (!ok) {
        std::printf("  dead end!\n");
        break;
      }
      Stopwatch sm;
      (void)m.allowed_tokens();
      double mask_ms = sm.ms();
      mask.add(mask_ms);
      if (step == 0) cold.add(mask_ms);
      Stopwatch sa;
      m.accept_token(r.token);
      accept.add(sa.ms());
      ++tokens;
      if (vocab->is_eog(r.token)) break;
    }
  }
  double overhead = mask.mean() + accept.mean();
  std::printf("%-28s vocab %6d | %zu constrained tokens in %d sequences\n", label, n, tokens, n_seq);
  std::printf("  unconstrained sample      mean %7.3f ms  p50 %7.3f  p99 %7.3f\n", plain.mean(), plain.pct(0.5),
              plain.pct(0.99));
  std::printf("  constrained sample+accept mean %7.3f ms  p50 %7.3f  p99 %7.3f  max %7.3f\n", constrained.mean(),
              constrained.pct(0.5), constrained.pct(0.99), constrained.pct(1.0));
  std::printf("  grammar mask              mean %7.3f ms  p50 %7.3f  p99 %7.3f  max %7.3f  (first step %7.3f)\n",
              mask.mean(), mask.pct(0.5), mask.pct(0.99), mask.pct(1.0), cold.mean());
  std::printf("  grammar accept            mean %7.4f ms\n", accept.mean());
  std::printf("  => constraint overhead %.3f ms/token = %.1f%% of a 25 ms decode step (target < 10%%)\n\n", overhead,
              overhead / 25.0 * 100);
}

}  // namespace

int main(int argc, char** argv) {
  int n_seq = argc > 1 ? std::atoi(argv[1]) : 8;
  if (auto spm = llama_spm_vocab()) run("llama-spm (real)", spm, n_seq);
  run("synthetic 32k", synthetic_vocab(32000, 1), n_seq);
  run("synthetic 150k", synthetic_vocab(150000, 2), n_seq);
  return 0;
}
