#include "gateway/grpc_upstream.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <optional>
#include <set>

#include "base/log.h"
#include "engine/generation.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "llmchain/v1/engine.grpc.pb.h"
#include "rpc/status.h"

namespace llmchain::gateway {

namespace pb = ::llmchain::v1;
using rpc::from_status;
using Clock = std::chrono::steady_clock;

// ---- channels and health ----

std::shared_ptr<grpc::Channel> ChannelCache::get(const UpstreamUrl& address) {
  std::string target = address.authority();
  std::lock_guard lock(mu_);
  auto& ch = channels_[target];
  if (!ch) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(options_.max_message_bytes);
    args.SetMaxSendMessageSize(options_.max_message_bytes);
    const int backoff_ms = std::max(100, static_cast<int>(options_.reconnect_backoff_max_s * 1000));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(backoff_ms, 200));
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::min(backoff_ms, 200));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, backoff_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);  // find a silently dead engine on a long stream
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    ch = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  }
  return ch;
}

namespace {

void set_deadline(grpc::ClientContext& ctx, double seconds) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::microseconds(static_cast<int64_t>(std::max(0.001, seconds) * 1e6)));
}

}  // namespace

std::string check_health(ChannelCache& channels, const UpstreamUrl& address, double timeout_s) {
  auto stub = ::grpc::health::v1::Health::NewStub(channels.get(address));
  grpc::ClientContext ctx;
  set_deadline(ctx, timeout_s);
  ctx.set_wait_for_ready(true);  // a channel between connection attempts tries again within the timeout
  ::grpc::health::v1::HealthCheckRequest req;
  req.set_service("llmchain.v1.Engine");
  ::grpc::health::v1::HealthCheckResponse resp;
  grpc::Status st = stub->Check(&ctx, req, &resp);
  if (!st.ok()) return fmt::format("gRPC {}: {}", static_cast<int>(st.error_code()), st.error_message());
  if (resp.status() != ::grpc::health::v1::HealthCheckResponse::SERVING) {
    return fmt::format("grpc.health.v1: {}",
                       ::grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()));
  }
  return "";
}

// ---- the engine ----

struct UpstreamEngine::Shared {
  std::shared_ptr<UpstreamPool> pool;
  std::shared_ptr<ChannelCache> channels;
  UpstreamEngineOptions options;
  std::shared_ptr<GatewayCounters> counters;

  std::unique_ptr<pb::Engine::Stub> stub(const UpstreamUrl& address) const {
    return pb::Engine::NewStub(channels->get(address));
  }
  void authorize(grpc::ClientContext& ctx) const {
    if (!options.api_key.empty()) ctx.AddMetadata("authorization", "Bearer " + options.api_key);
  }
  Error unavailable(const std::string& last) const {
    ++counters->unavailable;
    return Error(ErrorCode::kUnavailable, fmt::format("No upstream engine could answer the request: {}.", last));
  }
  // Every engine tried failed: busy (the last one's queue was full: 429, as an engine says) or
  // unavailable (503).
  Error exhausted(const std::string& last, bool busy) const {
    if (!busy) return unavailable(last);
    return Error(ErrorCode::kResourceExhausted, fmt::format("Every engine tried is busy: {}.", last));
  }
};

