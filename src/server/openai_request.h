#pragma once
// OpenAI request DTOs and their validation. Parsing never applies a default
// that the caller did not ask for silently: wrong types and out-of-range values
// throw ApiException naming the parameter.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "sampling/params.h"
#include "server/api_error.h"
#include "server/tool_calls.h"

namespace llmchain::server {

// One prompt of /v1/completions: text, or token ids given directly.
struct PromptInput {
  std::string text;
  std::optional<std::vector<int32_t>> tokens;
};

struct CompletionParams {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;           // completions: prepend the prompt
  std::string model;
  std::vector<engine::ChatMessage> messages;  // chat
  std::vector<PromptInput> prompts;           // completions
  std::optional<int32_t> max_tokens;          // max_completion_tokens wins over max_tokens
  int n = 1;                                  // choices per prompt
  std::vector<std::string> stop;
  sampling::SamplingParams sampling;
  sampling::Constraint constraint;
  int32_t logprobs = -1;  // -1: off; N >= 0: number of top alternatives
  std::string user;
  ToolRequest tools;  // chat: tools / tool_choice / parallel_tool_calls
};

// 400 "Invalid type for 'param': expected <expected>, but got <type of got>."
[[noreturn]] void throw_wrong_type(const std::string& param, const char* expected, const nlohmann::json& got);

// Parses a request body; throws ApiException (400) for malformed JSON or wrong types.
nlohmann::json parse_json_body(const std::string& body);

// n_vocab bounds logit_bias keys and token-id prompts (0: unchecked).
CompletionParams parse_chat_request(const nlohmann::json& body, int32_t n_vocab);
CompletionParams parse_completion_request(const nlohmann::json& body, int32_t n_vocab);

struct EmbeddingParams {
  std::vector<PromptInput> inputs;
  bool base64 = false;
  std::string model;
  std::optional<int64_t> dimensions;
};
EmbeddingParams parse_embedding_request(const nlohmann::json& body, int32_t n_vocab);

// POST /v1/rerank (Jina / Cohere shape, as llama-server): query, documents (strings, or objects
// with "text"), top_n, return_documents; TEI's "texts" is accepted for documents.
struct RerankParams {
  std::string model, query;
  std::vector<std::string> documents;
  std::optional<int64_t> top_n;
  bool return_documents = false;
};
RerankParams parse_rerank_request(const nlohmann::json& body);

// Accepted fields of a JSON object, with OpenAI-style messages on type errors.
class FieldReader {
 public:
  explicit FieldReader(const nlohmann::json& obj, std::string prefix = "") : obj_(obj), prefix_(std::move(prefix)) {}
  // nullptr when absent or null.
  const nlohmann::json* get(const std::string& key) const;
  std::optional<std::string> string(const std::string& key) const;
  std::optional<bool> boolean(const std::string& key) const;
  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max) const;
  std::optional<double> number(const std::string& key, double min, double max) const;
  std::string name(const std::string& key) const { return prefix_ + key; }

 private:
  const nlohmann::json& obj_;
  std::string prefix_;
};

}  // namespace llmchain::server
