#include "engine/scheduler.h"

#include <algorithm>
#include <cmath>

#include "base/log.h"
#include "base/timer.h"
#include "model/model.h"

namespace llmchain::engine {

namespace {

std::shared_ptr<const sampling::CompiledVocab> build_vocab(const tokenizer::Tokenizer& tok) {
  sampling::Vocab v;
  v.token_bytes.reserve(tok.n_vocab());
  for (int32_t i = 0; i < tok.n_vocab(); ++i) v.token_bytes.push_back(tok.token_bytes(i));
  v.eog_tokens = tok.eog_tokens();
  return sampling::compile_vocab(std::move(v)).value();
}

}  // namespace

Scheduler::Scheduler(std::shared_ptr<const model::Model> model, std::shared_ptr<const tokenizer::Tokenizer> tok,
                     const EngineOptions& opts)
    : model_(std::move(model)),
      tok_(std::move(tok)),
      vocab_(build_vocab(*tok_)),
      opts_(opts),
      n_ctx_(opts.n_ctx),
      pool_(opts.n_threads),
      kv_(model_->hparams(), opts.n_parallel, opts.n_ctx),
      ctx_(model_, std::max<int32_t>(opts.n_batch, opts.n_parallel)),
      slots_(opts.n_parallel) {
  for (int i = 0; i < opts.n_parallel; ++i) slots_[i].id = i;
  if (model_->arch().encoder) encoder_ = std::make_unique<model::Encoder>(model_);
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Request::complete() {
  if (gen) {
    if (error) {
      gen->finish(std::move(*error));
    } else {
      gen->finish(std::move(result));
    }
    return;
  }
  std::lock_guard<std::mutex> lock(mu);
  done = true;
  cv.notify_all();
}

void Scheduler::submit(std::shared_ptr<Request> r) {
  r->t_submit = now_seconds();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) throw Error(ErrorCode::kUnavailable, "engine is shutting down");
    if (static_cast<int32_t>(queue_.size()) >= opts_.max_queue) {
      ++rejected_total_;
      throw Error(ErrorCode::kResourceExhausted,
                  fmt::format("server busy: {} requests already waiting (max_queue)", queue_.size()));
    }
    queue_.push_back(std::move(r));
  }
  cv_.notify_all();
}

void Scheduler::submit_and_wait(const std::shared_ptr<Request>& r) {
  submit(r);
  std::unique_lock<std::mutex> lock(r->mu);
  r->cv.wait(lock, [&] { return r->done; });
}

EngineStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineStats s;
  s.running = running_;
  s.waiting = static_cast<int32_t>(queue_.size());
  s.prompt_tokens_total = prompt_total_;
  s.generated_tokens_total = gen_total_;
  s.rejected_total = rejected_total_;
  s.kv_cells_used = kv_used_;
  s.kv_cells_total = kv_.n_seq() * kv_.n_ctx();
  return s;
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || running_ > 0; });
      if (stop_) break;
      // Requests cancelled while they waited leave the queue without ever taking a slot.
      for (auto it = queue_.begin(); it != queue_.end();) {
        std::shared_ptr<Request> r = *it;
        if (!r->cancelled()) {
          ++it;
          continue;
        }
        it = queue_.erase(it);
        r->result.finish_reason = FinishReason::kCancelled;
        r->result.total_s = now_seconds() - r->t_submit;
        r->complete();
      }
      // Admit waiting requests into free slots (between decode steps).
      while (!queue_.empty()) {
        std::shared_ptr<Request> r = queue_.front();
        lock.unlock();
        bool ok = admit(r);
        lock.lock();
        if (!ok) break;
        queue_.pop_front();
        ++running_;
      }
    }
    step();
  }
  // Shutdown: fail everything still pending.
  std::deque<std::shared_ptr<Request>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending.swap(queue_);
  }
  for (auto& s : slots_)
    if (s.req) fail(s, Error(ErrorCode::kCancelled, "engine shut down"));
  for (auto& r : pending) {
    r->error = Error(ErrorCode::kCancelled, "engine shut down");
    r->complete();
  }
}

