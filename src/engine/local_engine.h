#pragma once
// LocalEngine: a GGUF model served in-process. One scheduler thread runs the
// forward pass for all sequences with continuous batching: every step decodes
// one token for each generating sequence plus a bounded chunk of pending
// prompt tokens, so weights are read once per step for everyone and a long
// prompt never freezes the other streams. Slots keep their KV cache after a
// request ends; a new request takes the free slot sharing the longest prefix.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace llmchain::model {
class Model;
}
namespace llmchain::tokenizer {
class Tokenizer;
}
namespace llmchain::chat {
class Template;
}

namespace llmchain::engine {

struct EngineOptions {
  int32_t n_parallel = 1;       // sequence slots
  int32_t n_ctx = 0;            // context per slot; 0: min(model's training context, 4096)
  int32_t n_batch = 256;        // maximum tokens per forward step (prefill chunk bound)
  int32_t n_threads = 0;        // 0: all hardware threads
  int32_t max_queue = 256;      // waiting requests before kResourceExhausted
  std::string backend = "cpu";  // what runs the model: cpu | reference (kernels/backend.h)
  std::string chat_template;    // built-in template name overriding the model's
  std::string model_name;       // id shown to clients; default: file name
  // Compiling a request's grammar or JSON schema (on the caller's thread) may take this long;
  // longer: the request fails with kInvalidArgument (400).
  double constraint_timeout_s = 5;
};

class Scheduler;

class LocalEngine : public Engine {
 public:
  static Expected<std::unique_ptr<LocalEngine>> load(const std::string& path, const EngineOptions& opts);
  ~LocalEngine() override;

  const ModelInfo& info() const override { return info_; }
  bool ready() const override;
  Expected<std::vector<int32_t>> tokenize(const std::string& text, bool add_special, bool parse_special) const override;
  std::string detokenize(const std::vector<int32_t>& tokens) const override;
  Expected<std::string> apply_chat_template(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                            const std::string& template_name,
                                            const nlohmann::json& tools) const override;
  std::shared_ptr<Generation> submit(GenerateRequest req) override;
  Expected<std::vector<float>> embed(const std::vector<int32_t>& tokens) override;
  EngineStats stats() const override;

  const model::Model& model() const { return *model_; }
  const tokenizer::Tokenizer& tok() const { return *tok_; }
  const EngineOptions& options() const { return opts_; }

 private:
  LocalEngine() = default;

  EngineOptions opts_;
  ModelInfo info_;
  std::shared_ptr<const model::Model> model_;
  std::shared_ptr<const tokenizer::Tokenizer> tok_;
  std::shared_ptr<const chat::Template> template_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace llmchain::engine
