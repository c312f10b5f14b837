#pragma once
// Sampling settings shared by the CLI, the engine and the server.
// Order of the chain (see sampling/sampler.h): logit bias -> penalties ->
// constraint (grammar/JSON schema) -> top-k -> typical-p -> top-p -> min-p ->
// temperature -> pick (greedy when temperature <= 0, else seeded random).
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>

namespace llmchain::sampling {

struct SamplingParams {
  float temperature = 0.8f;             // <= 0: greedy (argmax)
  int32_t top_k = 40;                   // <= 0: off
  float top_p = 0.95f;                  // >= 1: off
  float min_p = 0.05f;                  // <= 0: off
  float typical_p = 1.0f;               // >= 1: off
  float repeat_penalty = 1.0f;          // 1: off (llama.cpp style, divides positive logits)
  float frequency_penalty = 0.0f;       // OpenAI style
  float presence_penalty = 0.0f;        // OpenAI style
  int32_t penalty_last_n = 64;          // window of previous tokens the penalties look at; -1: whole context
  std::optional<uint64_t> seed;         // none: a random seed
  std::map<int32_t, float> logit_bias;  // token id -> added to the logit (-inf bans)
  int32_t n_probs = 0;                  // top alternatives to report with logprobs (0: only when asked)
};

// Structured-output constraint. At most one of these is set.
struct Constraint {
  std::string grammar;                        // GBNF text (root rule "root")
  std::optional<nlohmann::json> json_schema;  // JSON Schema
  bool json_object = false;                   // any JSON object
  bool empty() const { return grammar.empty() && !json_schema && !json_object; }
};

// Limits on compiling a request's constraint into a matcher, which runs on the submitting
// thread (never the decode loop): past the deadline the compile ends with kInvalidArgument
// (the constraint is too expensive), and a stop request (the request was cancelled or timed
// out) ends it with kCancelled. Sizes are capped too (see json_schema.h, grammar_matcher.h).
struct CompileBudget {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::stop_token stop;
  void check() const;  // throws as above
};

}  // namespace llmchain::sampling
