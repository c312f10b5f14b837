#include "rpc/engine_service.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>

#include "base/json_util.h"
#include "base/log.h"
#include "engine/generation.h"
#include "llmchain/v1/engine.grpc.pb.h"
#include "rpc/status.h"

namespace llmchain::rpc {
namespace {

namespace pb = ::llmchain::v1;
constexpr const char* kServiceName = "llmchain.v1.Engine";

// ---- requests ----

nlohmann::json parse_json(const std::string& text, const char* field) {
  if (json_depth(text, kMaxJsonDepth) > kMaxJsonDepth) {
    fail(ErrorCode::kInvalidArgument, "{}: nests arrays and objects more than {} levels deep", field, kMaxJsonDepth);
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) fail(ErrorCode::kInvalidArgument, "{}: not valid JSON", field);
  return j;
}

// Refuses a token id the model does not have; `field` names it in the message (e.g. "tokens[3]").
void check_token(const engine::Engine& e, int32_t token, const std::string& field) {
  if (token < 0 || token >= e.info().n_vocab) {
    fail(ErrorCode::kInvalidArgument, "{}: {} is not a token of the model (0..{})", field, token, e.info().n_vocab - 1);
  }
}

// The prompt text of a chat input, rendered with the model's template (or the named one).
std::string render_chat(const pb::Chat& chat, const engine::Engine& e, bool add_generation_prompt) {
  if (chat.messages().empty()) fail(ErrorCode::kInvalidArgument, "chat.messages: empty");
  std::vector<engine::ChatMessage> messages;
  for (int i = 0; i < chat.messages().size(); ++i) {
    const auto& m = chat.messages(i);
    if (m.role().empty()) fail(ErrorCode::kInvalidArgument, "chat.messages[{}].role: empty", i);
    engine::ChatMessage msg{m.role(), m.content(), nlohmann::json::object()};
    if (!m.extra_json().empty()) {
      msg.extra = parse_json(m.extra_json(), "chat.messages[].extra_json");
      if (!msg.extra.is_object())
        fail(ErrorCode::kInvalidArgument, "chat.messages[{}].extra_json: not a JSON object", i);
    }
    messages.push_back(std::move(msg));
  }
  nlohmann::json tools = nullptr;
  if (!chat.tools_json().empty()) {
    tools = parse_json(chat.tools_json(), "chat.tools_json");
    if (!tools.is_array()) fail(ErrorCode::kInvalidArgument, "chat.tools_json: not a JSON array");
  }
  auto prompt = e.apply_chat_template(messages, add_generation_prompt, chat.template_name(), tools);
  if (!prompt.ok()) throw prompt.error();
  return std::move(*prompt);
}

std::vector<int32_t> prompt_tokens(const pb::GenerateRequest& r, const engine::Engine& e) {
  auto tokenized = [&](const std::string& text) {
    auto t = e.tokenize(text, /*add_special=*/true, /*parse_special=*/true);
    if (!t.ok()) throw t.error();
    return std::move(*t);
  };
  switch (r.input_case()) {
    case pb::GenerateRequest::kPrompt:
      if (r.prompt().empty()) fail(ErrorCode::kInvalidArgument, "prompt: empty");
      return tokenized(r.prompt());
    case pb::GenerateRequest::kTokens: {
      const auto& ids = r.tokens().ids();
      if (ids.empty()) fail(ErrorCode::kInvalidArgument, "tokens.ids: empty");
      for (int i = 0; i < ids.size(); ++i) check_token(e, ids[i], fmt::format("tokens.ids[{}]", i));
      return {ids.begin(), ids.end()};
    }
    case pb::GenerateRequest::kChat: return tokenized(render_chat(r.chat(), e, /*add_generation_prompt=*/true));
    case pb::GenerateRequest::INPUT_NOT_SET: break;
  }
  fail(ErrorCode::kInvalidArgument, "input: one of prompt, tokens or chat is required");
}

Expected<engine::GenerateRequest> to_request(const pb::GenerateRequest& r, const engine::Engine& e) {
  return capture([&]() -> engine::GenerateRequest {
    engine::GenerateRequest req;
    req.prompt = prompt_tokens(r, e);
    req.max_tokens = r.max_tokens() > 0 ? r.max_tokens() : -1;
    req.stop.assign(r.stop().begin(), r.stop().end());
    req.ignore_eos = r.ignore_eos();
    if (r.has_logprobs()) {
      if (r.logprobs() < 0 || r.logprobs() > 20) fail(ErrorCode::kInvalidArgument, "logprobs: must be 0..20");
      req.logprobs = r.logprobs();
    }
    const pb::Sampling& s = r.sampling();
    auto& p = req.sampling;
    if (s.has_temperature()) p.temperature = s.temperature();
    if (s.has_top_k()) p.top_k = s.top_k();
    if (s.has_top_p()) p.top_p = s.top_p();
    if (s.has_min_p()) p.min_p = s.min_p();
    if (s.has_typical_p()) p.typical_p = s.typical_p();
    if (s.has_repeat_penalty()) p.repeat_penalty = s.repeat_penalty();
    if (s.has_frequency_penalty()) p.frequency_penalty = s.frequency_penalty();
    if (s.has_presence_penalty()) p.presence_penalty = s.presence_penalty();
    if (s.has_penalty_last_n()) p.penalty_last_n = s.penalty_last_n();
    if (s.has_seed()) p.seed = s.seed();
    for (const auto& [token, bias] : s.logit_bias()) {
      check_token(e, token, "sampling.logit_bias");
      p.logit_bias[token] = bias;
    }
    const pb::Constraint& c = r.constraint();
    switch (c.kind_case()) {
      case pb::Constraint::kJsonSchema:
        req.constraint.json_schema = parse_json(c.json_schema(), "constraint.json_schema");
        break;
      case pb::Constraint::kGrammar: req.constraint.grammar = c.grammar(); break;
      case pb::Constraint::kJsonObject: req.constraint.json_object = c.json_object(); break;
      case pb::Constraint::KIND_NOT_SET: break;
    }
    return req;
  });
}

// ---- responses ----

void set_logprob(pb::TokenLogprob* out, const engine::TokenLogprob& lp) {
  out->set_token(lp.token);
  out->set_text(lp.text);
  out->set_logprob(lp.logprob);
}

pb::GenerateResponse to_message(const engine::TokenEvent& ev) {
  pb::GenerateResponse m;
  m.set_token(ev.token);
  m.set_text(ev.text);
  if (ev.chosen) set_logprob(m.mutable_chosen(), *ev.chosen);
  for (const auto& t : ev.top) set_logprob(m.add_top(), t);
  return m;
}

pb::FinishReason to_proto(engine::FinishReason r) {
  switch (r) {
    case engine::FinishReason::kStop: return pb::FINISH_REASON_STOP;
    case engine::FinishReason::kLength: return pb::FINISH_REASON_LENGTH;
    case engine::FinishReason::kCancelled: return pb::FINISH_REASON_CANCELLED;
  }
  return pb::FINISH_REASON_UNSPECIFIED;
}

pb::GenerateResponse final_message(const engine::GenerateResult& r) {
  pb::GenerateResponse m;
  m.set_token(-1);
  m.set_done(true);
  m.set_finish_reason(to_proto(r.finish_reason));
  m.set_completion(r.text);
  auto* u = m.mutable_usage();
  u->set_prompt_tokens(r.prompt_tokens);
  u->set_completion_tokens(r.completion_tokens);
  u->set_cached_prompt_tokens(r.cached_prompt_tokens);
  u->set_time_to_first_token_s(r.time_to_first_token_s);
  u->set_total_s(r.total_s);
  return m;
}

// One Generate call: the generation's events, written one at a time in order as gRPC finishes
// each write. The engine's decode thread only appends to the queue (and starts a write when
// none is in flight). Owned by itself from start() to OnDone; the generation's callbacks hold
// it weakly, so a call that is over costs the engine nothing.
class GenerateCall final : public grpc::ServerWriteReactor<pb::GenerateResponse>,
                           public std::enable_shared_from_this<GenerateCall> {
 public:
  static GenerateCall* start(std::shared_ptr<engine::Generation> gen) {
    auto call = std::shared_ptr<GenerateCall>(new GenerateCall(std::move(gen)));
    call->self_ = call;
    std::weak_ptr<GenerateCall> weak = call;
    call->gen_->subscribe({[weak](const engine::TokenEvent& ev) {
                             if (auto c = weak.lock()) c->on_event(ev);
                           },
                           [weak](const Expected<engine::GenerateResult>& r) {
                             if (auto c = weak.lock()) c->on_done(r);
                           }});
    return call.get();
  }
  // A call refused before anything was submitted.
  static GenerateCall* refuse(grpc::Status status) {
    auto call = std::shared_ptr<GenerateCall>(new GenerateCall(nullptr));
    call->self_ = call;
    std::lock_guard lock(call->mu_);
    call->status_ = std::move(status);
    call->finishing_ = true;
    call->pump();
    return call.get();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {  // the client is gone: nothing more will be written
      broken_ = true;
      queue_.clear();
      if (gen_) gen_->cancel();
    }
    pump();
  }
  void OnCancel() override {
    if (gen_) gen_->cancel();
  }
  void OnDone() override {
    std::shared_ptr<GenerateCall> last;
    std::lock_guard lock(mu_);
    last.swap(self_);  // freed after the lock is released (or by a callback still running)
  }

 private:
  explicit GenerateCall(std::shared_ptr<engine::Generation> gen) : gen_(std::move(gen)) {}

  void on_event(const engine::TokenEvent& ev) {
    std::lock_guard lock(mu_);
    if (broken_) return;
    queue_.push_back(to_message(ev));
    pump();
  }

  void on_done(const Expected<engine::GenerateResult>& r) {
    std::lock_guard lock(mu_);
    if (r.ok()) {
      if (!broken_) queue_.push_back(final_message(*r));
      status_ = r->finish_reason == engine::FinishReason::kCancelled && broken_
                    ? grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled")
                    : grpc::Status::OK;
    } else {
      status_ = to_status(r.error());
    }
    finishing_ = true;
    pump();
  }

  // With mu_ held: the next write, or the end once everything is written.
  void pump() {
    if (writing_ || finished_) return;
    if (!queue_.empty()) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      StartWrite(&current_);
    } else if (finishing_) {
      finished_ = true;
      Finish(status_);
    }
  }

