#pragma once
// OpenAIClient: a LanguageModel served by a remote OpenAI-compatible API (another llmchain
// engine, llama.cpp, vLLM, OpenAI...). Chat messages go to POST {base_url}/chat/completions;
// plain prompts go to {base_url}/completions when use_completions_endpoint is set, otherwise
// they are sent as one user message to /chat/completions (which every such server has).
// Streaming parses the server-sent events ("data: {...}" lines, "data: [DONE]").
//
// Retries: connection failures, HTTP 429 and 5xx are retried up to max_retries times with
// exponential backoff (backoff_initial_s, doubled per retry, capped by backoff_max_s; a
// Retry-After header in seconds is honoured up to the cap). A stream is retried only before
// its first token. Timeouts (no response within timeout_s) fail with kDeadlineExceeded and are
// not retried: the server may still be working on the request.
// https:// URLs need cpp-httplib built with CPPHTTPLIB_OPENSSL_SUPPORT.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "chain/language_model.h"

namespace llmchain::chain {

struct OpenAIOptions {
  std::string base_url = "http://127.0.0.1:8080/v1";         // scheme://host[:port][/prefix]
  std::string api_key;                                       // sent as "Authorization: Bearer ..." when set
  std::string model;                                         // "model" field of the request
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers sent with every request
  double timeout_s = 120;                                    // read/write timeout per request
  double connect_timeout_s = 10;
  int max_retries = 3;
  double backoff_initial_s = 0.5;
  double backoff_max_s = 8;
  bool use_completions_endpoint = false;
  bool json_schema = true;  // the server honours response_format json_schema
  LlmParams defaults;       // under the per-call params
};

class OpenAIClient : public LanguageModel {
 public:
  // Throws Error(kInvalidArgument) on a malformed base_url.
  explicit OpenAIClient(OpenAIOptions options);

  std::string model_name() const override { return options_.model.empty() ? "remote" : options_.model; }
  bool supports_json_schema() const override { return options_.json_schema; }
  const OpenAIOptions& options() const { return options_; }

  // The JSON body that would be sent (exposed for tests).
  Json request_body(const LlmInput& input, const LlmParams& params, bool stream) const;

 protected:
  LlmResult do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                        const CancellationToken& cancel) override;

 private:
  OpenAIOptions options_;
  std::string scheme_host_port_;  // for httplib::Client
  std::string path_prefix_;       // e.g. "/v1"
};

// Incremental parser of a text/event-stream body. feed() may split lines anywhere.
class SseParser {
 public:
  // Called with each event's data (multi-line data joined by '\n').
  using OnEvent = std::function<void(const std::string& data)>;
  explicit SseParser(OnEvent on_event) : on_event_(std::move(on_event)) {}
  void feed(const char* data, size_t size);
  // Delivers a final event not followed by a blank line.
  void finish();

 private:
  void line(const std::string& l);
  OnEvent on_event_;
  std::string buf_;
  std::string data_;
  bool has_data_ = false;
};

}  // namespace llmchain::chain
