#include "server/chain_routes.h"

#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "chain/registry.h"
#include "server/api_error.h"
#include "server/openai_request.h"
#include "server/openai_response.h"

namespace llmchain::server {

using nlohmann::json;

namespace {

HttpResponse json_ok(const json& j) {
  HttpResponse res;
  res.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return res;
}

std::string new_run_id() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t seed = std::random_device{}();
  uint64_t n = seed ^ (counter.fetch_add(1) * 0x9E3779B97F4A7C15ull);
  return fmt::format("run-{:016x}", n);
}

// A chain error as the OpenAI-shaped API error. A guard block is a policy decision, never a
// server error: 400 for the input, 422 for the model's output (the request was fine, the
// answer may not be given), code "guard_blocked", the message naming the guard.
ApiError chain_error(const Error& e) {
  ApiError out = api_error_from(e);
  if (e.message().find("guard '") != std::string::npos && e.message().find("blocked") != std::string::npos) {
    const bool input = e.code() == ErrorCode::kInvalidArgument;
    out.status = input ? 400 : 422;
    out.type = "invalid_request_error";
    out.code = "guard_blocked";
    out.param = input ? "input" : "output";
  } else if (e.code() == ErrorCode::kNotFound) {
    out.code = "chain_not_found";
  } else if (e.code() == ErrorCode::kOutputParseFailed) {
    // The model, not the client, failed: a bad gateway answer, with the raw text in the message.
    out.status = 502;
    out.type = "server_error";
    out.code = "output_parse_failed";
  }
  return out;
}

[[noreturn]] void throw_chain_error(const Error& e) { throw ApiException(chain_error(e)); }

// The request's "config" with the session id lifted from config.configurable.session_id.
chain::RunConfig run_config(const json& body) {
  json cfg = body.contains("config") ? body["config"] : json::object();
  if (cfg.is_object() && !cfg.contains("session_id") && cfg.contains("configurable") &&
      cfg["configurable"].is_object() && cfg["configurable"].contains("session_id")) {
    cfg["session_id"] = cfg["configurable"]["session_id"];
  }
  auto c = chain::ChainRegistry::config_from_json(cfg);
  if (!c) throw_invalid("config", c.error().message());
  return std::move(*c);
}

json metadata(const std::string& run_id, const std::string& name, const chain::RunConfig& c, Clock::time_point t0) {
  json m = {{"run_id", run_id},
            {"chain", name},
            {"duration_ms", std::chrono::duration<double, std::milli>(Clock::now() - t0).count()}};
  if (!c.session_id.empty()) m["session_id"] = c.session_id;
  auto events = c.guard_events ? c.guard_events->events() : std::vector<chain::GuardEvent>{};
  if (!events.empty()) {
    json guards = json::array();
    for (const auto& e : events) {
      guards.push_back({{"guard", e.guard}, {"action", e.action}, {"stage", e.stage}, {"reason", e.reason}});
    }
    m["guards"] = std::move(guards);
  }
  return m;
}

std::string sse_event(const char* event, const json& data) {
  return fmt::format("event: {}\ndata: {}\n\n", event, data.dump(-1, ' ', false, json::error_handler_t::replace));
}

// While in scope, a helper thread checks every 20 ms that the client is still connected and
// cancels `token` (the chain and its model call) once it is not: invoke and batch write nothing
// until they are done.
class DisconnectCanceller {
 public:
  DisconnectCanceller(const HttpRequest& req, chain::CancellationToken token) {
    if (!req.client_gone) return;
    thread_ = std::thread([this, gone = req.client_gone, token] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stop_; })) {
        if (gone()) {
          token.cancel();
          return;
        }
      }
    });
  }
  ~DisconnectCanceller() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  DisconnectCanceller(const DisconnectCanceller&) = delete;
  DisconnectCanceller& operator=(const DisconnectCanceller&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// What the stream worker hands to the HTTP writer.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> events;  // formatted SSE events
  bool done = false;
  bool chunked = false;              // at least one data event was produced
  std::optional<Error> early_error;  // failure before the first chunk: answered with a status
  chain::CancellationToken cancel;
};

}  // namespace

ChainRoutes::ChainRoutes(ChainRoutesOptions opts) : opts_(std::move(opts)) {}

ChainRoutes::~ChainRoutes() {
  // Stream workers reference this object (and the admission): never let them outlive it.
  runs_.cancel_all();
  runs_.wait_idle(Clock::now() + std::chrono::seconds(30));
}

bool ChainRoutes::has_chains() const { return opts_.chains && !opts_.chains->list().empty(); }

void ChainRoutes::report_guard_events(const std::string& name, const chain::RunConfig& cfg) const {
  if (!opts_.on_guard_event || !cfg.guard_events) return;
  for (const auto& e : cfg.guard_events->events()) opts_.on_guard_event(name, e);
}