namespace {

// Statuses after which another engine may succeed: it is unreachable, gone or draining
// (UNAVAILABLE), or its queue is full (RESOURCE_EXHAUSTED).
bool retryable(grpc::StatusCode c) {
  return c == grpc::StatusCode::UNAVAILABLE || c == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

std::string describe(const std::string& url, const grpc::Status& st) {
  return fmt::format(
      "{}: {}", url,
      st.error_message().empty() ? "gRPC status " + std::to_string(st.error_code()) : st.error_message());
}

// Reports a failed attempt to the pool. UNAVAILABLE marks the engine unhealthy at once
// (unreachable or draining); a full queue is not the engine's fault.
void report(UpstreamPool::Lease& lease, const grpc::Status& st, const std::string& why) {
  if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    lease.success();
  } else if (st.error_code() == grpc::StatusCode::UNAVAILABLE) {
    lease.failure(UpstreamFailure::kConnect, why);
  } else {
    lease.failure(UpstreamFailure::kError, why);
  }
}

// One unary call, tried on up to max_attempts engines.
template <typename Req, typename Resp>
Expected<Resp> unary(const UpstreamEngine::Shared& s, const Req& req,
                     grpc::Status (pb::Engine::Stub::*method)(grpc::ClientContext*, const Req&, Resp*)) {
  std::set<std::string> tried;
  std::string last;
  bool busy = false;  // the last engine tried had a full queue
  for (int attempt = 0; attempt < std::max(1, s.options.max_attempts); ++attempt) {
    auto lease = s.pool->acquire(tried);
    if (!lease) {
      if (last.empty()) last = lease.error().message();
      break;
    }
    tried.insert(lease->url());
    if (attempt > 0) ++s.counters->retries;
    auto stub = s.stub(lease->address());
    grpc::ClientContext ctx;
    set_deadline(ctx, s.options.call_timeout_s);
    s.authorize(ctx);
    Resp resp;
    grpc::Status st = ((*stub).*method)(&ctx, req, &resp);
    if (st.ok()) {
      lease->success();
      return resp;
    }
    last = describe(lease->url(), st);
    busy = st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    if (retryable(st.error_code())) {
      report(*lease, st, last);
      LLMC_LOG_WARN("gateway: a call failed on {} ({}); trying another engine", lease->url(), st.error_message());
      continue;
    }
    if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED || st.error_code() == grpc::StatusCode::INTERNAL ||
        st.error_code() == grpc::StatusCode::UNKNOWN) {
      lease->failure(UpstreamFailure::kError, last);
    } else {
      lease->success();  // the engine answered: the request was at fault
    }
    return from_status(st);
  }
  return s.exhausted(last, busy);
}

pb::ChatMessage* add_message(pb::Chat* chat, const engine::ChatMessage& m) {
  auto* out = chat->add_messages();
  out->set_role(m.role);
  out->set_content(m.content);
  if (m.extra.is_object() && !m.extra.empty()) out->set_extra_json(m.extra.dump());
  return out;
}

pb::GenerateRequest to_proto(const engine::GenerateRequest& r) {
  pb::GenerateRequest m;
  m.mutable_tokens()->mutable_ids()->Add(r.prompt.begin(), r.prompt.end());
  m.set_max_tokens(r.max_tokens > 0 ? r.max_tokens : 0);
  for (const auto& s : r.stop) m.add_stop(s);
  m.set_ignore_eos(r.ignore_eos);
  if (r.logprobs >= 0) m.set_logprobs(r.logprobs);
  const auto& p = r.sampling;
  auto* s = m.mutable_sampling();
  s->set_temperature(p.temperature);
  s->set_top_k(p.top_k);
  s->set_top_p(p.top_p);
  s->set_min_p(p.min_p);
  s->set_typical_p(p.typical_p);
  s->set_repeat_penalty(p.repeat_penalty);
  s->set_frequency_penalty(p.frequency_penalty);
  s->set_presence_penalty(p.presence_penalty);
  s->set_penalty_last_n(p.penalty_last_n);
  if (p.seed) s->set_seed(*p.seed);
  for (const auto& [token, bias] : p.logit_bias) (*s->mutable_logit_bias())[token] = bias;
  const auto& c = r.constraint;
  if (c.json_schema) {
    m.mutable_constraint()->set_json_schema(c.json_schema->dump());
  } else if (!c.grammar.empty()) {
    m.mutable_constraint()->set_grammar(c.grammar);
  } else if (c.json_object) {
    m.mutable_constraint()->set_json_object(true);
  }
  return m;
}

engine::TokenLogprob from_proto(const pb::TokenLogprob& lp) { return {lp.token(), lp.text(), lp.logprob()}; }

engine::TokenEvent from_proto(const pb::GenerateResponse& m) {
  engine::TokenEvent ev;
  ev.token = m.token();
  ev.text = m.text();
  if (m.has_chosen()) ev.chosen = from_proto(m.chosen());
  for (const auto& t : m.top()) ev.top.push_back(from_proto(t));
  return ev;
}

engine::FinishReason from_proto(pb::FinishReason r) {
  switch (r) {
    case pb::FINISH_REASON_LENGTH: return engine::FinishReason::kLength;
    case pb::FINISH_REASON_CANCELLED: return engine::FinishReason::kCancelled;
    default: return engine::FinishReason::kStop;
  }
}

