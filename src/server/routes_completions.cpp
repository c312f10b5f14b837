// /v1/chat/completions and /v1/completions: non-streaming and SSE streaming.
#include <fmt/format.h>

#include "server/api.h"
#include "server/openai_response.h"
#include "server/tool_calls.h"

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

// Per-prompt output collected for the non-streaming response.
struct ChoiceOutput {
  std::string text;
  std::string finish_reason;
  std::vector<engine::TokenEvent> logprobs;
};

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

HttpResponse Api::run_completion(const HttpRequest& req, const CompletionParams& p, std::vector<Prepared> prompts) {
  const auto start = Clock::now();
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
  // Every choice is a sequence of its own: more than the engine can ever hold at once would be
  // refused part-way through (429, which tells clients to retry), so it is the request's fault.
  const size_t sequences = prompts.size() * static_cast<size_t>(p.n);
  const size_t holdable = static_cast<size_t>(std::max(1, opts_.parallel) + std::max(0, opts_.max_queue));
  if (sequences > holdable) {
    throw_invalid(p.n > 1 ? "n" : "prompt",
                  fmt::format("This request needs {} sequences ({} prompt(s) x n = {}), more than this server can "
                              "hold at once ({}: --parallel {} + --max-queue {}).",
                              sequences, prompts.size(), p.n, holdable, opts_.parallel, opts_.max_queue));
  }
  if (shutting_down_.load()) {
    ApiError e{503, "The server is shutting down.", "service_unavailable", std::nullopt, "shutting_down"};
    return e.to_response();
  }
  if (!engine_.ready()) {
    ApiError e{503, "The model is not loaded yet.", "service_unavailable", std::nullopt, "not_ready"};
    return e.to_response();
  }
  auto ticket = std::make_shared<AdmissionTicket>(admit());
  if (!ticket->valid()) {
    metrics_.record_rejection();
    return rejected_response(
        fmt::format("Too many requests: {} are already running or queued (--parallel {} + "
                    "--max-queue {}). Retry later.",
                    admission_.capacity(), opts_.parallel, opts_.max_queue));
  }
  const auto deadline = deadline_from(start);
  const auto wait_limit = deadline.value_or(start + kFarFuture);
  const double timeout_s = opts_.request_timeout_s;

  ChunkHeader h;
  h.id = make_id(p.chat ? "chatcmpl-" : "cmpl-");
  h.created = unix_now();
  h.model = model_id();
  h.include_usage = p.include_usage;

  // One job per choice: n per prompt, choice k answers prompt k / n (OpenAI's order). All run
  // together in the engine's batch; with a seed, choice j of a prompt samples with seed + j.
  const int n = p.n;
  auto request_for = [&](size_t k) {
    engine::GenerateRequest g = make_generate_request(p, prompts[k / n]);
    const auto j = static_cast<uint64_t>(k % n);
    if (j > 0 && g.sampling.seed) *g.sampling.seed += j;
    return g;
  };
  const size_t n_choices = prompts.size() * static_cast<size_t>(n);
  auto jobs = std::make_shared<std::vector<std::shared_ptr<GenerationJob>>>();
  for (size_t k = 0; k < n_choices; ++k) {
    jobs->push_back(GenerationJob::start(engine_, request_for(k), start, deadline, jobs_, &metrics_, h.model, ticket));
  }
  auto cancel_from = [jobs](size_t k) {
    for (; k < jobs->size(); ++k) (*jobs)[k]->cancel();
  };

  if (!p.stream) {
    std::vector<ChoiceOutput> outs;
    Usage usage;
    for (size_t k = 0; k < n_choices; ++k) {
      const auto& job = (*jobs)[k];
      const Prepared& pr = prompts[k / n];
      // Nothing is written until the end, so the client is checked for between waits: one
      // that disconnected cancels its sequences, which frees the slots at the next decode step.
      bool done = false, gone = false;
      while (!done && !gone && Clock::now() < wait_limit) {
        done = job->wait_done(std::min(wait_limit, Clock::now() + kClientCheckInterval));
        gone = !done && req.client_gone && req.client_gone();
      }
      if (gone) {
        cancel_from(0);
        return client_gone_response();
      }
      if (!done || job->timed_out()) {
        cancel_from(0);
        return timeout_response(timeout_s);
      }
      const auto& r = job->result();
      if (!r.ok()) {
        cancel_from(0);
        return error_response(r.error());
      }
      ChoiceOutput o;
      o.text = p.echo ? pr.text + r->text : r->text;
      o.finish_reason = openai_finish_reason(r->finish_reason);
      o.logprobs = r->logprobs;
      usage.prompt_tokens += r->prompt_tokens;
      usage.completion_tokens += r->completion_tokens;
      usage.cached_tokens += r->cached_prompt_tokens;
      outs.push_back(std::move(o));
    }
    json choices = json::array();
    for (size_t i = 0; i < outs.size(); ++i) {
      const auto& o = outs[i];
      if (p.chat) {
        json message = {{"role", "assistant"}, {"content", o.text}, {"refusal", nullptr}};
        std::string finish = o.finish_reason;
        if (p.tools.any()) {
          ToolOutput t = parse_tool_output(p.tools, o.text);
          if (!t.calls.empty()) {
            message["content"] = t.content.empty() ? json(nullptr) : json(t.content);
            json calls = json::array();
            for (const auto& c : t.calls) calls.push_back(c.to_json());
            message["tool_calls"] = std::move(calls);
            if (finish == "stop") finish = p.tools.calls_finish_reason();
          }
        }
        choices.push_back({{"index", i},
                           {"message", std::move(message)},
                           {"logprobs", p.logprobs >= 0 ? chat_logprobs(o.logprobs) : json(nullptr)},
                           {"finish_reason", finish}});
      } else {
        size_t offset = p.echo ? prompts[i / n].text.size() : 0;
        choices.push_back({{"index", i},
                           {"text", o.text},
                           {"logprobs", p.logprobs >= 0 ? completion_logprobs(o.logprobs, offset) : json(nullptr)},
                           {"finish_reason", o.finish_reason}});
      }
    }
    json out = {{"id", h.id},
                {"object", p.chat ? "chat.completion" : "text_completion"},
                {"created", h.created},
                {"model", h.model},
                {"system_fingerprint", "llmchain"},
                {"choices", choices},
                {"usage", usage.to_json()}};
    HttpResponse res;
    res.body = out.dump(-1, ' ', false, json::error_handler_t::replace);
    return res;
  }

  // Streaming: wait for the first choice's first token (or its failure) so that errors found
  // by the engine still get a proper status. Choices are sent one after the other; they are
  // generated together, so later ones are mostly ready by the time their turn comes.
  auto first = jobs->front();
  auto pending = std::make_shared<std::vector<engine::TokenEvent>>();
  auto w = first->next(*pending, wait_limit);
  if (w == GenerationJob::Wait::kTimeout || first->timed_out()) {
    cancel_from(0);
    return timeout_response(timeout_s);
  }
  if (w == GenerationJob::Wait::kDone && !first->result().ok()) {
    cancel_from(0);
    return error_response(first->result().error());
  }

  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Accel-Buffering", "no");
  auto params = std::make_shared<CompletionParams>(p);
  auto shared_prompts = std::make_shared<std::vector<Prepared>>(std::move(prompts));
  res.stream = [params, shared_prompts, jobs, cancel_from, pending, h, wait_limit,
                timeout_s](const ChunkWriter& write) {
    const CompletionParams& p = *params;
    const int n = p.n;
    Usage usage;
    auto send_error = [&](const ApiError& e) { write(sse_data(e.to_json())); };
    // Tools: a forced call streams its arguments as they come; otherwise the
    // filter holds back what may be a call and the calls are sent at the end.
    const ToolSpec* direct = p.chat ? p.tools.direct_target() : nullptr;
    for (size_t k = 0; k < jobs->size(); ++k) {
      const int index = static_cast<int>(k);
      const Prepared& pr = (*shared_prompts)[k / n];
      const auto& job = (*jobs)[k];
      auto fail = [&] {  // the client went away: cancel this request's sequences only
        cancel_from(k);
      };
      std::optional<ToolStreamFilter> filter;
      if (p.chat && p.tools.any() && !direct) filter.emplace(p.tools);
      if (p.chat) {
        json role = {{"role", "assistant"}, {"content", direct ? json(nullptr) : json("")}};
        if (direct) {
          ToolCall call;
          call.id = make_id("call_");
          call.name = direct->name;
          role["tool_calls"] = json::array({call.to_delta(0)});
        }
        if (!write(sse_data(chat_chunk(h, index, role, nullptr, std::nullopt)))) return fail();
      }
      std::vector<engine::TokenEvent> events;
      if (k == 0) events.swap(*pending);
      size_t offset = 0;
      if (p.echo && !p.chat) {
        if (!write(sse_data(completion_chunk(h, index, pr.text, nullptr, std::nullopt)))) return fail();
        offset = pr.text.size();
      }
      for (;;) {
        for (const auto& ev : events) {
          bool with_lp = p.logprobs >= 0 && ev.chosen;
          std::string text = filter ? filter->feed(ev.text) : ev.text;
          if (text.empty() && !with_lp) continue;
          std::vector<engine::TokenEvent> one{ev};
          json delta = direct ? json{{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", text}}}}})}}
                              : json{{"content", text}};
          json chunk = p.chat
                           ? chat_chunk(h, index, delta, with_lp ? chat_logprobs(one) : json(nullptr), std::nullopt)
                           : completion_chunk(h, index, text,
                                              with_lp ? completion_logprobs(one, offset) : json(nullptr), std::nullopt);
          offset += ev.text.size();
          if (!write(sse_data(chunk))) return fail();
        }
        events.clear();
        auto st = job->next(events, std::min(wait_limit, Clock::now() + std::chrono::seconds(2)));
        if (st == GenerationJob::Wait::kEvents) continue;
        if (st == GenerationJob::Wait::kTimeout) {
          if (Clock::now() >= wait_limit) {
            cancel_from(0);
            send_error(timeout_error(timeout_s));
            return;
          }
          // Silence (queued or slow prompt): an SSE comment finds clients that left.
          if (!write(": keep-alive\n\n")) return fail();
          continue;
        }
        break;  // done
      }
      const auto& r = job->result();
      if (job->timed_out()) {
        cancel_from(0);
        send_error(timeout_error(timeout_s));
        return;
      }
      if (!r.ok()) {
        cancel_from(0);
        send_error(api_error_from(r.error()));
        return;
      }
      usage.prompt_tokens += r->prompt_tokens;
      usage.completion_tokens += r->completion_tokens;
      usage.cached_tokens += r->cached_prompt_tokens;
      std::string reason = openai_finish_reason(r->finish_reason);
      if (direct && reason == "stop") reason = p.tools.calls_finish_reason();
      if (filter) {
        ToolOutput t = filter->finish();
        if (!t.content.empty() &&
            !write(sse_data(chat_chunk(h, index, {{"content", t.content}}, nullptr, std::nullopt)))) {
          return fail();
        }
        if (!t.calls.empty()) {
          json deltas = json::array();
          for (size_t c = 0; c < t.calls.size(); ++c) deltas.push_back(t.calls[c].to_delta(static_cast<int>(c)));
          if (!write(sse_data(chat_chunk(h, index, {{"tool_calls", deltas}}, nullptr, std::nullopt)))) return fail();
          if (reason == "stop") reason = p.tools.calls_finish_reason();
        }
      }
      json last = p.chat ? chat_chunk(h, index, json::object(), nullptr, reason)
                         : completion_chunk(h, index, "", nullptr, reason);
      if (!write(sse_data(last))) return fail();
    }
    if (p.include_usage &&
        !write(sse_data(usage_chunk(h, p.chat ? "chat.completion.chunk" : "text_completion", usage)))) {
      return;
    }
    write(kSseDone);
  };
  return res;
}

}  // namespace llmchain::server
