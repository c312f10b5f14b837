#include "server/chain_routes.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <map>
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

// Run ids are UUIDs, as LangServe's (RemoteRunnable clients may parse them).
std::string new_run_id() { return chain::new_run_uuid(); }

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

// A request's "config" (one object) with the session id lifted from configurable.session_id.
chain::RunConfig run_config(json cfg) {
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
  static const std::regex kChain(
      "/chains/([^/]+)/"
      "(invoke|batch|stream|stream_log|stream_events|input_schema|output_schema|config_schema|playground)");
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
  const bool post = action == "invoke" || action == "batch" || action == "stream" || action == "stream_log" ||
                    action == "stream_events";
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
    if (action == "stream_log") return stream_log(req);
    if (action == "stream_events") return stream_events(req);
    if (action == "config_schema") return config_schema(req);
    if (action == "playground") return playground(req);
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
  return json_response({{"object", "list"}, {"data", data}});
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
  return json_response(*s);
}

HttpResponse ChainRoutes::output_schema(const HttpRequest& req) {
  const std::string& name = req.path_params.at(0);
  auto s = registry_or_404(opts_.chains, name).output_schema(name);
  if (!s) throw_chain_error(s.error());
  return json_response(*s);
}

HttpResponse ChainRoutes::invoke(const HttpRequest& req) {
  const std::string& name = req.path_params.at(0);
  const auto& reg = registry_or_404(opts_.chains, name);
  json body = parse_json_body(req.body);
  const json& input = required_field(body, "input");
  chain::RunConfig cfg = run_config(body.value("config", json::object()));
  AdmissionTicket ticket;
  if (auto rejected = admit(ticket)) return *rejected;
  const auto t0 = Clock::now();
  ChainRunScope scope(runs_, cfg.cancel);
  // Nothing is written until the chain is done: a client that leaves cancels it.
  auto watch = disconnects_.watch(req.client_gone, [token = cfg.cancel]() mutable { token.cancel(); });
  auto out = reg.invoke(name, input, cfg);
  report_guard_events(name, cfg);
  if (!out) throw_chain_error(out.error());
  return json_response({{"output", *out}, {"metadata", metadata(new_run_id(), name, cfg, t0)}});
}

HttpResponse ChainRoutes::batch(const HttpRequest& req) {
  const std::string& name = req.path_params.at(0);
  const auto& reg = registry_or_404(opts_.chains, name);
  json body = parse_json_body(req.body);
  const json& inputs = required_field(body, "inputs");
  if (!inputs.is_array()) throw_invalid("inputs", "Invalid type for 'inputs': expected an array.", "invalid_type");
  // "config" is one object for every input, or (as RemoteRunnable sends it) a list with one
  // per input.
  const json config = body.value("config", json::object());
  std::vector<chain::RunConfig> per_input;
  if (config.is_array()) {
    if (config.size() != inputs.size() && config.size() > 1) {
      throw_invalid("config",
                    fmt::format("'config' is a list of {} configs for {} inputs: give one per input, or one object.",
                                config.size(), inputs.size()),
                    "invalid_value");
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      per_input.push_back(run_config(config.empty() ? json::object() : config[config.size() == 1 ? 0 : i]));
    }
  }
  chain::RunConfig cfg = per_input.empty() ? run_config(config) : per_input.front();
  for (auto& c : per_input) {  // one run: shared cancellation and guard log
    c.cancel = cfg.cancel;
    c.guard_events = cfg.guard_events;
  }
  AdmissionTicket ticket;
  if (auto rejected = admit(ticket)) return *rejected;
  const auto t0 = Clock::now();
  ChainRunScope scope(runs_, cfg.cancel);
  auto watch = disconnects_.watch(req.client_gone, [token = cfg.cancel]() mutable { token.cancel(); });
  const auto input_list = inputs.get<std::vector<json>>();
  Expected<std::vector<Expected<json>>> each = std::vector<Expected<json>>{};
  if (per_input.empty()) {
    each = reg.batch_each(name, input_list, cfg);
  } else {
    each = chain::run_bounded(input_list.size(), cfg.max_concurrency, [&](size_t i) {
      auto r = reg.invoke(name, input_list[i], per_input[i]);
      if (!r) throw r.error();
      return *r;
    });
  }
  report_guard_events(name, cfg);
  if (!each) throw_chain_error(each.error());
  // Each input answers for itself: a failed one (a guard's block, an output that did not
  // parse) is an error object in its place, listed in metadata.errors; the others keep their
  // results. Only when every input failed is the whole request that (first) error.
  json output = json::array(), errors = json::array(), run_ids = json::array();
  std::optional<ApiError> first_error;
  for (size_t i = 0; i < each->size(); ++i) {
    run_ids.push_back(new_run_id());
    const auto& r = (*each)[i];
    if (r.ok()) {
      output.push_back(*r);
      continue;
    }
    ApiError e = chain_error(r.error());
    if (!first_error) first_error = e;
    json err = e.to_json();
    output.push_back(err);
    errors.push_back({{"index", i}, {"status", e.status}, {"code", err["error"]["code"]}});
  }
  if (first_error && errors.size() == each->size()) throw ApiException(*first_error);
  json meta = metadata(new_run_id(), name, cfg, t0);
  meta["run_ids"] = run_ids;
  if (!errors.empty()) meta["errors"] = errors;
  return json_response({{"output", output}, {"metadata", meta}});
}

