// Tokenizer throughput (MB/s of input text) per family on ~1 MB of generated
// mixed-language text and on 1 MB without any space, plus decode speed.
//   bench_tokenizer [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <random>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

using llmchain::tokenizer::Tokenizer;

std::shared_ptr<const Tokenizer> load(const std::string& family) {
  static std::map<std::string, std::shared_ptr<const Tokenizer>> cache;
  auto it = cache.find(family);
  if (it != cache.end()) return it->second;
  const std::string path = std::string(LLMCHAIN_SHARED_DIR) + "/testdata/tokenizer/ggml-vocab-" + family + ".gguf";
  auto file = llmchain::gguf::File::open(path);
  if (!file) {
    std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(), file.error().message().c_str());
    return nullptr;
  }
  auto tok = Tokenizer::from_gguf(**file);
  if (!tok) {
    std::fprintf(stderr, "cannot load %s: %s\n", path.c_str(), tok.error().message().c_str());
    return nullptr;
  }
  return cache[family] = *tok;
}

// ~1 MB of prose-like text mixing scripts, code, numbers, emoji and whitespace runs.
const std::string& mixed_text() {
  static const std::string text = [] {
    static const char* const kWords[] = {
        "the",       "quick",   "brown",   "fox",   "jumps",          "over",    "lazy",     "dog",    "tokenizer",
        "llama",     "model's", "weights", "don't", "we'll",          "HTTP",    "JSON",     "Привет", "мир",
        "Български", "我想",    "在",      "工作",  "日本語",         "한국어",  "Ελληνικά", "café",   "naïve",
        "1314151",   "3.14159", "2024",    "🚀",     "😶‍🌫️", "🦙",    "->",       "==",     "{}",
        "foo(bar)",  "x += 1;", "i++",     "<div>", "#include",       "\"str\"", "'q'",      "...",    "!!!",
    };
    static const char* const kSeps[] = {" ", " ", " ", " ", ", ", ". ", "\n", "\n\n", "\t", "  ", "    "};
    std::mt19937 rng(42);
    std::string s;
    s.reserve(1 << 20);
    while (s.size() < (1u << 20)) {
      s += kWords[rng() % std::size(kWords)];
      s += kSeps[rng() % std::size(kSeps)];
    }
    return s;
  }();
  return text;
}

// 1 MB without spaces: one huge pre-tokenizer word for most families.
const std::string& no_space_text() {
  static const std::string text = [] {
    static const char* const kParts[] = {"abcdefgh", "ЖЗИЙКЛ", "我想在", "12345", "!!??", "éèêë", "🦙"};
    std::string s;
    for (size_t i = 0; s.size() < (1u << 20); ++i) s += kParts[(i * 7 + i / 3) % 7];
    return s;
  }();
  return text;
}

void run_encode(benchmark::State& state, const std::string& family, const std::string& text) {
  auto tok = load(family);
  if (!tok) {
    state.SkipWithError("vocab not available");
    return;
  }
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tok->encode(text, false, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

void run_decode(benchmark::State& state, const std::string& family) {
  auto tok = load(family);
  if (!tok) {
    state.SkipWithError("vocab not available");
    return;
  }
  const auto ids = tok->encode(mixed_text(), false, false);
  for (auto _ : state) {
    std::string s = tok->decode(ids);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mixed_text().size()));
}

void register_all() {
  for (const char* family : {"llama-spm", "gpt-2", "falcon", "deepseek-llm", "starcoder", "bert-bge"}) {
    const std::string f = family;
    benchmark::RegisterBenchmark(("encode_mixed_1MB/" + f).c_str(), [f](benchmark::State& s) {
      run_encode(s, f, mixed_text());
    })->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("encode_nospace_1MB/" + f).c_str(), [f](benchmark::State& s) {
      run_encode(s, f, no_space_text());
    })->Unit(benchmark::kMillisecond);
  }
  for (const char* family : {"llama-spm", "gpt-2"}) {
    const std::string f = family;
    benchmark::RegisterBenchmark(("decode_mixed_1MB/" + f).c_str(), [f](benchmark::State& s) {
      run_decode(s, f);
    })->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
