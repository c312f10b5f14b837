#include "gateway/proxy.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <optional>
#include <thread>

#include "base/log.h"
#include "server/api.h"
#include "server/api_error.h"
#include "server/cors.h"
#include "server/metrics.h"
#include "server/openai_response.h"

namespace llmchain::gateway {

using Clock = std::chrono::steady_clock;
using http::ApiError;
using http::ChunkWriter;
using http::json_response;
using nlohmann::json;
using server::allow_any_origin;
using server::Api;
using server::cors_preflight;
using server::escape_label_value;
using server::internal_error;
using server::respond;
using server::sse_data;

// Filled by the reader thread (headers, then body bytes as they arrive),
// emptied by the request's handler or stream. `data` holds at most `capacity`
// bytes: the reader waits for the client (backpressure) rather than buffer a
// whole generation.
struct GatewayProxy::Pipe {
  std::mutex mu;
  std::condition_variable cv;
  bool have_headers = false;
  int status = 0;
  httplib::Headers headers;
  std::string data;
  bool finished = false;  // the reader is done (body complete, or failed)
  bool failed = false;
  bool connect_failed = false;
  std::string error;
  bool cancelled = false;  // the reader must stop (client gone, shutdown)
  std::string cancel_reason;
  size_t capacity = 1u << 20;
  httplib::Client* client = nullptr;  // the reader's, while its request is in flight

  void cancel(const std::string& why) {
    {
      std::lock_guard lock(mu);
      if (!cancelled) {
        cancelled = true;
        cancel_reason = why;
      }
      // Also while the reader waits for the engine's first byte (a non-streamed answer only
      // has one at the end): shutting the socket down ends that wait and tells the engine.
      if (client) client->stop();
    }
    cv.notify_all();
  }
};

namespace {

using Pipe = GatewayProxy::Pipe;

// What a failed engine call looked like, in words (httplib's names are terse).
std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "could not connect";
    case httplib::Error::ConnectionTimeout: return "connect timed out";
    case httplib::Error::Read: return "connection lost or timed out while reading";
    case httplib::Error::Write: return "connection lost while sending the request";
    default: return httplib::to_string(e);
  }
}

// One request to one engine, read on its own thread into a Pipe. Destroying
// it stops the read (closing the engine connection) and joins the thread.
class UpstreamCall {
 public:
  UpstreamCall(const UpstreamUrl& addr, httplib::Request req, double connect_timeout_s, double read_timeout_s,
               size_t capacity)
      : pipe(std::make_shared<Pipe>()) {
    pipe->capacity = std::max<size_t>(capacity, 4096);
    thread = std::thread([p = pipe, addr, req = std::move(req), connect_timeout_s, read_timeout_s]() mutable {
      read(*p, addr, std::move(req), connect_timeout_s, read_timeout_s);
    });
  }
  ~UpstreamCall() {
    pipe->cancel("the response was abandoned");
    join();
  }
  UpstreamCall(const UpstreamCall&) = delete;
  UpstreamCall& operator=(const UpstreamCall&) = delete;
  void join() {
    if (thread.joinable()) thread.join();
  }

  std::shared_ptr<Pipe> pipe;
  std::thread thread;

 private:
  static void set_timeout(httplib::Client& cli, void (httplib::Client::*fn)(time_t, time_t), double s) {
    auto sec = static_cast<time_t>(s);
    (cli.*fn)(sec, static_cast<time_t>((s - static_cast<double>(sec)) * 1e6));
  }