// ---- LangServe's streaming endpoints ----
//
// One worker runs the chain with stream(); a protocol turns what it produces (the chain's own
// chunks, and for stream_log / stream_events the run events of every step) into SSE events:
//   stream         event: metadata {"run_id"}, event: data <chunk>..., event: end
//   stream_log     event: data {"ops": [JSON Patch]}... (a RunLog), event: end
//   stream_events  event: data <v2 event>... (on_chain_start, on_chat_model_stream, ...), event: end
// A failure after the first event is "event: error" {"status_code", "message"} (LangServe's
// shape, plus our "error" object); before it, the response is the error with its status.

namespace {

const std::string kSseEnd = "event: end\n\n";

// LangServe's error event: {status_code, message}, plus our OpenAI-shaped "error" object.
std::string sse_error(const ApiError& e) {
  json j = e.to_json();
  j["status_code"] = e.status;
  j["message"] = e.message;
  return sse_event("error", j);
}

std::string iso_now() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+00:00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

// Model values in LangChain's serialized message shapes (what RemoteRunnable revives).
json ai_message(const json& content, bool chunk, const std::string& id) {
  return {{"content", content},
          {"additional_kwargs", json::object()},
          {"response_metadata", json::object()},
          {"type", chunk ? "AIMessageChunk" : "ai"},
          {"name", nullptr},
          {"id", "run-" + id},
          {"example", false},
          {"tool_calls", json::array()},
          {"invalid_tool_calls", json::array()},
          {"usage_metadata", nullptr}};
}

json model_input(const json& prompt) {
  if (!prompt.is_array()) return {{"prompts", json::array({prompt})}};
  json msgs = json::array();
  for (const auto& m : prompt) {
    std::string role = m.is_object() ? m.value("role", "user") : "user";
    std::string type = role == "assistant" ? "ai" : role == "system" ? "system" : role == "tool" ? "tool" : "human";
    msgs.push_back({{"content", m.is_object() ? m.value("content", json("")) : m},
                    {"additional_kwargs", json::object()},
                    {"response_metadata", json::object()},
                    {"type", type},
                    {"name", nullptr},
                    {"id", nullptr},
                    {"example", false}});
  }
  return {{"messages", json::array({msgs})}};
}

// A run event's data in LangChain's shapes (models: messages in and out).
json event_data(const chain::RunEvent& ev) {
  const bool model = ev.run_type == "chat_model" || ev.run_type == "llm";
  if (!model) return ev.data;
  json d = json::object();
  switch (ev.phase) {
    case chain::RunPhase::kStart: d["input"] = model_input(ev.data.value("input", json())); break;
    case chain::RunPhase::kStream:
      d["chunk"] = ev.run_type == "chat_model" ? ai_message(ev.data.value("chunk", json("")), true, ev.run_id)
                                               : json{{"text", ev.data.value("chunk", json(""))},
                                                      {"generation_info", nullptr},
                                                      {"type", "GenerationChunk"}};
      break;
    case chain::RunPhase::kEnd:
      d["input"] = model_input(ev.data.value("input", json()));
      d["output"] = ev.run_type == "chat_model" ? ai_message(ev.data.value("output", json("")), false, ev.run_id)
                                                : ev.data.value("output", json(""));
      break;
    case chain::RunPhase::kError: d = ev.data; break;
  }
  return d;
}

const char* phase_name(chain::RunPhase p) {
  switch (p) {
    case chain::RunPhase::kStart: return "start";
    case chain::RunPhase::kStream: return "stream";
    case chain::RunPhase::kEnd: return "end";
    case chain::RunPhase::kError: return "error";
  }
  return "end";
}

// include_names / include_types / include_tags / exclude_* of stream_log and stream_events.
struct RunFilter {
  std::vector<std::string> include_names, include_types, exclude_names, exclude_types;
  bool include_tags = false;  // tags are not set by our chains: an include_tags filter matches nothing