// One submitted generation: its attempts, one engine each, until one finishes it.
class RemoteGeneration : public std::enable_shared_from_this<RemoteGeneration> {
 public:
  RemoteGeneration(std::shared_ptr<const UpstreamEngine::Shared> s, std::shared_ptr<engine::Generation> gen,
                   const engine::GenerateRequest& r)
      : s_(std::move(s)), gen_(std::move(gen)), req_(to_proto(r)), want_logprobs_(r.logprobs >= 0) {}

  // Links the generation's cancellation to the call in flight, then starts the first attempt.
  void start() {
    on_cancel_.emplace(gen_->stop_token(), [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->cancel_attempt();
    });
    next_attempt();
  }

 private:
  class Attempt;

  void cancel_attempt() {
    std::lock_guard lock(mu_);
    if (ctx_) ctx_->TryCancel();
  }

  void next_attempt();
  void attempt_done(Attempt& a, const grpc::Status& st);

  std::shared_ptr<const UpstreamEngine::Shared> s_;
  std::shared_ptr<engine::Generation> gen_;
  const pb::GenerateRequest req_;
  const bool want_logprobs_;
  std::set<std::string> tried_;
  int attempts_ = 0;
  std::string last_error_;
  bool busy_ = false;  // the last attempt's engine had a full queue
  std::mutex mu_;
  grpc::ClientContext* ctx_ = nullptr;  // the attempt in flight, for cancel_attempt()
  std::optional<std::stop_callback<std::function<void()>>> on_cancel_;
};

// One Generate call on one engine; deletes itself when the call is over.
class RemoteGeneration::Attempt final : public grpc::ClientReadReactor<pb::GenerateResponse> {
 public:
  Attempt(std::shared_ptr<RemoteGeneration> g, UpstreamPool::Lease lease)
      : g_(std::move(g)), lease_(std::move(lease)), stub_(g_->s_->stub(lease_.address())) {
    g_->s_->authorize(ctx_);
  }

  grpc::ClientContext& context() { return ctx_; }
  void go() {
    stub_->async()->Generate(&ctx_, &g_->req_, this);
    StartRead(&msg_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    if (msg_.done()) {
      engine::GenerateResult r;
      r.text = msg_.completion();
      r.finish_reason = from_proto(msg_.finish_reason());
      r.prompt_tokens = msg_.usage().prompt_tokens();
      r.completion_tokens = msg_.usage().completion_tokens();
      r.cached_prompt_tokens = msg_.usage().cached_prompt_tokens();
      r.time_to_first_token_s = msg_.usage().time_to_first_token_s();
      r.total_s = msg_.usage().total_s();
      r.logprobs = std::move(logprobs_);
      result_ = std::move(r);
    } else {
      engine::TokenEvent ev = from_proto(msg_);
      produced_ = true;
      text_ += ev.text;
      if (ev.token >= 0) ++tokens_;
      if (g_->want_logprobs_ && ev.chosen) logprobs_.push_back(ev);
      g_->gen_->push(std::move(ev));
    }
    StartRead(&msg_);
  }

  void OnDone(const grpc::Status& st) override {
    auto g = g_;  // this goes below
    g->attempt_done(*this, st);
    delete this;
  }

 private:
  friend class RemoteGeneration;
  std::shared_ptr<RemoteGeneration> g_;
  UpstreamPool::Lease lease_;
  std::unique_ptr<pb::Engine::Stub> stub_;
  grpc::ClientContext ctx_;
  pb::GenerateResponse msg_;
  bool produced_ = false;
  std::string text_;  // what came, for a cancelled generation's result
  int32_t tokens_ = 0;
  std::vector<engine::TokenEvent> logprobs_;
  std::optional<engine::GenerateResult> result_;
};

void RemoteGeneration::next_attempt() {
  if (gen_->cancelled()) {
    engine::GenerateResult r;
    r.finish_reason = engine::FinishReason::kCancelled;
    gen_->finish(std::move(r));
    return;
  }
  if (attempts_ >= std::max(1, s_->options.max_attempts)) {
    gen_->finish(s_->exhausted(last_error_, busy_));
    return;
  }
  auto lease = s_->pool->acquire(tried_);
  if (!lease) {
    gen_->finish(last_error_.empty() ? s_->unavailable(lease.error().message()) : s_->exhausted(last_error_, busy_));
    return;
  }
  if (attempts_++ > 0) ++s_->counters->retries;
  tried_.insert(lease->url());
  auto* a = new Attempt(shared_from_this(), std::move(*lease));
  {
    std::lock_guard lock(mu_);
    ctx_ = &a->context();
  }
  a->go();
  if (gen_->cancelled()) cancel_attempt();  // cancelled while the attempt was being set up
}

void RemoteGeneration::attempt_done(Attempt& a, const grpc::Status& st) {
  {
    std::lock_guard lock(mu_);
    ctx_ = nullptr;
  }
  const std::string& url = a.lease_.url();
  if (st.ok() && a.result_) {
    a.lease_.success();
    gen_->finish(std::move(*a.result_));
    return;
  }
  if (gen_->cancelled()) {  // the caller's doing: no verdict on the engine
    engine::GenerateResult r;
    r.text = a.text_;
    r.completion_tokens = a.tokens_;
    r.logprobs = std::move(a.logprobs_);
    r.finish_reason = engine::FinishReason::kCancelled;
    gen_->finish(std::move(r));
    return;
  }
  grpc::Status status =
      st.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "the stream ended without its final message") : st;
  last_error_ = describe(url, status);
  busy_ = status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
  const bool transient = retryable(status.error_code()) || status.error_code() == grpc::StatusCode::INTERNAL ||
                         status.error_code() == grpc::StatusCode::UNKNOWN;
  if (!transient) {  // the engine's verdict on the request (or its own timeout): passed on
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      a.lease_.failure(UpstreamFailure::kError, last_error_);
    } else {
      a.lease_.success();
    }
    gen_->finish(from_status(status));
    return;
  }
  report(a.lease_, status, last_error_);
  if (!a.produced_ || gen_->rewind()) {
    LLMC_LOG_WARN("gateway: generation failed on {} ({}){}", url, status.error_message(),
                  attempts_ < s_->options.max_attempts ? "; trying another engine" : "");
    next_attempt();
    return;
  }
  ++s_->counters->stream_errors;
  LLMC_LOG_WARN("gateway: stream from {} broke after it had started ({}); sent an error event", url,
                status.error_message());
  gen_->finish(Error(ErrorCode::kUpstreamBroken,
                     fmt::format("The engine {} failed after the response had started ({}); the response is "
                                 "incomplete and was not retried.",
                                 url, status.error_message())));
}

}  // namespace