  static void read(Pipe& p, const UpstreamUrl& addr, httplib::Request req, double connect_timeout_s,
                   double read_timeout_s) {
    httplib::Client cli(addr.str());
    set_timeout(cli, &httplib::Client::set_connection_timeout, connect_timeout_s);
    set_timeout(cli, &httplib::Client::set_read_timeout, read_timeout_s);
    set_timeout(cli, &httplib::Client::set_write_timeout, 60);
    cli.set_keep_alive(false);
    cli.set_tcp_nodelay(true);
    req.response_handler = [&p](const httplib::Response& res) {
      std::lock_guard lock(p.mu);
      p.have_headers = true;
      p.status = res.status;
      p.headers = res.headers;
      p.cv.notify_all();
      return !p.cancelled;
    };
    req.content_receiver = [&p](const char* d, size_t n, uint64_t, uint64_t) {
      std::unique_lock lock(p.mu);
      p.cv.wait(lock, [&] { return p.cancelled || p.data.size() < p.capacity; });
      if (p.cancelled) return false;
      p.data.append(d, n);
      p.cv.notify_all();
      return true;
    };
    {
      std::lock_guard lock(p.mu);
      if (p.cancelled) {
        p.finished = p.failed = true;
        p.error = p.cancel_reason;
        p.cv.notify_all();
        return;
      }
      p.client = &cli;
    }
    auto res = cli.send(req);
    std::lock_guard lock(p.mu);
    p.client = nullptr;
    p.finished = true;
    if (!res) {
      p.failed = true;
      p.connect_failed = res.error() == httplib::Error::Connection || res.error() == httplib::Error::ConnectionTimeout;
      p.error = p.cancelled ? p.cancel_reason : describe(res.error());
    }
    p.cv.notify_all();
  }
};

// Decrements the in-flight count when the last holder (handler or stream) is done.
struct InflightToken {
  explicit InflightToken(std::atomic<int>& n) : n_(n) { ++n_; }
  ~InflightToken() { --n_; }
  InflightToken(const InflightToken&) = delete;
  InflightToken& operator=(const InflightToken&) = delete;
  std::atomic<int>& n_;
};

HttpResponse error_response(int status, const std::string& message, const std::string& type, const std::string& code) {
  ApiError e{status, message, type, std::nullopt, code};
  HttpResponse res = e.to_response();
  if (status == 503) res.headers.emplace_back("Retry-After", "1");
  return res;
}

// Headers that describe one connection, not the request: never forwarded.
bool hop_by_hop(const std::string& lower) {
  static const char* kSkip[] = {"connection", "keep-alive",     "proxy-authenticate", "proxy-authorization",
                                "te",         "trailer",        "transfer-encoding",  "upgrade",
                                "host",       "content-length", "accept-encoding",    "expect"};
  return std::any_of(std::begin(kSkip), std::end(kSkip), [&](const char* s) { return lower == s; });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Where the last complete SSE event in `buf` ends (just past its blank line); 0 if none.
size_t complete_events_end(const std::string& buf) {
  size_t lf = buf.rfind("\n\n");
  size_t crlf = buf.rfind("\r\n\r\n");
  size_t end = 0;
  if (lf != std::string::npos) end = lf + 2;
  if (crlf != std::string::npos) end = std::max(end, crlf + 4);
  return end;
}

// How often a request that has sent nothing yet checks that its client is still there.
constexpr auto kClientCheckInterval = std::chrono::milliseconds(20);

// Waits on the pipe until `pred`; a client that disconnected meanwhile cancels the engine call
// (closing its connection, which cancels the engine's sequence). False when it did.
template <typename Pred>
bool wait_for_client(Pipe& p, std::unique_lock<std::mutex>& lock, const HttpRequest& req, Pred pred) {
  if (!req.client_gone) {
    p.cv.wait(lock, pred);
    return true;
  }
  while (!p.cv.wait_for(lock, kClientCheckInterval, pred)) {
    lock.unlock();  // the check may take a syscall or two: the reader keeps going meanwhile
    const bool gone = req.client_gone();
    if (gone) p.cancel("the client disconnected");
    lock.lock();
    if (gone) return false;
  }
  return true;
}

// Everything the reader delivers, until it finishes (or the client leaves: false).
bool read_all(Pipe& p, const HttpRequest& req, std::string& body) {
  std::unique_lock lock(p.mu);
  while (true) {
    if (!wait_for_client(p, lock, req, [&] { return !p.data.empty() || p.finished; })) return false;
    body += p.data;
    p.data.clear();
    p.cv.notify_all();
    if (p.finished) return true;
  }
}

HttpResponse client_gone_response() {
  // For the access log only: nobody reads it (nginx's "client closed request").
  ApiError e{499, "The client closed the connection; the engine call was cancelled.", "invalid_request_error",
             std::nullopt, "client_closed_request"};
  return e.to_response();
}

}  // namespace

