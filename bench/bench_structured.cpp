// Structured output within a token budget on a real model that knows no JSON:
// schemas with unbounded strings, nested objects, arrays with minItems and
// integer ranges; seeds 1-5; budgets 2x and 4x the shortest document. Counts
// the outputs that parse and validate, with the budget logic on (the engine's
// behaviour, sampler.h) and off (the plain constraint, cut at max_tokens).
// One sequence at a time through the model's forward pass, the same logits
// for both modes up to the first token where they differ.
//
//   ninja -C build bench_structured && ./build/bench/bench_structured [model.gguf]
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "base/timer.h"
#include "chain/json_schema.h"
#include "gguf/gguf.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

using namespace llmchain;
using nlohmann::json;

namespace {

struct Schema {
  const char* name;
  const char* text;
};

const Schema kSchemas[] = {
    {"person (issue 15)",
     R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]})"},
    {"unbounded strings",
     R"({"type":"object","properties":{"title":{"type":"string"},"author":{"type":"string"},
         "summary":{"type":"string"}},"required":["title","author","summary"]})"},
    {"nested objects",
     R"({"type":"object","properties":{"user":{"type":"object","properties":{"name":{"type":"string"},
         "address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"string"}},
         "required":["city","zip"]}},"required":["name","address"]}},"required":["user"]})"},
    {"arrays, minItems",
     R"({"type":"object","properties":{"tags":{"type":"array","items":{"type":"string"},"minItems":3},
         "scores":{"type":"array","items":{"type":"number"},"minItems":2}},"required":["tags","scores"]})"},
    {"integer ranges",
     R"({"type":"object","properties":{"age":{"type":"integer","minimum":18,"maximum":120},
         "year":{"type":"integer","minimum":1900,"maximum":2100},
         "count":{"type":"integer","minimum":-50,"maximum":50}},"required":["age","year","count"]})"},
};

struct Run {
  std::string text;
  int tokens = 0;
  bool complete = false;
  double constraint_ms = 0;  // time in sample() + accept()
};

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : std::string(LLMCHAIN_SHARED_DIR) + "/models/stories260K.gguf";
  auto model = model::Model::load(path).value();
  auto file = gguf::File::open(path).value();
  auto tok = tokenizer::Tokenizer::from_gguf(*file).value();
  sampling::Vocab v;
  for (int32_t i = 0; i < tok->n_vocab(); ++i) v.token_bytes.push_back(tok->token_bytes(i));
  v.eog_tokens = tok->eog_tokens();
  auto vocab = sampling::compile_vocab(std::move(v)).value();
  const int32_t n_ctx = 1024, n_vocab = model->hparams().n_vocab;
  model::Context ctx(model, 64);
  model::KvCache kv(model->hparams(), 1, n_ctx);
  ThreadPool pool(2);
  const std::vector<int32_t> prompt = tok->encode("Answer in JSON:", true, true);

  auto run = [&](const json& schema, uint64_t seed, int budget, bool budget_logic) {
    sampling::SamplingParams p;  // CLI defaults, temperature 0.9
    p.temperature = 0.9f;
    p.seed = seed;
    sampling::Constraint c;
    c.json_schema = schema;
    auto s = sampling::Sampler::create(p, c, vocab).value();
    std::vector<model::BatchToken> batch;
    for (size_t i = 0; i < prompt.size(); ++i)
      batch.push_back({prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size()});
    kv.set_used(0, 0);
    Run r;
    int32_t pos = static_cast<int32_t>(prompt.size());
    std::vector<float> logits(n_vocab);
    for (; r.tokens < budget; ++r.tokens) {
      ctx.decode(batch, kv, pool).value();
      kv.set_used(0, pos);
      logits.assign(ctx.logits(), ctx.logits() + n_vocab);
      Stopwatch sw;
      if (budget_logic) s->set_budget(budget - r.tokens);
      auto sr = s->sample(logits.data(), n_vocab);
      bool ok = sr.token >= 0 && s->accept(sr.token);
      r.constraint_ms += sw.ms();
      if (!ok || vocab->is_eog(sr.token)) break;
      r.text += vocab->bytes(sr.token);
      if (s->grammar_done()) {
        ++r.tokens;
        break;
      }
      batch = {{sr.token, pos++, 0, true}};
    }
    r.complete = s->grammar_complete();
    return r;
  };

  std::printf("model %s (vocab %d); prompt \"Answer in JSON:\"; temperature 0.9, top-k 40, top-p 0.95, min-p 0.05\n",
              path.c_str(), n_vocab);
  std::printf("%-20s %8s %6s | %-26s | %-26s\n", "schema", "shortest", "budget", "budget logic ON: valid/runs",
              "OFF: valid/runs");
  int total = 0, valid_on = 0, valid_off = 0;
  double ms_on = 0;
  int tokens_on = 0;
  for (const Schema& sc : kSchemas) {
    json schema = json::parse(sc.text);
    sampling::Constraint c;
    c.json_schema = schema;
    const int shortest = sampling::Sampler::create({}, c, vocab).value()->min_tokens_to_complete();
    for (int mult : {2, 4}) {
      const int budget = shortest * mult;
      int on = 0, off = 0, used_on = 0;
      for (uint64_t seed = 1; seed <= 5; ++seed) {
        for (bool logic : {true, false}) {
          Run r = run(schema, seed, budget, logic);
          json doc = json::parse(r.text, nullptr, false);
          bool good = r.complete && !doc.is_discarded() && !chain::validate_json_schema(doc, schema);
          if (logic) {
            on += good;
            used_on += r.tokens;
            ms_on += r.constraint_ms;
            tokens_on += r.tokens;
            if (seed == 1 && mult == 2) std::printf("    e.g. seed 1: %s\n", r.text.c_str());
          } else {
            off += good;
          }
        }
      }
      total += 5, valid_on += on, valid_off += off;
      std::printf("%-20s %8d %6d | %2d/5 (mean %5.1f tokens)      | %2d/5\n", sc.name, shortest, budget, on,
                  used_on / 5.0, off);
    }
  }
  std::printf("total: budget logic ON %d/%d valid, OFF %d/%d valid; constraint %.3f ms/token (ON, vocab %d)\n",
              valid_on, total, valid_off, total, ms_on / std::max(1, tokens_on), n_vocab);
  return 0;
}