std::optional<Clock::time_point> ChainRoutes::deadline_from(Clock::time_point start) const {
  if (opts_.request_timeout_s <= 0) return std::nullopt;
  return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts_.request_timeout_s));
}

std::optional<HttpResponse> ChainRoutes::admit(AdmissionTicket& ticket) {
  if (shutting_down_.load()) {
    return ApiError{503, "The server is shutting down.", "service_unavailable", std::nullopt, "shutting_down"}
        .to_response();
  }
  if (!opts_.admission) return std::nullopt;
  if (!opts_.admission->try_acquire()) {
    if (opts_.on_reject) opts_.on_reject();
    HttpResponse res = ApiError{429,
                                fmt::format("Too many requests: {} are already running or queued. Retry later.",
                                            opts_.admission->capacity()),
                                "rate_limit_error", std::nullopt, "queue_full"}
                           .to_response();
    res.headers.emplace_back("Retry-After", "1");
    return res;
  }
  ticket = AdmissionTicket(opts_.admission);
  return std::nullopt;
}

std::optional<HttpResponse> ChainRoutes::handle(const HttpRequest& in, std::string& route) {
  static const std::regex kChain("/chains/([^/]+)/(invoke|batch|stream|input_schema|output_schema)");
  const std::string& path = in.path;
  HttpRequest req = in;
  std::string action;
  if (path == "/chains") {
    route = "/chains";
  } else {
    std::smatch m;
    if (!std::regex_match(path, m, kChain)) return std::nullopt;
    action = m[2].str();
    route = "/chains/{name}/" + action;
    req.path_params = {m[1].str()};
  }
  const bool post = action == "invoke" || action == "batch" || action == "stream";
  if (req.method != (post ? "POST" : "GET") && !(!post && req.method == "HEAD")) {
    route = "method_not_allowed";
    return ApiError{405, fmt::format("Method {} is not allowed on {}.", req.method, path), "invalid_request_error",
                    std::nullopt, "method_not_allowed"}
        .to_response();
  }
  return respond([&] {
    if (action.empty()) return list(req);
    if (action == "invoke") return invoke(req);
    if (action == "batch") return batch(req);
    if (action == "stream") return stream(req);
    if (action == "input_schema") return input_schema(req);
    return output_schema(req);
  });
}

HttpResponse ChainRoutes::list(const HttpRequest&) {
  json data = json::array();
  if (opts_.chains) {
    for (const auto& c : opts_.chains->list()) {
      data.push_back(
          {{"name", c.name}, {"description", c.description}, {"type", c.type}, {"input_variables", c.input_variables}});
    }
  }
  return json_ok({{"object", "list"}, {"data", data}});
}

namespace {

const chain::ChainRegistry& registry_or_404(const std::shared_ptr<chain::ChainRegistry>& r, const std::string& name) {
  if (!r || !r->contains(name)) {
    throw ApiException(ApiError{404, fmt::format("Unknown chain '{}'. GET /chains lists the chains.", name),
                                "invalid_request_error", std::nullopt, "chain_not_found"});
  }
  return *r;
}

const json& required_field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    throw_invalid(key, fmt::format("Missing required parameter: '{}'.", key), "missing_required_parameter");
  }
  return *it;
}

}  // namespace

HttpResponse ChainRoutes::input_schema(const HttpRequest& req) {
  const std::string& name = req.path_params.at(0);
  auto s = registry_or_404(opts_.chains, name).input_schema(name);
  if (!s) throw_chain_error(s.error());
  return json_ok(*s);
}

HttpResponse ChainRoutes::output_schema(const HttpRequest& req) {
  const std::string& name = req.path_params.at(0);
  auto s = registry_or_404(opts_.chains, name).output_schema(name);
  if (!s) throw_chain_error(s.error());
  return json_ok(*s);
}

HttpResponse ChainRoutes::invoke(const HttpRequest& req) {
  const std::string& name = req.path_params.at(0);
  const auto& reg = registry_or_404(opts_.chains, name);
  json body = parse_json_body(req.body);
  const json& input = required_field(body, "input");
  chain::RunConfig cfg = run_config(body);
  AdmissionTicket ticket;
  if (auto rejected = admit(ticket)) return *rejected;
  const auto t0 = Clock::now();
  ChainRunScope scope(runs_, cfg.cancel);
  DisconnectCanceller on_disconnect(req, cfg.cancel);
  auto out = reg.invoke(name, input, cfg);
  report_guard_events(name, cfg);
  if (!out) throw_chain_error(out.error());
  return json_ok({{"output", *out}, {"metadata", metadata(new_run_id(), name, cfg, t0)}});
}