GatewayProxy::GatewayProxy(std::shared_ptr<UpstreamPool> pool, ServerOptions opts, GatewayOptions gw)
    : pool_(std::move(pool)), opts_(std::move(opts)), gw_(std::move(gw)), router_(opts_.api_key, respond) {
  // Proxied to the engines (with the key); the gateway's own health, metrics and upstreams.
  auto fwd = [this](const HttpRequest& r) { return forward(r); };
  for (const char* path : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank", "/rerank",
                           "/tokenize", "/detokenize"})
    router_.add("POST", path, true, fwd);
  router_.add("GET", "/v1/models", true, fwd);
  router_.add("GET", "/v1/models/{model:path}", true, fwd);
  router_.add("GET", "/health", false, [this](const HttpRequest& r) { return health_ready(r); });
  router_.add("GET", "/health/ready", false, [this](const HttpRequest& r) { return health_ready(r); });
  router_.add("GET", "/health/live", false, [](const HttpRequest&) { return json_response({{"status", "ok"}}); });
  router_.add("GET", "/metrics", false, [this](const HttpRequest&) {
    HttpResponse res;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = metrics_text();
    return res;
  });
  router_.add("GET", "/gateway/upstreams", true, [this](const HttpRequest& r) { return upstreams(r); });
  if (gw_.make_engine) {
    engine_ = gw_.make_engine(pool_, counters_);
    ServerOptions api = opts_;
    api.api_key.clear();  // authenticated here
    api.ui = false;
    api.chains = nullptr;
    api.parallel = 1;  // the engines queue: admit what the engines together could
    api.max_queue = std::max(1, opts_.max_connections);
    engine_metrics_ = std::make_unique<Metrics>();
    api_ = std::make_unique<Api>(*engine_, api, *engine_metrics_);
  }
}

GatewayProxy::~GatewayProxy() {
  begin_shutdown();
  auto now = Clock::now();
  drain(now, now + std::chrono::seconds(10));
  api_.reset();  // before the engine it uses
}

void GatewayProxy::track(const std::shared_ptr<Pipe>& p) {
  std::lock_guard lock(pipes_mu_);
  pipes_.erase(std::remove_if(pipes_.begin(), pipes_.end(), [](const auto& w) { return w.expired(); }), pipes_.end());
  pipes_.push_back(p);
}

bool GatewayProxy::drain(Clock::time_point deadline, Clock::time_point hard_deadline) {
  auto wait_until = [&](Clock::time_point t) {
    while (inflight_.load() > 0 && Clock::now() < t) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return inflight_.load() == 0;
  };
  if (api_) api_->drain(deadline, hard_deadline);
  if (wait_until(deadline)) return true;
  {
    std::lock_guard lock(pipes_mu_);
    for (auto& w : pipes_) {
      if (auto p = w.lock()) p->cancel("the gateway is shutting down");
    }
  }
  wait_until(hard_deadline);
  return false;
}

bool GatewayProxy::ready(std::string* why) const {
  if (shutting_down_.load()) {
    if (why) *why = "shutting down";
    return false;
  }
  if (pool_->healthy_count() == 0) {
    if (why) *why = fmt::format("no healthy upstream engine (0 of {})", pool_->size());
    return false;
  }
  if (engine_ && !engine_->ready()) {
    if (why) *why = "no engine has told its model yet";
    return false;
  }
  return true;
}

HttpResponse GatewayProxy::handle(const HttpRequest& req, std::string& route) {
  HttpResponse res = route_request(req, route);
  allow_any_origin(res);
  return res;
}

HttpResponse GatewayProxy::route_request(const HttpRequest& req, std::string& route) {
  if (auto pre = cors_preflight(req)) {
    route = "cors_preflight";
    return std::move(*pre);
  }
  const std::string& path = req.path;
  if (ResponsesApi::handles(path)) {
    if (!router_.authorized(req)) {
      route = path == "/v1/responses" ? path : "/v1/responses/{id}";
      return http::unauthorized(req);
    }
    return responses_->serve(req, route, [this](const HttpRequest& chat) { return forward(chat); });
  }
  // Paths of no route of ours: the gateway's chains (and a caller's extra routes), with the key.
  if (!router_.knows(path) && gw_.extra_routes) {
    if (!router_.authorized(req)) {
      route = "unauthorized";
      return http::unauthorized(req);
    }
    try {
      if (auto res = gw_.extra_routes(req, route)) return std::move(*res);
    } catch (const std::exception& ex) {
      return internal_error(ex).to_response();
    }
  }
  return router_.dispatch(req, route);
}

