#pragma once
// GenerationObserver: watches the engine calls a LocalLLM (chain/local_llm.h) makes, so that
// whoever serves the chains (the server's /metrics) counts them like its own generations:
// tokens in and out, time to first token, inter-token and end-to-end latency.
#include <cstdint>
#include <functional>
#include <memory>

namespace llmchain::chain {

// One engine call. Made right before Engine::generate starts and used by that call's
// threads one at a time (the engine's token callbacks, then the caller).
class GenerationObserver {
 public:
  virtual ~GenerationObserver() = default;
  // Each token the engine generated, also one whose text is held back (empty).
  virtual void on_token() = 0;
  // Once, when generate() returned. ok: it returned a result (not an error or a
  // cancellation); the token counts are the engine's, 0 when !ok.
  virtual void on_finish(bool ok, int64_t prompt_tokens, int64_t completion_tokens) = 0;
};

// Makes the observer of one call; may return null (not observed). Called concurrently.
using GenerationObserverFactory = std::function<std::unique_ptr<GenerationObserver>()>;

}  // namespace llmchain::chain