UpstreamEngine::UpstreamEngine(std::shared_ptr<UpstreamPool> pool, std::shared_ptr<ChannelCache> channels,
                               UpstreamEngineOptions options, std::shared_ptr<GatewayCounters> counters)
    : shared_(std::make_shared<Shared>()) {
  shared_->pool = std::move(pool);
  shared_->channels = std::move(channels);
  shared_->options = std::move(options);
  shared_->counters = counters ? std::move(counters) : std::make_shared<GatewayCounters>();
}

UpstreamEngine::~UpstreamEngine() = default;

bool UpstreamEngine::ensure_info() const {
  if (info_known_.load()) return true;
  std::lock_guard lock(info_mu_);
  if (info_known_.load()) return true;
  if (shared_->pool->healthy_count() == 0) return false;  // nobody to ask (yet)
  auto now = Clock::now();
  if (now - info_tried_ < std::chrono::milliseconds(200)) return false;
  info_tried_ = now;
  auto r = unary(*shared_, pb::InfoRequest(), &pb::Engine::Stub::Info);
  if (!r.ok()) {
    LLMC_LOG_WARN("gateway: no engine told its model yet: {}", r.error().message());
    return false;
  }
  info_.name = r->model();
  info_.architecture = r->architecture();
  info_.n_ctx = r->n_ctx();
  info_.n_ctx_train = r->n_ctx_train();
  info_.n_vocab = r->n_vocab();
  info_.n_embd = r->n_embd();
  info_.bos = r->bos();
  info_.eos = r->eos();
  info_.has_chat_template = r->has_chat_template();
  info_.sep = r->sep();
  info_.add_bos = r->add_bos();
  info_.add_eos = r->add_eos();
  info_.add_sep = r->add_sep();
  info_.generates = !r->encoder();
  info_.pooling = r->pooling().empty() ? "mean" : r->pooling();
  info_known_.store(true);
  LLMC_LOG_INFO("gateway: the engines serve {} ({}, context {}, vocabulary {})", info_.name, info_.architecture,
                info_.n_ctx, info_.n_vocab);
  return true;
}