bool Scheduler::admit(const std::shared_ptr<Request>& r) {
  const std::vector<int32_t>& prompt = r->kind == Request::Kind::kEmbed ? r->embed_tokens : r->req.prompt;
  Slot* best = nullptr;
  size_t best_common = 0;
  for (auto& s : slots_) {
    if (s.req) continue;
    size_t common = 0;
    while (common < s.cached.size() && common < prompt.size() && s.cached[common] == prompt[common]) ++common;
    if (!best || common > best_common || (common == best_common && s.last_used < best->last_used)) {
      best = &s;
      best_common = common;
    }
  }
  if (!best) return false;
  start_slot(*best, r);
  return true;
}

void Scheduler::start_slot(Slot& s, const std::shared_ptr<Request>& r) {
  s.req = r;
  s.n_gen = 0;
  s.pending = -1;
  s.t_first = 0;
  s.embed_sum.clear();
  const bool embed = r->kind == Request::Kind::kEmbed;
  const std::vector<int32_t>& prompt = embed ? r->embed_tokens : r->req.prompt;
  // Reuse the longest cached prefix (at least one prompt token must be computed to get
  // logits): this slot's own, or another slot's (busy or idle), whose K/V rows are copied
  // over; between steps every token in a slot's `cached` has its K/V written.
  auto common_with = [&](const Slot& o) {
    size_t n = 0;
    while (n < o.cached.size() && n < prompt.size() && o.cached[n] == prompt[n]) ++n;
    return std::min(n, prompt.size() - 1);
  };
  size_t common = embed ? 0 : common_with(s);
  s.cached.resize(common);
  if (!embed) {
    const Slot* donor = nullptr;
    size_t donor_common = common;
    for (const auto& o : slots_) {
      if (&o == &s) continue;
      size_t n = common_with(o);
      if (n > donor_common) {
        donor = &o;
        donor_common = n;
      }
    }
    if (donor) {
      kv_.copy(donor->id, s.id, static_cast<int32_t>(common), static_cast<int32_t>(donor_common));
      s.cached.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(donor_common));
      common = donor_common;
    }
  }
  kv_.set_used(s.id, static_cast<int32_t>(common));
  s.prompt_next = common;
  r->result.prompt_tokens = static_cast<int32_t>(prompt.size());
  r->result.cached_prompt_tokens = static_cast<int32_t>(common);
  if (embed) {
    s.embed_sum.assign(model_->hparams().n_embd, 0.0);
    return;
  }
  const GenerateRequest& g = r->req;
  const int32_t room = n_ctx_ - static_cast<int32_t>(prompt.size());
  s.max_tokens = g.max_tokens < 0 ? room : std::min(g.max_tokens, room);
  if (r->sampler) {
    s.sampler = std::move(r->sampler);
  } else {
    sampling::SamplingParams sp = g.sampling;
    sp.n_probs = std::max(sp.n_probs, g.logprobs);
    auto sampler = sampling::Sampler::create(sp, g.constraint, vocab_);
    if (!sampler.ok()) {
      fail(s, sampler.error());
      return;
    }
    s.sampler = std::move(*sampler);
  }
  if (s.sampler->constrained()) {
    // The budget keeps a constrained output completable (sampler.h) only when
    // it starts at or above the shortest document: below that, refuse.
    const int32_t need = s.sampler->min_tokens_to_complete();
    if (need > s.max_tokens) {
      const bool by_context = g.max_tokens < 0 || g.max_tokens > room;
      std::string have = by_context ? fmt::format("the context leaves room for only {} tokens", room)
                                    : fmt::format("max_tokens is {}", g.max_tokens);
      std::string what = need == sampling::Sampler::kNoCompletion
                             ? std::string("the output constraint has no document this model's vocabulary can spell")
                             : fmt::format(
                                   "the shortest document the output constraint allows takes {} tokens "
                                   "of this model, but {}",
                                   need, have);
      fail(s, Error(ErrorCode::kInvalidArgument, what));
      return;
    }
  }
  s.sampler->set_history(prompt);
  s.decoder = std::make_unique<tokenizer::StreamDecoder>(*tok_);
  s.stop = std::make_unique<sampling::StopMatcher>(g.stop);
}

namespace {
// An embedding as /v1/embeddings returns it: L2-normalised (llama-server's default), except rank
// scores, which are returned as the classification head gives them.
void normalize(std::vector<float>& v) {
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  norm = std::sqrt(norm);
  for (float& x : v) x = static_cast<float>(norm > 0 ? x / norm : 0);
}
}  // namespace

