#pragma once
// The continuous-batching loop behind LocalEngine (see local_engine.h).
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/thread_pool.h"
#include "engine/engine.h"
#include "engine/generation.h"
#include "engine/local_engine.h"
#include "model/encoder.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "sampling/sampler.h"
#include "sampling/stop_matcher.h"
#include "sampling/vocab.h"
#include "tokenizer/tokenizer.h"

namespace llmchain::engine {

// One submitted unit of work, shared by the submitter and the scheduler. A generation reports
// through `gen` (its events and its end); an embedding's submitter waits on `done`.
struct Request {
  enum class Kind { kGenerate, kEmbed } kind = Kind::kGenerate;
  GenerateRequest req;
  std::shared_ptr<Generation> gen;
  std::vector<int32_t> embed_tokens;
  // Built by the submitter (compiling a constraint is never done on the decode thread).
  std::unique_ptr<sampling::Sampler> sampler;

  GenerateResult result;
  std::vector<float> embedding;
  std::optional<Error> error;
  double t_submit = 0;

  bool done = false;  // embeddings
  std::mutex mu;
  std::condition_variable cv;

  bool cancelled() const { return gen && gen->cancelled(); }
  // Ends the request: the generation's result (or error), or wakes the embedding's submitter.
  void complete();
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<const model::Model> model, std::shared_ptr<const tokenizer::Tokenizer> tok,
            const EngineOptions& opts);
  ~Scheduler();

  // Queues the request; it ends through Request::complete. Throws Error when the queue is full
  // (kResourceExhausted) or the scheduler is stopping (kUnavailable).
  void submit(std::shared_ptr<Request> r);
  // submit(), then blocks until the request has completed (embeddings).
  void submit_and_wait(const std::shared_ptr<Request>& r);
  EngineStats stats() const;
  int32_t n_ctx() const { return n_ctx_; }
  const std::shared_ptr<const sampling::CompiledVocab>& vocab() const { return vocab_; }

 private:
  struct Slot {
    int id = 0;
    std::shared_ptr<Request> req;
    std::vector<int32_t> cached;  // tokens whose K/V are in positions [0, cached.size())
    size_t prompt_next = 0;       // next prompt token to prefill
    int32_t pending = -1;         // sampled token not yet decoded
    int32_t n_gen = 0;
    int32_t max_tokens = 0;
    uint64_t last_used = 0;
    double t_first = 0;
    std::unique_ptr<sampling::Sampler> sampler;
    std::unique_ptr<tokenizer::StreamDecoder> decoder;
    std::unique_ptr<sampling::StopMatcher> stop;
    std::vector<double> embed_sum;
    std::vector<float> logits;
  };

  void loop();
  bool admit(const std::shared_ptr<Request>& r);  // false: no free slot
  void start_slot(Slot& s, const std::shared_ptr<Request>& r);
  void step();
  void step_encoder();  // encoder models: each embedding request in one pass of its own
  void on_logits(Slot& s, const float* logits);
  void emit(Slot& s, TokenEvent ev);
  void finish(Slot& s, FinishReason reason, std::optional<Error> err = std::nullopt);
  void fail(Slot& s, Error err);  // ends the sequence with an error

  std::shared_ptr<const model::Model> model_;
  std::shared_ptr<const tokenizer::Tokenizer> tok_;
  std::shared_ptr<const sampling::CompiledVocab> vocab_;
  EngineOptions opts_;
  int32_t n_ctx_;

  ThreadPool pool_;
  model::KvCache kv_;
  model::Context ctx_;
  std::unique_ptr<model::Encoder> encoder_;  // encoder models (ArchSpec::encoder) only
  std::vector<Slot> slots_;
  uint64_t clock_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Request>> queue_;
  bool stop_ = false;
  int32_t running_ = 0;
  int64_t prompt_total_ = 0, gen_total_ = 0, rejected_total_ = 0;
  int32_t kv_used_ = 0;
  std::thread thread_;
};

}  // namespace llmchain::engine