  static std::vector<std::string> list(const json& body, const char* key) {
    std::vector<std::string> out;
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return out;
    if (!it->is_array()) throw_invalid(key, fmt::format("'{}' must be a list of strings.", key), "invalid_type");
    for (const auto& v : *it) {
      if (!v.is_string()) throw_invalid(key, fmt::format("'{}' must be a list of strings.", key), "invalid_type");
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  explicit RunFilter(const json& body)
      : include_names(list(body, "include_names")),
        include_types(list(body, "include_types")),
        exclude_names(list(body, "exclude_names")),
        exclude_types(list(body, "exclude_types")),
        include_tags(!list(body, "include_tags").empty()) {
    list(body, "exclude_tags");  // validated; no run has tags to exclude
  }
  bool keeps(const chain::RunEvent& ev) const {
    auto has = [](const std::vector<std::string>& v, const std::string& x) {
      return std::find(v.begin(), v.end(), x) != v.end();
    };
    bool any_include = !include_names.empty() || !include_types.empty() || include_tags;
    bool included = !any_include || has(include_names, ev.name) || has(include_types, ev.run_type);
    return included && !has(exclude_names, ev.name) && !has(exclude_types, ev.run_type);
  }
};

// Turns a run into SSE events. Called on the chain's worker thread, one call at a time.
class StreamProtocol {
 public:
  virtual ~StreamProtocol() = default;
  virtual bool wants_run_events() const { return false; }
  virtual void begin(const std::string& run_id, std::deque<std::string>& out) {}
  virtual void chunk(const json& chunk, std::deque<std::string>& out) {}
  virtual void run_event(const chain::RunEvent& ev, std::deque<std::string>& out) {}
  virtual void end(std::deque<std::string>& out) { out.push_back(kSseEnd); }
};

class ChunkStream : public StreamProtocol {
 public:
  void begin(const std::string& run_id, std::deque<std::string>& out) override {
    out.push_back(sse_event("metadata", {{"run_id", run_id}}));
  }
  void chunk(const json& chunk, std::deque<std::string>& out) override { out.push_back(sse_event("data", chunk)); }
};

// astream_events v2.
class EventStream : public StreamProtocol {
 public:
  explicit EventStream(RunFilter filter) : filter_(std::move(filter)) {}
  bool wants_run_events() const override { return true; }
  void run_event(const chain::RunEvent& ev, std::deque<std::string>& out) override {
    if (!ev.parent_ids.empty() && !filter_.keeps(ev)) return;
    out.push_back(sse_event("data", {{"event", fmt::format("on_{}_{}", ev.run_type, phase_name(ev.phase))},
                                     {"name", ev.name},
                                     {"run_id", ev.run_id},
                                     {"tags", json::array()},
                                     {"metadata", json::object()},
                                     {"data", event_data(ev)},
                                     {"parent_ids", ev.parent_ids}}));
  }

 private:
  RunFilter filter_;
};

// astream_log: JSON Patch operations building a RunLog (id, streamed_output, final_output,
// logs: one entry per step, keyed by name, "name:2" for the second of a name).
class LogStream : public StreamProtocol {
 public:
  explicit LogStream(RunFilter filter) : filter_(std::move(filter)) {}
  bool wants_run_events() const override { return true; }
  void run_event(const chain::RunEvent& ev, std::deque<std::string>& out) override {
    if (ev.parent_ids.empty()) {
      root(ev, out);
      return;
    }
    if (!filter_.keeps(ev)) return;
    json ops = json::array();
    if (ev.phase == chain::RunPhase::kStart) {
      int n = ++name_counts_[ev.name];
      std::string key = n == 1 ? ev.name : fmt::format("{}:{}", ev.name, n);
      keys_[ev.run_id] = key;
      ops.push_back({{"op", "add"},
                     {"path", "/logs/" + pointer_escape(key)},
                     {"value",
                      {{"id", ev.run_id},
                       {"name", ev.name},
                       {"type", ev.run_type},
                       {"tags", json::array()},
                       {"metadata", json::object()},
                       {"start_time", iso_now()},
                       {"streamed_output", json::array()},
                       {"streamed_output_str", json::array()},
                       {"inputs", event_data(ev).value("input", json())},
                       {"final_output", nullptr},
                       {"end_time", nullptr}}}});
    } else {
      auto it = keys_.find(ev.run_id);
      if (it == keys_.end()) return;
      const std::string path = "/logs/" + pointer_escape(it->second);
      if (ev.phase == chain::RunPhase::kStream) {
        json chunk = event_data(ev)["chunk"];
        const json& raw = ev.data["chunk"];
        if (raw.is_string()) {
          ops.push_back({{"op", "add"}, {"path", path + "/streamed_output_str/-"}, {"value", raw}});
        }
        ops.push_back({{"op", "add"}, {"path", path + "/streamed_output/-"}, {"value", chunk}});
      } else {
        json d = event_data(ev);
        ops.push_back({{"op", "add"},
                       {"path", path + "/final_output"},
                       {"value", ev.phase == chain::RunPhase::kEnd ? d.value("output", json())
                                                                   : json{{"error", d.value("error", json(""))}}}});
        ops.push_back({{"op", "add"}, {"path", path + "/end_time"}, {"value", iso_now()}});
      }
    }
    out.push_back(sse_event("data", {{"ops", ops}}));
  }

 private:
  static std::string pointer_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '~')
        out += "~0";
      else if (c == '/')
        out += "~1";
      else
        out += c;
    }
    return out;
  }
  void root(const chain::RunEvent& ev, std::deque<std::string>& out) {
    json ops = json::array();
    switch (ev.phase) {
      case chain::RunPhase::kStart:
        ops.push_back({{"op", "replace"},
                       {"path", ""},
                       {"value",
                        {{"id", ev.run_id},
                         {"streamed_output", json::array()},
                         {"final_output", nullptr},
                         {"logs", json::object()},
                         {"name", ev.name},
                         {"type", ev.run_type}}}});
        break;
      case chain::RunPhase::kStream:
        ops.push_back({{"op", "add"}, {"path", "/streamed_output/-"}, {"value", ev.data["chunk"]}});
        break;
      case chain::RunPhase::kEnd:
        ops.push_back({{"op", "replace"}, {"path", "/final_output"}, {"value", ev.data["output"]}});
        break;
      case chain::RunPhase::kError: return;  // the error event follows
    }
    out.push_back(sse_event("data", {{"ops", ops}}));
  }

