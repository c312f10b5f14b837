#pragma once
// A scripted engine::Engine for tests and `llmchain serve --fake-engine`.
//
// Vocabulary: 0 <unk>, 1 <s> (BOS), 2 </s> (EOS), 3 + b for every byte b.
// Chat template: "<|role|>\n" + content + "\n" per message, then "<|assistant|>\n".
// What it generates, one byte-token at a time, then EOS:
//   - with a JSON constraint: a minimal instance of the schema (or {"answer":"fake"});
//   - when the prompt contains "echo:": the rest of that line (after the last "echo:");
//   - otherwise 6-12 words drawn with the request's seed (same seed, same words).
// It honours max_tokens, the context size, stop strings (never emitted, text
// that may begin one is held back), logprobs, cancellation and a parallel limit (extra requests wait). Delays slow it
// down to test streaming, concurrency and timeouts.
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "engine/engine.h"

namespace llmchain::fakes {

struct FakeEngineOptions {
  std::string name = "fake-model";
  int32_t n_ctx = 512;
  int32_t n_embd = 16;
  int parallel = 4;
  int token_delay_ms = 0;        // sleep before each generated token
  int first_token_delay_ms = 0;  // extra sleep before the first one
  // A fake cross-encoder (pooling "rank"): embed() gives one score, minus the pair's token count.
  bool reranker = false;
};

class FakeEngine : public engine::Engine {
 public:
  explicit FakeEngine(FakeEngineOptions opts = {});

  const engine::ModelInfo& info() const override { return info_; }
  bool ready() const override { return ready_.load(); }
  Expected<std::vector<int32_t>> tokenize(const std::string& text, bool add_special, bool parse_special) const override;
  std::string detokenize(const std::vector<int32_t>& tokens) const override;
  Expected<std::string> apply_chat_template(const std::vector<engine::ChatMessage>& messages,
                                            bool add_generation_prompt, const std::string& template_name,
                                            const nlohmann::json& tools) const override;
  std::shared_ptr<engine::Generation> submit(engine::GenerateRequest req) override;
  Expected<std::vector<float>> embed(const std::vector<int32_t>& tokens) override;
  engine::EngineStats stats() const override;

  void set_ready(bool r) { ready_.store(r); }
  void set_token_delay_ms(int ms) { token_delay_ms_.store(ms); }
  int64_t cancelled_total() const { return cancelled_.load(); }
  int64_t generate_calls() const { return calls_.load(); }
  int32_t running() const;
  // The text generate() would produce for this prompt and request (before stops and limits).
  std::string script_for(const std::string& prompt_text, const engine::GenerateRequest& req) const;

 private:
  Expected<engine::GenerateResult> run_script(const engine::GenerateRequest& req,
                                              const engine::TokenCallback& on_token);

  FakeEngineOptions opts_;
  engine::ModelInfo info_;
  std::atomic<bool> ready_{true};
  std::atomic<int> token_delay_ms_{0};
  std::atomic<int64_t> cancelled_{0}, calls_{0}, prompt_total_{0}, generated_total_{0};
  mutable std::mutex mu_;
  std::condition_variable slot_cv_;
  int32_t running_ = 0, waiting_ = 0;
  int64_t kv_used_ = 0;
};

}  // namespace llmchain::fakes
