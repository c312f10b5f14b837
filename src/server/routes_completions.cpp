// /v1/chat/completions and /v1/completions: non-streaming and SSE streaming.
#include <fmt/format.h>

#include "server/api.h"
#include "server/completion_choice.h"
#include "server/openai_response.h"

namespace llmchain::server {

using nlohmann::json;

namespace {

constexpr auto kFarFuture = std::chrono::hours(24 * 365);

HttpResponse rejected_response(const std::string& message) {
  ApiError e{429, message, "rate_limit_error", std::nullopt, "queue_full"};
  HttpResponse res = e.to_response();
  res.headers.emplace_back("Retry-After", "1");
  return res;
}

HttpResponse error_response(const Error& err) {
  ApiError e = api_error_from(err);
  HttpResponse res = e.to_response();
  if (e.status == 429) res.headers.emplace_back("Retry-After", "1");
  return res;
}

ApiError timeout_error(double seconds) {
  return {504, fmt::format("The request did not finish within the server's request timeout of {} s.", seconds),
          "timeout_error", std::nullopt, "timeout"};
}

HttpResponse timeout_response(double seconds) { return timeout_error(seconds).to_response(); }

// How often a non-streaming request checks that its client is still connected.
constexpr auto kClientCheckInterval = std::chrono::milliseconds(20);

// For the access log and metrics only: nobody reads it (nginx's "client closed request").
HttpResponse client_gone_response() {
  return ApiError{499, "The client closed the connection; the generation was cancelled.", "invalid_request_error",
                  std::nullopt, "client_closed_request"}
      .to_response();
}

// The choices of one request running in the engine: a job per choice, choice k answering
// prompt k / n (OpenAI's order), all generated together in the engine's batch.
struct Choices {
  std::vector<std::shared_ptr<GenerationJob>> jobs;
  std::vector<std::string> prompt_texts;  // per choice, for echo
  ChunkHeader header;
  Clock::time_point wait_limit;  // the request's deadline, or far away
  double timeout_s = 0;
  // Cancels the choices from k on (a client gone, a failure: the others need not run on).
  void cancel_from(size_t k) {
    for (; k < jobs.size(); ++k) jobs[k]->cancel();
  }
  void add_usage(Usage& u, const engine::GenerateResult& r) const {
    u.prompt_tokens += r.prompt_tokens;
    u.completion_tokens += r.completion_tokens;
    u.cached_tokens += r.cached_prompt_tokens;
  }
};

// Waits for every choice, then answers with them all (chat.completion / text_completion). Nothing
// is written until the end, so the client is checked for between waits: one that disconnected
// cancels its sequences, which frees the slots at the next decode step.
HttpResponse whole_response(const HttpRequest& req, const CompletionParams& p, Choices& run) {
  json choices = json::array();
  Usage usage;
  for (size_t k = 0; k < run.jobs.size(); ++k) {
    const auto& job = run.jobs[k];
    bool done = false, gone = false;
    while (!done && !gone && Clock::now() < run.wait_limit) {
      done = job->wait_done(std::min(run.wait_limit, Clock::now() + kClientCheckInterval));
      gone = !done && req.client_gone && req.client_gone();
    }
    if (gone || !done || job->timed_out() || !job->result().ok()) {
      run.cancel_from(0);
      if (gone) return client_gone_response();
      if (!done || job->timed_out()) return timeout_response(run.timeout_s);
      return error_response(job->result().error());
    }
    const auto& r = *job->result();
    choices.push_back(ChoiceRenderer(p, run.header, static_cast<int>(k), run.prompt_texts[k]).whole(r));
    run.add_usage(usage, r);
  }
  json out = {{"id", run.header.id},
              {"object", p.chat ? "chat.completion" : "text_completion"},
              {"created", run.header.created},
              {"model", run.header.model},
              {"system_fingerprint", "llmchain"},
              {"choices", std::move(choices)},
              {"usage", usage.to_json()}};
  HttpResponse res;
  res.body = out.dump(-1, ' ', false, json::error_handler_t::replace);
  return res;
}

// Sends one choice's chunks as its tokens come. False when the stream ended: the client went
// away (its choices from k on are cancelled) or the choice failed (an error event was sent).
bool stream_choice(const CompletionParams& p, Choices& run, size_t k, std::vector<engine::TokenEvent> events,
                   Usage& usage, const ChunkWriter& write) {
  const auto& job = run.jobs[k];
  ChoiceRenderer choice(p, run.header, static_cast<int>(k), run.prompt_texts[k]);
  auto send = [&](const json& chunk) { return write(sse_data(chunk)); };
  auto gone = [&] {
    run.cancel_from(k);
    return false;
  };
  auto failed = [&](const ApiError& e) {
    run.cancel_from(0);
    write(sse_data(e.to_json()));
    return false;
  };
  for (const json& c : choice.opening())
    if (!send(c)) return gone();
  for (;;) {
    for (const auto& ev : events)
      if (auto chunk = choice.on_event(ev); chunk && !send(*chunk)) return gone();
    events.clear();
    auto st = job->next(events, std::min(run.wait_limit, Clock::now() + std::chrono::seconds(2)));
    if (st == GenerationJob::Wait::kEvents) continue;
    if (st == GenerationJob::Wait::kDone) break;
    if (Clock::now() >= run.wait_limit) return failed(timeout_error(run.timeout_s));
    // Silence (queued or slow prompt): an SSE comment finds clients that left.
    if (!write(": keep-alive\n\n")) return gone();
  }
  if (job->timed_out()) return failed(timeout_error(run.timeout_s));
  const auto& r = job->result();
  if (!r.ok()) return failed(api_error_from(r.error()));
  run.add_usage(usage, *r);
  for (const json& c : choice.closing(*r))
    if (!send(c)) return gone();
  return true;
}

// SSE: the choices one after the other (generated together, later ones are mostly ready by the
// time their turn comes), the usage chunk when asked for, [DONE]. The first choice's first
// event (or its failure) is awaited before answering, so errors found by the engine still get
// a proper status.
HttpResponse stream_response(const CompletionParams& p, std::shared_ptr<Choices> run) {
  std::vector<engine::TokenEvent> first_events;
  const auto& first = run->jobs.front();
  const auto w = first->next(first_events, run->wait_limit);
  if (w == GenerationJob::Wait::kTimeout || first->timed_out()) {
    run->cancel_from(0);
    return timeout_response(run->timeout_s);
  }
  if (w == GenerationJob::Wait::kDone && !first->result().ok()) {
    run->cancel_from(0);
    return error_response(first->result().error());
  }
  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Accel-Buffering", "no");
  auto params = std::make_shared<CompletionParams>(p);
  auto pending = std::make_shared<std::vector<engine::TokenEvent>>(std::move(first_events));
  res.stream = [params, run, pending](const ChunkWriter& write) {
    const CompletionParams& p = *params;
    Usage usage;
    for (size_t k = 0; k < run->jobs.size(); ++k) {
      std::vector<engine::TokenEvent> events;
      if (k == 0) events.swap(*pending);
      if (!stream_choice(p, *run, k, std::move(events), usage, write)) return;
    }
    const char* object = p.chat ? "chat.completion.chunk" : "text_completion";
    if (p.include_usage && !write(sse_data(usage_chunk(run->header, object, usage)))) return;
    write(kSseDone);
  };
  return res;
}

}  // namespace

std::optional<Clock::time_point> Api::deadline_from(Clock::time_point start) const {
  if (opts_.request_timeout_s <= 0) return std::nullopt;
  return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts_.request_timeout_s));
}