  RunFilter filter_;
  std::map<std::string, int> name_counts_;
  std::map<std::string, std::string> keys_;  // run id -> key under /logs
};

std::shared_ptr<StreamProtocol> make_protocol(const std::string& kind, const json& body) {
  if (kind == "stream_log") return std::make_shared<LogStream>(RunFilter(body));
  if (kind == "stream_events") return std::make_shared<EventStream>(RunFilter(body));
  return std::make_shared<ChunkStream>();
}

// Waits for the run's first event: the answer to give instead of a stream (a failure before the
// first chunk gets its own status; no event by the deadline is a 504), or nullopt to stream.
std::optional<HttpResponse> await_first_event(StreamState& st, std::optional<Clock::time_point> deadline) {
  std::unique_lock lock(st.mu);
  auto ready = [&] { return st.done || st.chunked; };
  if (deadline) {
    if (!st.cv.wait_until(lock, *deadline, ready)) {
      st.cancel.cancel();
      return ApiError{504, "The chain did not answer before the request timeout.", "timeout_error", std::nullopt,
                      "timeout"}
          .to_response();
    }
  } else {
    st.cv.wait(lock, ready);
  }
  if (st.early_error) return chain_error(*st.early_error).to_response();
  return std::nullopt;
}

// The run's events as they come, a keep-alive comment through silences; a client gone or the
// deadline passed cancels the run (and its model call).
StreamBody relay_events(std::shared_ptr<StreamState> st, std::optional<Clock::time_point> deadline) {
  return [st, deadline](const ChunkWriter& write) {
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
          st->cancel.cancel();
          return;
        }
      }
      if (done) return;
      if (deadline && Clock::now() > *deadline) {
        st->cancel.cancel();
        write(sse_error(ApiError{504, "The chain did not finish before the request timeout.", "timeout_error",
                                 std::nullopt, "timeout"}));
        return;
      }
      if (batch.empty() && !write(": keep-alive\n\n")) {
        st->cancel.cancel();
        return;
      }
    }
  };
}

}  // namespace