HttpResponse ChainRoutes::batch(const HttpRequest& req) {
  const std::string& name = req.path_params.at(0);
  const auto& reg = registry_or_404(opts_.chains, name);
  json body = parse_json_body(req.body);
  const json& inputs = required_field(body, "inputs");
  if (!inputs.is_array()) throw_invalid("inputs", "Invalid type for 'inputs': expected an array.", "invalid_type");
  chain::RunConfig cfg = run_config(body);
  AdmissionTicket ticket;
  if (auto rejected = admit(ticket)) return *rejected;
  const auto t0 = Clock::now();
  ChainRunScope scope(runs_, cfg.cancel);
  DisconnectCanceller on_disconnect(req, cfg.cancel);
  auto out = reg.batch(name, inputs.get<std::vector<json>>(), cfg);
  report_guard_events(name, cfg);
  if (!out) throw_chain_error(out.error());
  json run_ids = json::array();
  for (size_t i = 0; i < out->size(); ++i) run_ids.push_back(new_run_id());
  json meta = metadata(new_run_id(), name, cfg, t0);
  meta["run_ids"] = run_ids;
  return json_ok({{"output", *out}, {"metadata", meta}});
}

HttpResponse ChainRoutes::stream(const HttpRequest& req) {
  const std::string name = req.path_params.at(0);
  const auto& reg = registry_or_404(opts_.chains, name);
  json body = parse_json_body(req.body);
  json input = required_field(body, "input");
  chain::RunConfig cfg = run_config(body);
  auto ticket = std::make_shared<AdmissionTicket>();
  if (auto rejected = admit(*ticket)) return *rejected;

  // The chain runs on a worker so the first chunk (or an early error, answered with its
  // status) is known before the response headers go out, and a slow client never blocks it.
  auto st = std::make_shared<StreamState>();
  cfg.cancel = st->cancel;
  const auto t0 = Clock::now();
  const std::string run_id = new_run_id();
  auto runs_id = runs_.begin(cfg.cancel);
  std::shared_ptr<const chain::ChainRegistry> keep = opts_.chains;  // reg is *keep
  std::thread([this, st, ticket, keep, &reg, name, input, cfg, t0, run_id, runs_id] {
    auto out = reg.stream(
        name, input,
        [&](const json& chunk) {
          std::lock_guard lock(st->mu);
          st->events.push_back(sse_event("data", chunk));
          st->chunked = true;
          st->cv.notify_all();
        },
        cfg);
    report_guard_events(name, cfg);
    {
      std::lock_guard lock(st->mu);
      if (out) {
        st->events.push_back(sse_event("end", {{"output", *out}, {"metadata", metadata(run_id, name, cfg, t0)}}));
      } else if (st->chunked) {
        ApiError e = chain_error(out.error());
        json j = e.to_json();
        j["status_code"] = e.status;
        st->events.push_back(sse_event("error", j));
      } else {
        st->early_error = out.error();
      }
      st->done = true;
      st->cv.notify_all();
    }
    ticket->reset();
    runs_.finish(runs_id);
  }).detach();

  const auto deadline = deadline_from(t0);
  {
    std::unique_lock lock(st->mu);
    auto ready = [&] { return st->done || !st->events.empty(); };
    if (deadline) {
      if (!st->cv.wait_until(lock, *deadline, ready)) {
        st->cancel.cancel();
        return ApiError{504, "The chain did not answer before the request timeout.", "timeout_error", std::nullopt,
                        "timeout"}
            .to_response();
      }
    } else {
      st->cv.wait(lock, ready);
    }
    if (st->early_error) return chain_error(*st->early_error).to_response();
  }

  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Accel-Buffering", "no");
  res.stream = [st, deadline](const ChunkWriter& write) {
    for (;;) {
      std::deque<std::string> batch;
      bool done = false;
      {
        std::unique_lock lock(st->mu);
        auto until = Clock::now() + std::chrono::seconds(15);
        st->cv.wait_until(lock, until, [&] { return st->done || !st->events.empty(); });
        batch.swap(st->events);
        done = st->done;
      }
      for (const auto& ev : batch) {
        if (!write(ev)) {
          st->cancel.cancel();  // client gone: stop the chain (and its model call)
          return;
        }
      }
      if (done) return;
      if (deadline && Clock::now() > *deadline) {
        st->cancel.cancel();
        write(sse_event("error", ApiError{504, "The chain did not finish before the request timeout.", "timeout_error",
                                          std::nullopt, "timeout"}
                                     .to_json()));
        return;
      }
      if (batch.empty() && !write(": keep-alive\n\n")) {
        st->cancel.cancel();
        return;
      }
    }
  };
  return res;
}

}  // namespace llmchain::server
