#include "engine/local_engine.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "base/log.h"
#include "chat/chat_template.h"
#include "chat/template.h"
#include "engine/scheduler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace llmchain::engine {

Expected<std::unique_ptr<LocalEngine>> LocalEngine::load(const std::string& path, const EngineOptions& opts_in) {
  return capture([&]() -> std::unique_ptr<LocalEngine> {
    std::unique_ptr<LocalEngine> e(new LocalEngine());
    e->opts_ = opts_in;
    e->model_ = model::Model::load(path, *model::backend_named(opts_in.backend).value()).value();
    e->tok_ = tokenizer::Tokenizer::from_gguf(e->model_->file()).value();
    const auto& hp = e->model_->hparams();
    if (e->tok_->n_vocab() != hp.n_vocab) {
      // Some converters pad the embedding matrix beyond the vocabulary; the reverse is an error.
      if (e->tok_->n_vocab() > hp.n_vocab)
        fail(ErrorCode::kInvalidFile, "{}: tokenizer has {} tokens but the model only {}", path, e->tok_->n_vocab(),
             hp.n_vocab);
    }
    EngineOptions& o = e->opts_;
    if (o.n_parallel < 1) fail(ErrorCode::kInvalidArgument, "parallel must be at least 1 (got {})", o.n_parallel);
    if (o.n_ctx <= 0) o.n_ctx = std::min<int32_t>(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096);
    if (o.n_batch < 1) o.n_batch = 256;
    if (o.model_name.empty()) o.model_name = std::filesystem::path(path).filename().string();

    // Chat template: the named built-in, else the model's own, else chatml.
    std::string src, tname = "chatml";
    if (!o.chat_template.empty()) {
      src = chat::builtin_template_source(o.chat_template).value();
      tname = o.chat_template;
    } else if (e->model_->file().has("tokenizer.chat_template")) {
      src = e->model_->file().get_string("tokenizer.chat_template");
      tname = "tokenizer.chat_template";
      e->info_.has_chat_template = true;
    } else {
      src = chat::builtin_template_source("chatml").value();
    }
    e->template_ = std::make_shared<chat::Template>(chat::Template::parse(src, tname).value());

    ModelInfo& info = e->info_;
    info.name = o.model_name;
    info.architecture = hp.arch;
    info.n_ctx = o.n_ctx;
    info.n_ctx_train = hp.n_ctx_train;
    info.n_vocab = hp.n_vocab;
    info.n_embd = hp.n_embd;
    info.bos = e->tok_->bos();
    info.eos = e->tok_->eos();
    info.sep = e->tok_->sep();
    info.add_bos = e->tok_->add_bos();
    info.add_eos = e->tok_->add_eos();
    info.add_sep = e->tok_->add_sep();
    info.generates = !e->model_->arch().encoder;
    info.pooling = e->model_->arch().encoder ? model::to_string(hp.pooling) : "mean";
    e->scheduler_ = std::make_unique<Scheduler>(e->model_, e->tok_, o);
    LLMC_LOG_INFO("loaded {} ({}; {} layers, n_embd {}, vocab {}), {} slots x {} ctx", path, hp.arch, hp.n_layer,
                  hp.n_embd, hp.n_vocab, o.n_parallel, o.n_ctx);
    return e;
  });
}

LocalEngine::~LocalEngine() = default;

bool LocalEngine::ready() const { return scheduler_ != nullptr; }

Expected<std::vector<int32_t>> LocalEngine::tokenize(const std::string& text, bool add_special,
                                                     bool parse_special) const {
  return tok_->encode(text, add_special, parse_special);
}

std::string LocalEngine::detokenize(const std::vector<int32_t>& tokens) const {
  for (int32_t t : tokens)
    if (t < 0 || t >= tok_->n_vocab()) return {};
  return tok_->decode(tokens);
}