  std::shared_ptr<engine::Generation> gen_;
  std::mutex mu_;
  std::shared_ptr<GenerateCall> self_;
  std::deque<pb::GenerateResponse> queue_;
  pb::GenerateResponse current_;  // the message being written
  grpc::Status status_;
  bool writing_ = false, broken_ = false, finishing_ = false, finished_ = false;
};

class EngineService final : public pb::Engine::CallbackService {
 public:
  EngineService(engine::Engine& engine, const RpcServerOptions& o) : engine_(engine), options_(o) {}

  grpc::ServerWriteReactor<pb::GenerateResponse>* Generate(grpc::CallbackServerContext* ctx,
                                                           const pb::GenerateRequest* req) override {
    if (auto denied = check_auth(ctx)) {
      return GenerateCall::refuse(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, denied->message()));
    }
    auto r = to_request(*req, engine_);
    if (!r.ok()) return GenerateCall::start(engine::Generation::failed(r.error()));
    return GenerateCall::start(engine_.submit(std::move(*r)));
  }

  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* ctx, const pb::EmbedRequest* req,
                                  pb::EmbedResponse* resp) override {
    return unary(ctx, [&] {
      const int n_text = req->inputs().size(), n_tok = req->token_inputs().size();
      if (n_text > 0 && n_tok > 0) fail(ErrorCode::kInvalidArgument, "inputs, token_inputs: give one, not both");
      if (n_text + n_tok == 0) fail(ErrorCode::kInvalidArgument, "inputs: empty");
      if (n_text + n_tok > options_.max_inputs) {
        fail(ErrorCode::kInvalidArgument, "inputs: {} inputs, at most {} per call", n_text + n_tok,
             options_.max_inputs);
      }
      for (int i = 0; i < n_text + n_tok; ++i) {
        std::vector<int32_t> tokens;
        if (n_text > 0) {
          auto t = engine_.tokenize(req->inputs(i), /*add_special=*/true, /*parse_special=*/false);
          if (!t.ok()) throw t.error();
          tokens = std::move(*t);
        } else {
          const auto& ids = req->token_inputs(i).ids();
          for (int k = 0; k < ids.size(); ++k)
            check_token(engine_, ids[k], fmt::format("token_inputs[{}].ids[{}]", i, k));
          tokens.assign(ids.begin(), ids.end());
        }
        if (tokens.empty())
          fail(ErrorCode::kInvalidArgument, "{}[{}]: empty", n_text > 0 ? "inputs" : "token_inputs", i);
        auto v = engine_.embed(tokens);
        if (!v.ok()) throw v.error();
        auto* out = resp->add_embeddings();
        out->mutable_values()->Add(v->begin(), v->end());
        out->set_tokens(static_cast<int32_t>(tokens.size()));
      }
    });
  }

  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* ctx, const pb::TokenizeRequest* req,
                                     pb::TokenizeResponse* resp) override {
    return unary(ctx, [&] {
      auto tokens = engine_.tokenize(req->text(), req->add_special(), req->parse_special());
      if (!tokens.ok()) throw tokens.error();
      resp->mutable_tokens()->Add(tokens->begin(), tokens->end());
      if (req->with_pieces()) {
        for (int32_t t : *tokens) resp->add_pieces(engine_.detokenize({t}));
      }
    });
  }

  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* ctx, const pb::DetokenizeRequest* req,
                                       pb::DetokenizeResponse* resp) override {
    return unary(ctx, [&] {
      for (int i = 0; i < req->tokens().size(); ++i) check_token(engine_, req->tokens(i), fmt::format("tokens[{}]", i));
      resp->set_text(engine_.detokenize({req->tokens().begin(), req->tokens().end()}));
    });
  }

  grpc::ServerUnaryReactor* ApplyChatTemplate(grpc::CallbackServerContext* ctx, const pb::ApplyChatTemplateRequest* req,
                                              pb::ApplyChatTemplateResponse* resp) override {
    return unary(ctx, [&] { resp->set_prompt(render_chat(req->chat(), engine_, req->add_generation_prompt())); });
  }

  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext* ctx, const pb::InfoRequest*,
                                 pb::InfoResponse* resp) override {
    return unary(ctx, [&] {
      const engine::ModelInfo& i = engine_.info();
      resp->set_model(i.name);
      resp->set_architecture(i.architecture);
      resp->set_n_ctx(i.n_ctx);
      resp->set_n_ctx_train(i.n_ctx_train);
      resp->set_n_vocab(i.n_vocab);
      resp->set_n_embd(i.n_embd);
      resp->set_bos(i.bos);
      resp->set_eos(i.eos);
      resp->set_has_chat_template(i.has_chat_template);
      resp->set_sep(i.sep);
      resp->set_add_bos(i.add_bos);
      resp->set_add_eos(i.add_eos);
      resp->set_add_sep(i.add_sep);
      resp->set_encoder(!i.generates);
      resp->set_pooling(i.pooling);
      resp->set_ready(engine_.ready());
      const engine::EngineStats s = engine_.stats();
      resp->set_running(s.running);
      resp->set_waiting(s.waiting);
      resp->set_kv_cells_used(s.kv_cells_used);
      resp->set_kv_cells_total(s.kv_cells_total);
    });
  }

 private:
  std::optional<Error> check_auth(grpc::CallbackServerContext* ctx) const {
    if (options_.api_key.empty()) return std::nullopt;
    const auto& md = ctx->client_metadata();
    auto it = md.find("authorization");
    if (it != md.end() && std::string_view(it->second.data(), it->second.size()) == "Bearer " + options_.api_key) {
      return std::nullopt;
    }
    return Error(ErrorCode::kInvalidArgument, "authorization: a valid API key is required (Bearer KEY)");
  }

  // Runs a unary call's work and finishes it with its status.
  template <typename F>
  grpc::ServerUnaryReactor* unary(grpc::CallbackServerContext* ctx, F&& work) {
    auto* reactor = ctx->DefaultReactor();
    if (auto denied = check_auth(ctx)) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, denied->message()));
      return reactor;
    }
    auto done = capture([&] {
      work();
      return true;
    });
    reactor->Finish(done.ok() ? grpc::Status::OK : to_status(done.error()));
    return reactor;
  }

  engine::Engine& engine_;
  RpcServerOptions options_;
};

}  // namespace