HttpResponse GatewayProxy::health_ready(const HttpRequest&) {
  std::string why;
  if (ready(&why)) {
    return json_response({{"status", "ok"}, {"upstreams_healthy", pool_->healthy_count()}});
  }
  return json_response({{"status", "unavailable"}, {"reason", why}}, 503);
}

HttpResponse GatewayProxy::upstreams(const HttpRequest&) {
  json list = json::array();
  size_t healthy = 0;
  for (const auto& s : pool_->status()) {
    healthy += s.healthy ? 1 : 0;
    list.push_back(s.to_json());
  }
  return json_response({{"upstreams", list}, {"healthy", healthy}, {"total", list.size()}});
}

std::string GatewayProxy::metrics_text() const {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("llmchain_gateway_requests_total", "counter", "Requests the gateway forwarded to engines.");
  out += fmt::format("llmchain_gateway_requests_total {}\n", requests_.load());
  metric("llmchain_gateway_retries_total", "counter", "Attempts repeated on another engine before a first byte.");
  out += fmt::format("llmchain_gateway_retries_total {}\n", counters_->retries.load());
  metric("llmchain_gateway_stream_errors_total", "counter", "Streams broken by an engine after they had started.");
  out += fmt::format("llmchain_gateway_stream_errors_total {}\n", counters_->stream_errors.load());
  metric("llmchain_gateway_unavailable_total", "counter", "Requests no engine could take (503).");
  out += fmt::format("llmchain_gateway_unavailable_total {}\n", counters_->unavailable.load());
  metric("llmchain_gateway_requests_inflight", "gauge", "Requests being forwarded now.");
  out += fmt::format("llmchain_gateway_requests_inflight {}\n", inflight_.load());
  auto st = pool_->status();
  auto per_upstream = [&](const char* name, const char* type, const char* help, auto value) {
    metric(name, type, help);
    for (const auto& s : st) {
      out += fmt::format("{}{{upstream=\"{}\"}} {}\n", name, escape_label_value(s.url), value(s));
    }
  };
  per_upstream("llmchain_gateway_upstream_healthy", "gauge", "1 when the engine's last health check passed.",
               [](const UpstreamStatus& s) { return s.healthy ? 1 : 0; });
  per_upstream("llmchain_gateway_upstream_outstanding", "gauge", "Requests outstanding on the engine.",
               [](const UpstreamStatus& s) { return static_cast<int64_t>(s.outstanding); });
  per_upstream("llmchain_gateway_upstream_breaker_open", "gauge", "1 while the engine's circuit breaker is open.",
               [](const UpstreamStatus& s) { return s.breaker == BreakerState::kClosed ? 0 : 1; });
  per_upstream("llmchain_gateway_upstream_requests_total", "counter", "Attempts sent to the engine.",
               [](const UpstreamStatus& s) { return s.requests_total; });
  per_upstream("llmchain_gateway_upstream_failures_total", "counter", "Attempts that failed on the engine.",
               [](const UpstreamStatus& s) { return s.failures_total; });
  guard_events_.render(out);
  return out;
}

bool GatewayProxy::internal(const HttpRequest& req) const {
  return !gw_.internal_token.empty() && http::equal_ct(req.header(kGatewayInternalHeader), gw_.internal_token);
}