HttpResponse ChainRoutes::stream(const HttpRequest& req) { return run_stream(req, "stream"); }
HttpResponse ChainRoutes::stream_log(const HttpRequest& req) { return run_stream(req, "stream_log"); }
HttpResponse ChainRoutes::stream_events(const HttpRequest& req) { return run_stream(req, "stream_events"); }

HttpResponse ChainRoutes::run_stream(const HttpRequest& req, const std::string& kind) {
  const std::string name = req.path_params.at(0);
  const auto& reg = registry_or_404(opts_.chains, name);
  json body = parse_json_body(req.body);
  json input = required_field(body, "input");
  chain::RunConfig cfg = run_config(body.value("config", json::object()));
  std::shared_ptr<StreamProtocol> protocol = make_protocol(kind, body);
  auto ticket = std::make_shared<AdmissionTicket>();
  if (auto rejected = admit(*ticket)) return *rejected;

  // The chain runs on a worker so the first event (or an early error, answered with its
  // status) is known before the response headers go out, and a slow client never blocks it.
  auto st = std::make_shared<StreamState>();
  cfg.cancel = st->cancel;
  const auto t0 = Clock::now();
  const std::string run_id = new_run_id();
  cfg.root_run_id = run_id;
  protocol->begin(run_id, st->events);
  if (protocol->wants_run_events()) {
    cfg.on_run_event = [st, protocol](const chain::RunEvent& ev) {
      std::lock_guard lock(st->mu);
      protocol->run_event(ev, st->events);
      // The response starts once something streamed (a step's chunk or its end): errors in
      // validating the input still get their own status.
      if (ev.phase == chain::RunPhase::kStream || ev.phase == chain::RunPhase::kEnd) st->chunked = true;
      st->cv.notify_all();
    };
  }
  auto runs_id = runs_.begin(cfg.cancel);
  std::shared_ptr<const chain::ChainRegistry> keep = opts_.chains;  // reg is *keep
  std::thread([this, st, protocol, ticket, keep, &reg, name, input, cfg, runs_id] {
    auto out = reg.stream(
        name, input,
        [&](const json& chunk) {
          std::lock_guard lock(st->mu);
          protocol->chunk(chunk, st->events);
          st->chunked = true;
          st->cv.notify_all();
        },
        cfg);
    report_guard_events(name, cfg);
    {
      std::lock_guard lock(st->mu);
      if (out) {
        protocol->end(st->events);
      } else if (st->chunked) {
        st->events.push_back(sse_error(chain_error(out.error())));
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
  if (auto early = await_first_event(*st, deadline)) return std::move(*early);
  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Accel-Buffering", "no");
  res.stream = relay_events(st, deadline);
  return res;
}

// The configurable keys a chain takes (LangServe's config_schema): the session id of its memory.
HttpResponse ChainRoutes::config_schema(const HttpRequest& req) {
  const std::string& name = req.path_params.at(0);
  registry_or_404(opts_.chains, name);
  json configurable = {
      {"title", "Configurable"},
      {"type", "object"},
      {"properties",
       {{"session_id",
         {{"title", "Session Id"},
          {"description", "The conversation's key in the chain's memory (chains without memory ignore it)."},
          {"type", "string"},
          {"default", ""}}}}}};
  return json_response(
      {{"title", name + "_config"}, {"type", "object"}, {"properties", {{"configurable", configurable}}}});
}

// The playground page, opened on this chain.
HttpResponse ChainRoutes::playground(const HttpRequest& req) {
  const std::string& name = req.path_params.at(0);
  registry_or_404(opts_.chains, name);
  HttpResponse res;
  res.status = 302;
  std::string encoded;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      encoded += static_cast<char>(c);
    else
      encoded += fmt::format("%{:02X}", c);
  }
  res.headers.emplace_back("Location", "/?chain=" + encoded + "#chains");
  res.content_type = "text/plain";
  res.body = "See /?chain=" + encoded + "\n";
  return res;
}

}  // namespace llmchain::server