void Scheduler::step_encoder() {
  const model::HParams& hp = model_->hparams();
  for (auto& s : slots_) {
    if (!s.req) continue;
    if (s.req->kind != Request::Kind::kEmbed) {
      fail(s, Error(ErrorCode::kInvalidArgument,
                    fmt::format("this is an embedding model ({}): it does not generate text", hp.arch)));
      continue;
    }
    // One vector per input: pooling "none" is served as the tokens' mean.
    const auto pooling = hp.pooling == model::Pooling::kNone ? model::Pooling::kMean : hp.pooling;
    auto out = encoder_->run(s.req->embed_tokens, pool_, pooling);
    if (!out) {
      fail(s, out.error());
      continue;
    }
    std::vector<float>& e = *out;
    if (hp.pooling != model::Pooling::kRank) normalize(e);
    {
      std::lock_guard<std::mutex> lock(mu_);
      prompt_total_ += static_cast<int64_t>(s.req->embed_tokens.size());
    }
    s.req->embedding = std::move(e);
    finish(s, FinishReason::kStop);
  }
}

void Scheduler::step() {
  if (encoder_) return step_encoder();
  // Sequences whose request was cancelled (client gone, timed out) stop before this step.
  for (auto& s : slots_) {
    if (s.req && s.req->cancelled()) {
      finish(s, FinishReason::kCancelled);
    }
  }
  std::vector<model::BatchToken> batch;
  std::vector<Slot*> owner;
  const int32_t budget = ctx_.max_batch();
  // Generating sequences first: one token each.
  for (auto& s : slots_) {
    if (!s.req || s.pending < 0) continue;
    batch.push_back({s.pending, static_cast<int32_t>(s.cached.size()), s.id, true});
    owner.push_back(&s);
    s.cached.push_back(s.pending);
    s.pending = -1;
  }
  // Then bounded chunks of pending prompts.
  for (auto& s : slots_) {
    if (!s.req) continue;
    const bool embed = s.req->kind == Request::Kind::kEmbed;
    const std::vector<int32_t>& prompt = embed ? s.req->embed_tokens : s.req->req.prompt;
    while (s.prompt_next < prompt.size() && static_cast<int32_t>(batch.size()) < budget) {
      const bool last = s.prompt_next + 1 == prompt.size();
      batch.push_back({prompt[s.prompt_next], static_cast<int32_t>(s.cached.size()), s.id, last && !embed});
      owner.push_back(&s);
      s.cached.push_back(prompt[s.prompt_next]);
      ++s.prompt_next;
    }
  }
  if (batch.empty()) return;

  auto ok = ctx_.decode(batch, kv_, pool_);
  if (!ok.ok()) {
    for (auto* s : owner)
      if (s->req) fail(*s, ok.error());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t n_prompt = 0;
    for (size_t i = 0; i < batch.size(); ++i)
      if (owner[i]->n_gen == 0) ++n_prompt;
    prompt_total_ += n_prompt;
    int32_t used = 0;
    for (auto& s : slots_) used += static_cast<int32_t>(s.cached.size());
    kv_used_ = used;
  }
  // Embedding requests: accumulate final hidden states.
  const int64_t D = model_->hparams().n_embd;
  for (size_t i = 0; i < batch.size(); ++i) {
    Slot& s = *owner[i];
    if (!s.req || s.req->kind != Request::Kind::kEmbed) continue;
    const float* h = ctx_.hidden() + i * D;
    for (int64_t d = 0; d < D; ++d) s.embed_sum[d] += h[d];
  }
  for (auto& s : slots_) {
    if (!s.req || s.req->kind != Request::Kind::kEmbed || s.prompt_next < s.req->embed_tokens.size()) continue;
    const double n = static_cast<double>(s.req->embed_tokens.size());
    s.req->embedding.resize(D);
    for (int64_t d = 0; d < D; ++d) s.req->embedding[d] = static_cast<float>(s.embed_sum[d] / n);
    normalize(s.req->embedding);
    finish(s, FinishReason::kStop);
  }
  // Sample for every row that produced logits.
  int32_t row = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].logits) continue;
    Slot& s = *owner[i];
    const float* l = ctx_.logits() + static_cast<size_t>(row) * model_->hparams().n_vocab;
    ++row;
    if (!s.req) continue;
    try {
      on_logits(s, l);
    } catch (const Error& e) {  // a constraint that grew past its limits (GrammarMatcher::kMaxStacks)
      fail(s, e);
    }
  }
}