engine::GenerateRequest Api::make_generate_request(const CompletionParams& p, const Prepared& prompt) const {
  engine::GenerateRequest g;
  g.prompt = prompt.tokens;
  int32_t n_ctx = engine_.info().n_ctx;
  int32_t room = n_ctx > 0 ? n_ctx - static_cast<int32_t>(prompt.tokens.size()) : -1;
  // max_tokens is capped by what is left of the context (finish_reason "length").
  if (p.max_tokens) {
    g.max_tokens = room >= 0 ? std::min(*p.max_tokens, room) : *p.max_tokens;
  } else {
    g.max_tokens = -1;
  }
  g.stop = p.stop;
  g.sampling = p.sampling;
  g.constraint = p.constraint;
  g.logprobs = p.logprobs;
  if (p.logprobs >= 0) g.sampling.n_probs = p.logprobs;
  return g;
}

HttpResponse Api::chat_completions(const HttpRequest& req) {
  json body = parse_json_body(req.body);
  CompletionParams p = parse_chat_request(body, engine_.info().n_vocab);
  require_served_model(p.model);
  auto prompt = engine_.apply_chat_template(p.messages, true, opts_.chat_template, p.tools.tools);
  if (!prompt) throw ApiException(api_error_from(prompt.error()));
  auto toks = engine_.tokenize(*prompt, true, true);
  if (!toks) throw ApiException(api_error_from(toks.error()));
  std::vector<Prepared> prompts;
  prompts.push_back({std::move(*toks), std::move(*prompt)});
  return run_completion(req, p, std::move(prompts));
}