// The LLM routes over make_engine's engine: the request is the engine role's, minus its
// own authentication (done here; its Api has no key) and with the in-flight count held until a stream ends.
HttpResponse GatewayProxy::serve_locally(const HttpRequest& req, std::shared_ptr<void> token) {
  if (!engine_->ready()) {  // no engine reachable: say which and why, as forwarding does
    ++counters_->unavailable;
    std::string why = "no engine has told its model yet";
    if (auto lease = pool_->acquire(); !lease) why = lease.error().message();
    for (const auto& s : pool_->status()) {
      if (!s.last_error.empty()) why += "; " + s.last_error;
    }
    return error_response(503, fmt::format("No upstream engine could answer the request: {}.", why), "server_error",
                          "upstream_unavailable");
  }
  std::string route;  // the Api has no key of its own: the request was authenticated here
  HttpResponse res = api_->handle(req, route);
  if (res.stream) {
    // A stream broken by its engine ends with the error event and then [DONE], as forwarded ones do.
    res.stream = [inner = std::move(res.stream), token](const ChunkWriter& write) {
      bool broken = false, open = true;
      inner([&](std::string_view chunk) {
        broken = chunk.find("\"code\":\"upstream_stream_broken\"") != std::string_view::npos;
        return open = write(chunk);
      });
      if (broken && open) write("data: [DONE]\n\n");
    };
  }
  return res;
}