void Scheduler::on_logits(Slot& s, const float* logits) {
  Request& r = *s.req;
  const GenerateRequest& g = r.req;
  const int32_t n_vocab = model_->hparams().n_vocab;
  s.logits.assign(logits, logits + n_vocab);
  if (s.max_tokens <= 0) {
    finish(s, FinishReason::kLength);
    return;
  }
  if (s.sampler->constrained()) {
    s.sampler->set_budget(std::min(s.max_tokens - s.n_gen, n_ctx_ - static_cast<int32_t>(s.cached.size())));
  }
  sampling::SampleResult sr = s.sampler->sample(s.logits.data(), n_vocab);
  const int32_t tok = sr.token;
  if (tok < 0) {
    // The constraint allows no token: end with an error, never fall back to free text.
    fail(s, Error(ErrorCode::kInvalidArgument,
                  "the output constraint allows no token of this model's vocabulary here (the "
                  "vocabulary lacks characters the grammar or schema needs)"));
    return;
  }
  if (s.n_gen == 0) s.t_first = now_seconds();
  ++s.n_gen;
  ++r.result.completion_tokens;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++gen_total_;
  }
  if (tok_->is_eog(tok) && !g.ignore_eos) {
    finish(s, FinishReason::kStop);
    return;
  }
  if (!s.sampler->accept(tok)) {
    fail(s, Error(ErrorCode::kInternal, fmt::format("the output constraint rejected token {}", tok)));
    return;
  }

  TokenEvent ev;
  ev.token = tok;
  if (g.logprobs >= 0) {
    ev.chosen = TokenLogprob{tok, tok_->token_to_piece(tok), sr.logprob};
    for (const auto& tp : sr.top) ev.top.push_back({tp.token, tok_->token_to_piece(tp.token), tp.logprob});
  }
  auto out = s.stop->push(s.decoder->push(tok));
  ev.text = std::move(out.emit);
  emit(s, std::move(ev));
  if (out.stopped || s.sampler->grammar_done()) {
    finish(s, FinishReason::kStop);
  } else if (s.n_gen >= s.max_tokens || static_cast<int32_t>(s.cached.size()) + 1 >= n_ctx_) {
    // A constrained output that ends as a complete document was not cut.
    finish(s, s.sampler->constrained() && s.sampler->grammar_complete() ? FinishReason::kStop : FinishReason::kLength);
  } else {
    s.pending = tok;
  }
}

void Scheduler::emit(Slot& s, TokenEvent ev) {
  Request& r = *s.req;
  r.result.text += ev.text;
  if (r.req.logprobs >= 0) r.result.logprobs.push_back(ev);
  r.gen->push(std::move(ev));
}

void Scheduler::fail(Slot& s, Error err) { finish(s, FinishReason::kStop, std::move(err)); }

void Scheduler::finish(Slot& s, FinishReason reason, std::optional<Error> err) {
  std::shared_ptr<Request> r = std::move(s.req);
  if (!r) return;
  if (!err && r->kind == Request::Kind::kGenerate && reason != FinishReason::kCancelled && s.decoder && s.stop) {
    // Release held-back text: an incomplete stop-string prefix or a partial UTF-8 tail.
    auto tail = s.stop->push(s.decoder->flush());
    std::string rest = tail.stopped ? tail.emit : tail.emit + s.stop->flush();
    if (!rest.empty()) {
      TokenEvent ev;
      ev.text = std::move(rest);
      r->result.text += ev.text;
      r->gen->push(std::move(ev));
    }
    if (tail.stopped) reason = FinishReason::kStop;
  }
  r->result.finish_reason = reason;
  r->result.total_s = now_seconds() - r->t_submit;
  r->result.time_to_first_token_s = s.t_first > 0 ? s.t_first - r->t_submit : r->result.total_s;
  if (err) r->error = std::move(err);
  s.pending = -1;
  s.last_used = ++clock_;
  s.sampler.reset();
  s.decoder.reset();
  s.stop.reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }
  r->complete();
}

}  // namespace llmchain::engine