struct RpcServer::Impl {
  engine::Engine& engine;
  RpcServerOptions options;
  EngineService service;
  std::unique_ptr<grpc::Server> server;
  Impl(engine::Engine& e, RpcServerOptions o) : engine(e), options(std::move(o)), service(e, options) {}
};

RpcServer::RpcServer(engine::Engine& engine, RpcServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

RpcServer::~RpcServer() { shutdown(0); }

Expected<int> RpcServer::start() {
  grpc::EnableDefaultHealthCheckService(true);
  const auto& o = impl_->options;
  const std::string host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
  const std::string address = fmt::format("{}:{}", host, o.port);
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&impl_->service);
  b.SetMaxReceiveMessageSize(o.max_message_bytes);
  impl_->server = b.BuildAndStart();
  if (!impl_->server || port == 0) {
    impl_->server.reset();
    return Error(ErrorCode::kUnavailable, fmt::format("gRPC: cannot listen on {}", address));
  }
  set_serving(impl_->engine.ready());
  return port;
}

void RpcServer::set_serving(bool serving) {
  if (!impl_->server) return;
  if (auto* health = impl_->server->GetHealthCheckService()) {
    health->SetServingStatus(serving);
    health->SetServingStatus(kServiceName, serving);
  }
}

void RpcServer::shutdown(double grace_s) {
  if (!impl_->server) return;
  set_serving(false);
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, grace_s) * 1000));
  impl_->server->Shutdown(deadline);
  impl_->server.reset();
}

}  // namespace llmchain::rpc
