// Chain-layer overhead: a direct FakeLLM call against the same call made through an LLMChain
// with a prompt template, an input guard (PII), an output guard (deny list) and a JSON parser.
// The difference is what the chain layer costs per call (target: well under 1 ms).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>

#include "chain/llm_chain.h"

using namespace llmchain::chain;

namespace {

const char* kAnswer = R"({"translation": "Hola, mundo", "notes": ["informal", "short"]})";

std::shared_ptr<FakeLLM> make_llm() { return std::make_shared<FakeLLM>(std::vector<std::string>{kAnswer}); }

void BM_DirectFakeLLM(benchmark::State& state) {
  auto llm = make_llm();
  LlmInput in = LlmInput::text("Translate into Spanish: Hello, world (contact me at ann@example.com)");
  for (auto _ : state) benchmark::DoNotOptimize(llm->generate(in));
}
BENCHMARK(BM_DirectFakeLLM);

void BM_ChainTemplateGuardsJsonParser(benchmark::State& state) {
  auto llm = make_llm();
  LLMChainOptions o;
  o.parser = std::make_shared<JsonOutputParser>(
      Json{{"type", "object"}, {"properties", {{"translation", {{"type", "string"}}}}}, {"required", {"translation"}}});
  o.input_guards.push_back(std::make_shared<PiiGuard>(GuardAction::kRedact));
  o.output_guards.push_back(std::make_shared<DenyListGuard>(std::vector<std::string>{"darn", "heck"},
                                                            std::vector<std::string>{}, GuardAction::kFlag));
  LLMChain chain(llm, PromptTemplate::from_template("Translate into {language}: {text}\n{format_instructions}"),
                 "translation", o);
  Json input = {{"language", "Spanish"}, {"text", "Hello, world (contact me at ann@example.com)"}};
  for (auto _ : state) benchmark::DoNotOptimize(chain.invoke(input));
}
BENCHMARK(BM_ChainTemplateGuardsJsonParser);

void BM_ChainTemplateOnly(benchmark::State& state) {
  auto llm = make_llm();
  LLMChain chain(llm, PromptTemplate::from_template("Write a product description for {product}."), "text");
  Json input = {{"product", "wool socks"}};
  for (auto _ : state) benchmark::DoNotOptimize(chain.invoke(input));
}
BENCHMARK(BM_ChainTemplateOnly);

void BM_LcelPipe(benchmark::State& state) {
  auto llm = make_llm();
  auto pipe = PromptTemplate::from_template("Write a product description for {product}.") | llm->bind() |
              std::make_shared<JsonOutputParser>();
  Json input = {{"product", "wool socks"}};
  for (auto _ : state) benchmark::DoNotOptimize(pipe->invoke(input));
}
BENCHMARK(BM_LcelPipe);

// Mean wall time per call of fn over n calls, in microseconds.
template <typename Fn>
double micros_per_call(int n, Fn&& fn) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) benchmark::DoNotOptimize(fn());
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
}

void print_overhead() {
  auto llm = make_llm();
  LLMChainOptions o;
  o.parser = std::make_shared<JsonOutputParser>(Json{{"type", "object"}, {"required", {"translation"}}});
  o.input_guards.push_back(std::make_shared<PiiGuard>(GuardAction::kRedact));
  o.output_guards.push_back(std::make_shared<DenyListGuard>(std::vector<std::string>{"darn"},
                                                            std::vector<std::string>{}, GuardAction::kFlag));
  LLMChain chain(llm, PromptTemplate::from_template("Translate into {language}: {text}\n{format_instructions}"),
                 "translation", o);
  Json input = {{"language", "Spanish"}, {"text", "Hello, world (contact me at ann@example.com)"}};
  LlmInput direct = LlmInput::text("Translate into Spanish: Hello, world (contact me at ann@example.com)");
  const int n = 20000;
  micros_per_call(n / 10, [&] { return chain.invoke(input); });  // warm up
  double d = micros_per_call(n, [&] { return llm->generate(direct); });
  double c = micros_per_call(n, [&] { return chain.invoke(input); });
  std::printf(
      "direct FakeLLM call: %.2f us; LLMChain (template + PII guard + deny-list guard + JSON parser): %.2f us\n", d, c);
  std::printf("chain-layer overhead per call: %.2f us (target < 1000 us)\n", c - d);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_overhead();
  return 0;
}