const engine::ModelInfo& UpstreamEngine::info() const {
  static const engine::ModelInfo kUnknown;
  return ensure_info() ? info_ : kUnknown;
}

bool UpstreamEngine::ready() const { return shared_->pool->healthy_count() > 0 && ensure_info(); }

Expected<std::vector<int32_t>> UpstreamEngine::tokenize(const std::string& text, bool add_special,
                                                        bool parse_special) const {
  pb::TokenizeRequest req;
  req.set_text(text);
  req.set_add_special(add_special);
  req.set_parse_special(parse_special);
  auto r = unary(*shared_, req, &pb::Engine::Stub::Tokenize);
  if (!r.ok()) return r.error();
  return std::vector<int32_t>(r->tokens().begin(), r->tokens().end());
}

std::string UpstreamEngine::detokenize(const std::vector<int32_t>& tokens) const {
  if (tokens.size() == 1) {
    std::lock_guard lock(pieces_mu_);
    if (auto it = pieces_.find(tokens[0]); it != pieces_.end()) return it->second;
  }
  pb::DetokenizeRequest req;
  req.mutable_tokens()->Add(tokens.begin(), tokens.end());
  auto r = unary(*shared_, req, &pb::Engine::Stub::Detokenize);
  if (!r.ok()) {
    LLMC_LOG_WARN("gateway: detokenize: {}", r.error().message());
    return "";
  }
  if (tokens.size() == 1) {
    std::lock_guard lock(pieces_mu_);
    if (pieces_.size() < (1u << 20)) pieces_[tokens[0]] = r->text();
  }
  return r->text();
}

Expected<std::string> UpstreamEngine::apply_chat_template(const std::vector<engine::ChatMessage>& messages,
                                                          bool add_generation_prompt, const std::string& template_name,
                                                          const nlohmann::json& tools) const {
  pb::ApplyChatTemplateRequest req;
  req.set_add_generation_prompt(add_generation_prompt);
  auto* chat = req.mutable_chat();
  for (const auto& m : messages) add_message(chat, m);
  chat->set_template_name(template_name);
  if (!tools.is_null()) chat->set_tools_json(tools.dump());
  auto r = unary(*shared_, req, &pb::Engine::Stub::ApplyChatTemplate);
  if (!r.ok()) return r.error();
  return r->prompt();
}

std::shared_ptr<engine::Generation> UpstreamEngine::submit(engine::GenerateRequest req) {
  auto gen = std::make_shared<engine::Generation>(req.cancel);
  if (req.prompt.empty()) {
    gen->finish(Error(ErrorCode::kInvalidArgument, "prompt: empty"));
    return gen;
  }
  auto call = std::make_shared<RemoteGeneration>(shared_, gen, req);
  call->start();
  return gen;
}

Expected<std::vector<float>> UpstreamEngine::embed(const std::vector<int32_t>& tokens) {
  pb::EmbedRequest req;
  req.add_token_inputs()->mutable_ids()->Add(tokens.begin(), tokens.end());
  auto r = unary(*shared_, req, &pb::Engine::Stub::Embed);
  if (!r.ok()) return r.error();
  if (r->embeddings().size() != 1) {
    return Error(ErrorCode::kInternal,
                 fmt::format("the engine gave {} embeddings for 1 input", r->embeddings().size()));
  }
  const auto& v = r->embeddings(0).values();
  return std::vector<float>(v.begin(), v.end());
}

Expected<bool> use_grpc_upstreams(UpstreamPoolOptions& pool, GatewayOptions& gateway, UpstreamEngineOptions options) {
  for (const auto& u : pool.upstreams) {
    auto parsed = parse_upstream_url(u);
    if (!parsed) return parsed.error();
    if (parsed->scheme != "grpc") {
      return Error(ErrorCode::kInvalidArgument,
                   fmt::format("upstream '{}': grpc:// and http(s):// upstreams cannot be mixed in one gateway", u));
    }
  }
  auto channels = std::make_shared<ChannelCache>(options);
  pool.probe = [channels](const UpstreamUrl& address, double timeout_s) {
    return check_health(*channels, address, timeout_s);
  };
  gateway.make_engine = [channels, options](std::shared_ptr<UpstreamPool> p,
                                            std::shared_ptr<GatewayCounters> counters) {
    return std::make_shared<UpstreamEngine>(std::move(p), channels, options, std::move(counters));
  };
  return true;
}

}  // namespace llmchain::gateway