HttpResponse Api::completions(const HttpRequest& req) {
  json body = parse_json_body(req.body);
  CompletionParams p = parse_completion_request(body, engine_.info().n_vocab);
  require_served_model(p.model);
  std::vector<Prepared> prompts;
  for (const auto& in : p.prompts) {
    Prepared pr;
    if (in.tokens) {
      pr.tokens = *in.tokens;
      pr.text = engine_.detokenize(pr.tokens);
    } else {
      auto t = engine_.tokenize(in.text, true, true);
      if (!t) throw ApiException(api_error_from(t.error()));
      pr.tokens = std::move(*t);
      pr.text = in.text;
    }
    prompts.push_back(std::move(pr));
  }
  return run_completion(req, p, std::move(prompts));
}

AdmissionTicket Api::admit() {
  if (!admission_.try_acquire()) return AdmissionTicket();
  return AdmissionTicket(&admission_);
}

// Prompts that can never fit are the request's fault (400 naming the field); so is asking for
// more sequences than the engine can ever hold at once (it would be refused part-way: 429).
void Api::check_prompts(const CompletionParams& p, const std::vector<Prepared>& prompts) const {
  const int32_t n_ctx = engine_.info().n_ctx;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::string param = p.chat ? "messages" : (prompts.size() == 1 ? "prompt" : fmt::format("prompt[{}]", i));
    size_t n = prompts[i].tokens.size();
    if (n == 0) throw_invalid(param, fmt::format("'{}' is empty after tokenization.", param));
    if (n_ctx > 0 && static_cast<int64_t>(n) >= n_ctx) {
      throw_invalid(param,
                    fmt::format("This model's maximum context length is {} tokens, but '{}' is {} tokens. Shorten "
                                "the {}.",
                                n_ctx, param, n, p.chat ? "messages" : "prompt"),
                    "context_length_exceeded");
    }
  }
  const size_t sequences = prompts.size() * static_cast<size_t>(p.n);
  const size_t holdable = static_cast<size_t>(std::max(1, opts_.parallel) + std::max(0, opts_.max_queue));
  if (sequences > holdable) {
    throw_invalid(p.n > 1 ? "n" : "prompt",
                  fmt::format("This request needs {} sequences ({} prompt(s) x n = {}), more than this server can "
                              "hold at once ({}: --parallel {} + --max-queue {}).",
                              sequences, prompts.size(), p.n, holdable, opts_.parallel, opts_.max_queue));
  }
}

// 503 while shutting down or loading; 429 when the admitted requests fill --parallel +
// --max-queue. Otherwise nothing, and `ticket` holds the admission.
std::optional<HttpResponse> Api::refuse_generation(std::shared_ptr<AdmissionTicket>& ticket) {
  if (shutting_down_.load())
    return ApiError{503, "The server is shutting down.", "service_unavailable", std::nullopt, "shutting_down"}
        .to_response();
  if (!engine_.ready())
    return ApiError{503, "The model is not loaded yet.", "service_unavailable", std::nullopt, "not_ready"}
        .to_response();
  ticket = std::make_shared<AdmissionTicket>(admit());
  if (ticket->valid()) return std::nullopt;
  metrics_.record_rejection();
  return rejected_response(
      fmt::format("Too many requests: {} are already running or queued (--parallel {} + --max-queue {}). Retry later.",
                  admission_.capacity(), opts_.parallel, opts_.max_queue));
}

HttpResponse Api::run_completion(const HttpRequest& req, const CompletionParams& p, std::vector<Prepared> prompts) {
  const auto start = Clock::now();
  check_prompts(p, prompts);
  std::shared_ptr<AdmissionTicket> ticket;
  if (auto refused = refuse_generation(ticket)) return std::move(*refused);
  const auto deadline = deadline_from(start);
  auto run = std::make_shared<Choices>();
  run->header = {make_id(p.chat ? "chatcmpl-" : "cmpl-"), unix_now(), model_id(), p.include_usage};
  run->wait_limit = deadline.value_or(start + kFarFuture);
  run->timeout_s = opts_.request_timeout_s;
  // With a seed, choice j of a prompt samples with seed + j.
  const auto n = static_cast<size_t>(p.n);
  for (size_t k = 0; k < prompts.size() * n; ++k) {
    engine::GenerateRequest g = make_generate_request(p, prompts[k / n]);
    if (k % n > 0 && g.sampling.seed) *g.sampling.seed += k % n;
    run->prompt_texts.push_back(prompts[k / n].text);
    run->jobs.push_back(
        GenerationJob::start(engine_, std::move(g), start, deadline, jobs_, &metrics_, run->header.model, ticket));
  }
  return p.stream ? stream_response(p, std::move(run)) : whole_response(req, p, *run);
}

}  // namespace llmchain::server