HttpResponse GatewayProxy::forward(const HttpRequest& req) {
  if (shutting_down_.load() && !internal(req)) {
    return error_response(503, "The gateway is shutting down.", "server_error", "shutting_down");
  }
  ++requests_;
  auto token = std::make_shared<InflightToken>(inflight_);
  if (api_) return serve_locally(req, token);

  httplib::Request base;
  base.method = req.method;
  base.path = req.path;
  base.body = req.body;
  for (const auto& [k, v] : req.headers) {
    if (hop_by_hop(k) || k == kGatewayInternalHeader) continue;
    if (k == "authorization" && !gw_.upstream_api_key.empty()) continue;
    base.headers.emplace(k, v);
  }
  if (!gw_.upstream_api_key.empty()) base.headers.emplace("Authorization", "Bearer " + gw_.upstream_api_key);
  if (!req.request_id.empty() && !base.has_header("x-request-id")) base.headers.emplace("X-Request-Id", req.request_id);
  if (!req.body.empty() && !base.has_header("content-type")) base.headers.emplace("Content-Type", "application/json");
  double read_timeout_s = opts_.request_timeout_s > 0 ? opts_.request_timeout_s + 5 : 3600;

  std::set<std::string> tried;
  std::optional<HttpResponse> last;  // an engine's own answer, if every attempt fails
  std::string last_error;
  bool broken = false;  // an engine answered, but with a cut-off or malformed body
  const auto started = std::chrono::steady_clock::now();
  // Past --request-timeout the answer is 504 (the engine is hung, not absent), and no retry.
  auto timed_out = [&] {
    return opts_.request_timeout_s > 0 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() >= opts_.request_timeout_s;
  };
  auto timeout_response = [&] {
    return error_response(
        504,
        fmt::format("No engine answered within the request timeout ({} s): {}.", opts_.request_timeout_s, last_error),
        "timeout_error", "timeout");
  };
  int attempts = std::max(1, gw_.max_attempts);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0 && timed_out()) return timeout_response();
    auto lease = pool_->acquire(tried);
    if (!lease) {
      if (last_error.empty()) last_error = lease.error().message();
      break;
    }
    if (attempt > 0) ++counters_->retries;
    std::string url = lease->url();
    tried.insert(url);
    auto call = std::make_shared<UpstreamCall>(lease->address(), base, gw_.connect_timeout_s, read_timeout_s,
                                               gw_.stream_buffer);
    track(call->pipe);
    Pipe& p = *call->pipe;
    bool have_headers = false, cancelled = false;
    {
      std::unique_lock lock(p.mu);
      if (!wait_for_client(p, lock, req, [&] { return p.have_headers || p.finished; })) {
        lock.unlock();
        call->join();
        return client_gone_response();  // the lease goes back without a verdict
      }
      have_headers = p.have_headers;
      cancelled = p.cancelled;
    }
    if (cancelled) {
      return error_response(503, "The gateway is shutting down.", "server_error", "shutting_down");
    }
    if (!have_headers) {
      call->join();
      last_error = fmt::format("{}: {}", url, p.error);
      lease->failure(p.connect_failed ? UpstreamFailure::kConnect : UpstreamFailure::kError, last_error);
      LLMC_LOG_WARN("gateway: {} {} failed on {} before a response ({}); {}", req.method, req.path, url, p.error,
                    attempt + 1 < attempts ? "retrying on another engine" : "giving up");
      continue;
    }
    int status = p.status;
    std::string content_type = p.headers.count("Content-Type") ? p.headers.find("Content-Type")->second : "";
    HttpResponse res;
    res.status = status;
    res.content_type = content_type.empty() ? "application/json" : content_type;
    for (const auto& [k, v] : p.headers) {
      std::string lk = lower(k);
      if (lk == "retry-after" || lk == "www-authenticate" || lk == "cache-control" || lk == "x-accel-buffering") {
        res.headers.emplace_back(k, v);
      }
    }
    if (status == 200 && content_type.rfind("text/event-stream", 0) == 0) {
      // Committed: from here the client sees this engine's stream.
      auto held = std::make_shared<UpstreamPool::Lease>(std::move(*lease));
      res.stream = [this, call, held, token, url](const ChunkWriter& write) {
        Pipe& p = *call->pipe;
        std::string pending;  // an event not complete yet
        bool saw_done = false;
        while (true) {
          std::string chunk;
          bool fin = false;
          {
            std::unique_lock lock(p.mu);
            p.cv.wait(lock, [&] { return !p.data.empty() || p.finished; });
            chunk.swap(p.data);
            fin = p.finished;
          }
          p.cv.notify_all();
          pending += chunk;
          if (size_t end = complete_events_end(pending); end > 0) {
            std::string out = pending.substr(0, end);
            pending.erase(0, end);
            if (out.find("data: [DONE]") != std::string::npos) saw_done = true;
            if (!write(out)) {
              p.cancel("the client disconnected");
              return;  // the lease goes back without a verdict
            }
          }
          if (fin) break;
        }
        call->join();
        if (saw_done || !p.failed) {
          held->success();
          return;
        }
        ++counters_->stream_errors;
        if (!p.cancelled) held->failure(UpstreamFailure::kError, fmt::format("{}: stream broken: {}", url, p.error));
        LLMC_LOG_WARN("gateway: stream from {} broke after it had started ({}); sent an error event", url, p.error);
        ApiError e{502,
                   fmt::format("The engine {} failed after the response had started ({}); the response is "
                               "incomplete and was not retried.",
                               url, p.error),
                   "server_error", std::nullopt, "upstream_stream_broken"};
        if (write(sse_data(e.to_json()))) write("data: [DONE]\n\n");
      };
      return res;
    }
    // Buffered: nothing reaches the client until the whole answer is here.
    if (!read_all(p, req, res.body)) {
      call->join();
      return client_gone_response();
    }
    call->join();
    if (p.cancelled) {
      return error_response(503, "The gateway is shutting down.", "server_error", "shutting_down");
    }
    if (p.failed) {
      last_error = fmt::format("{}: response broken: {}", url, p.error);
      lease->failure(UpstreamFailure::kError, last_error);
      broken = true;
      continue;
    }
    if (content_type.rfind("application/json", 0) == 0 && !nlohmann::json::accept(res.body.begin(), res.body.end())) {
      last_error =
          fmt::format("{}: HTTP {} with a body that is not valid JSON ({} bytes)", url, status, res.body.size());
      lease->failure(UpstreamFailure::kError, last_error);
      broken = true;
      continue;
    }
    if (status == 502 || status == 503 || status == 504) {
      last_error = fmt::format("{}: HTTP {}", url, status);
      lease->failure(UpstreamFailure::kError, last_error);
      last = std::move(res);
      continue;
    }
    if (status == 429) {  // busy, not broken: another engine may have room
      lease->success();
      last_error = fmt::format("{}: HTTP 429 (queue full)", url);
      last = std::move(res);
      continue;
    }
    if (status >= 500) {
      lease->failure(UpstreamFailure::kError, fmt::format("{}: HTTP {}", url, status));
    } else {
      lease->success();
    }
    return res;
  }
  if (last) return std::move(*last);
  if (timed_out()) return timeout_response();
  if (broken) {
    return error_response(502, fmt::format("The engine's answer was broken: {}.", last_error), "server_error",
                          "upstream_bad_response");
  }
  ++counters_->unavailable;
  return error_response(503, fmt::format("No upstream engine could answer the request: {}.", last_error),
                        "server_error", "upstream_unavailable");
}

}  // namespace llmchain::gateway