Expected<std::string> LocalEngine::apply_chat_template(const std::vector<ChatMessage>& messages,
                                                       bool add_generation_prompt, const std::string& template_name,
                                                       const nlohmann::json& tools) const {
  return capture([&]() -> std::string {
    nlohmann::json msgs = nlohmann::json::array();
    for (const auto& m : messages) {
      nlohmann::json j = m.extra.is_object() ? m.extra : nlohmann::json::object();
      j["role"] = m.role;
      j["content"] = m.content;
      msgs.push_back(std::move(j));
    }
    chat::ChatOptions co;
    co.add_generation_prompt = add_generation_prompt;
    co.tools = tools;
    co.bos_token = tok_->bos() >= 0 ? tok_->text(tok_->bos()) : "";
    co.eos_token = tok_->eos() >= 0 ? tok_->text(tok_->eos()) : "";
    if (!template_name.empty()) {
      auto t = chat::Template::parse(chat::builtin_template_source(template_name).value(), template_name).value();
      return chat::apply_chat_template(t, msgs, co).value();
    }
    return chat::apply_chat_template(*template_, msgs, co).value();
  });
}

std::shared_ptr<Generation> LocalEngine::submit(GenerateRequest req) {
  auto r = std::make_shared<Request>();
  r->kind = Request::Kind::kGenerate;
  r->gen = std::make_shared<Generation>(req.cancel);
  auto queued = capture([&]() -> bool {
    if (model_->arch().encoder)
      fail(ErrorCode::kInvalidArgument, "{} is an embedding model ({}): it does not generate text", info_.name,
           info_.architecture);
    if (req.prompt.empty()) fail(ErrorCode::kInvalidArgument, "the prompt is empty (no tokens)");
    for (int32_t t : req.prompt)
      if (t < 0 || t >= model_->hparams().n_vocab)
        fail(ErrorCode::kInvalidArgument, "prompt token id {} is outside the vocabulary", t);
    if (static_cast<int32_t>(req.prompt.size()) >= opts_.n_ctx)
      fail(ErrorCode::kInvalidArgument, "the prompt has {} tokens, more than the context size {} allows",
           req.prompt.size(), opts_.n_ctx);
    // The sampler, with its constraint compiled here on the caller's thread under a time budget
    // (a large schema never stalls the decode loop everyone shares).
    sampling::SamplingParams sp = req.sampling;
    sp.n_probs = std::max(sp.n_probs, req.logprobs);
    sampling::CompileBudget budget;
    budget.deadline = std::chrono::steady_clock::now() +
                      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>(std::max(0.001, opts_.constraint_timeout_s)));
    budget.stop = r->gen->stop_token();
    r->sampler = sampling::Sampler::create(sp, req.constraint, scheduler_->vocab(), budget).value();
    if (r->sampler->constrained()) {
      r->sampler->min_tokens_to_complete();  // the start state's completion, computed here too
      budget.check();
    }
    r->req = std::move(req);
    scheduler_->submit(r);
    return true;
  });
  if (!queued) r->gen->finish(queued.error());
  return r->gen;
}

Expected<std::vector<float>> LocalEngine::embed(const std::vector<int32_t>& tokens) {
  return capture([&]() -> std::vector<float> {
    if (tokens.empty()) fail(ErrorCode::kInvalidArgument, "cannot embed an empty input");
    if (static_cast<int32_t>(tokens.size()) > opts_.n_ctx)
      fail(ErrorCode::kInvalidArgument, "input of {} tokens exceeds the context size {}", tokens.size(), opts_.n_ctx);
    for (int32_t t : tokens)
      if (t < 0 || t >= model_->hparams().n_vocab)
        fail(ErrorCode::kInvalidArgument, "token id {} is outside the vocabulary", t);
    auto r = std::make_shared<Request>();
    r->kind = Request::Kind::kEmbed;
    r->embed_tokens = tokens;
    scheduler_->submit_and_wait(r);
    if (r->error) throw *r->error;
    return std::move(r->embedding);
  });
}

EngineStats LocalEngine::stats() const { return scheduler_->stats(); }

}  // namespace llmchain::engine
