// GatewayProxy::forward: a request sent to the engines over HTTP, retried on another engine
// until one has answered (a stream is committed at its first byte), with the client watched
// meanwhile (http::DisconnectWatch) so that one who leaves cancels the engine call.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "base/log.h"
#include "gateway/forwarding.h"
#include "server/openai_response.h"

namespace llmchain::gateway {

using Clock = std::chrono::steady_clock;
using http::ApiError;
using http::ChunkWriter;
using server::sse_data;

void UpstreamCall::read(Pipe& p, const UpstreamUrl& addr, httplib::Request req, double connect_timeout_s,
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

namespace {

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

// Waits on the pipe until `pred`; false when the client left meanwhile (its watch cancelled the
// engine call, which closes the engine connection and so cancels the engine's sequence).
template <typename Pred>
bool wait_for_client(Pipe& p, std::unique_lock<std::mutex>& lock, Pred pred) {
  p.cv.wait(lock, [&] { return p.client_left || pred(); });
  return !p.client_left;
}

// Everything the reader delivers, until it finishes (or the client leaves: false).
bool read_all(Pipe& p, std::string& body) {
  std::unique_lock lock(p.mu);
  while (true) {
    if (!wait_for_client(p, lock, [&] { return !p.data.empty() || p.finished; })) return false;
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

HttpResponse shutting_down_response() {
  return error_response(503, "The gateway is shutting down.", "server_error", "shutting_down");
}

}  // namespace

// One forwarded request's attempts so far.
struct GatewayProxy::Attempts {
  std::set<std::string> tried;
  std::optional<HttpResponse> last;  // an engine's own answer, if every attempt fails
  std::string last_error;
  bool broken = false;  // an engine answered, but with a cut-off or malformed body
  Clock::time_point started = Clock::now();
  std::shared_ptr<void> token;  // the in-flight count, held until the answer (or its stream) is done
};

httplib::Request GatewayProxy::upstream_request(const HttpRequest& req) const {
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
  return base;
}

HttpResponse GatewayProxy::forward(const HttpRequest& req) {
  if (shutting_down_.load() && !internal(req)) return shutting_down_response();
  ++requests_;
  auto token = std::make_shared<InflightToken>(inflight_);
  if (api_) return serve_locally(req, token);

  const httplib::Request base = upstream_request(req);
  Attempts a;
  a.token = token;
  // Past --request-timeout the answer is 504 (the engine is hung, not absent), and no retry.
  auto timed_out = [&] {
    return opts_.request_timeout_s > 0 &&
           std::chrono::duration<double>(Clock::now() - a.started).count() >= opts_.request_timeout_s;
  };
  auto timeout_response = [&] {
    return error_response(
        504,
        fmt::format("No engine answered within the request timeout ({} s): {}.", opts_.request_timeout_s, a.last_error),
        "timeout_error", "timeout");
  };
  const int attempts = std::max(1, gw_.max_attempts);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0 && timed_out()) return timeout_response();
    auto lease = pool_->acquire(a.tried);
    if (!lease) {
      if (a.last_error.empty()) a.last_error = lease.error().message();
      break;
    }
    if (attempt > 0) ++counters_->retries;
    if (auto answer = try_engine(req, base, *lease, a, attempt + 1 < attempts)) return std::move(*answer);
  }
  if (a.last) return std::move(*a.last);
  if (timed_out()) return timeout_response();
  if (a.broken) {
    return error_response(502, fmt::format("The engine's answer was broken: {}.", a.last_error), "server_error",
                          "upstream_bad_response");
  }
  ++counters_->unavailable;
  return error_response(503, fmt::format("No upstream engine could answer the request: {}.", a.last_error),
                        "server_error", "upstream_unavailable");
}

std::optional<HttpResponse> GatewayProxy::try_engine(const HttpRequest& req, const httplib::Request& base,
                                                     UpstreamPool::Lease& lease, Attempts& a, bool more) {
  const std::string url = lease.url();
  a.tried.insert(url);
  const double read_timeout_s = opts_.request_timeout_s > 0 ? opts_.request_timeout_s + 5 : 3600;
  auto call =
      std::make_shared<UpstreamCall>(lease.address(), base, gw_.connect_timeout_s, read_timeout_s, gw_.stream_buffer);
  track(call->pipe);
  // From here until the answer (or its stream) is done, a client who leaves cancels the call.
  auto watch = std::make_shared<http::DisconnectWatch::Registration>(
      disconnects_.watch(req.client_gone, [pipe = call->pipe] { pipe->leave(); }));
  Pipe& p = *call->pipe;
  bool have_headers = false, cancelled = false;
  {
    std::unique_lock lock(p.mu);
    if (!wait_for_client(p, lock, [&] { return p.have_headers || p.finished; })) {
      lock.unlock();
      call->join();
      return client_gone_response();  // the lease goes back without a verdict
    }
    have_headers = p.have_headers;
    cancelled = p.cancelled;
  }
  if (cancelled) return shutting_down_response();
  if (!have_headers) {
    call->join();
    a.last_error = fmt::format("{}: {}", url, p.error);
    lease.failure(p.connect_failed ? UpstreamFailure::kConnect : UpstreamFailure::kError, a.last_error);
    LLMC_LOG_WARN("gateway: {} {} failed on {} before a response ({}); {}", req.method, req.path, url, p.error,
                  more ? "retrying on another engine" : "giving up");
    return std::nullopt;
  }
  const int status = p.status;
  const std::string content_type = p.headers.count("Content-Type") ? p.headers.find("Content-Type")->second : "";
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
    res.stream = relay_stream(call, std::make_shared<UpstreamPool::Lease>(std::move(lease)), a.token, watch, url);
    return res;
  }
  // Buffered: nothing reaches the client until the whole answer is here.
  if (!read_all(p, res.body)) {
    call->join();
    return client_gone_response();
  }
  call->join();
  if (p.cancelled) return shutting_down_response();
  return judge(std::move(res), lease, a);
}

// A buffered answer: given to the client, or kept (a.last) while another engine is tried.
std::optional<HttpResponse> GatewayProxy::judge(HttpResponse res, UpstreamPool::Lease& lease, Attempts& a) {
  const std::string url = lease.url();
  if (res.content_type.rfind("application/json", 0) == 0 && !nlohmann::json::accept(res.body.begin(), res.body.end())) {
    a.last_error =
        fmt::format("{}: HTTP {} with a body that is not valid JSON ({} bytes)", url, res.status, res.body.size());
    lease.failure(UpstreamFailure::kError, a.last_error);
    a.broken = true;
    return std::nullopt;
  }
  if (res.status == 502 || res.status == 503 || res.status == 504) {
    a.last_error = fmt::format("{}: HTTP {}", url, res.status);
    lease.failure(UpstreamFailure::kError, a.last_error);
    a.last = std::move(res);
    return std::nullopt;
  }
  if (res.status == 429) {  // busy, not broken: another engine may have room
    lease.success();
    a.last_error = fmt::format("{}: HTTP 429 (queue full)", url);
    a.last = std::move(res);
    return std::nullopt;
  }
  if (res.status >= 500) {
    lease.failure(UpstreamFailure::kError, fmt::format("{}: HTTP {}", url, res.status));
  } else {
    lease.success();
  }
  return res;
}

// The engine's SSE stream, passed on event by event; a break after it started ends with an
// error event (and [DONE]): it cannot be retried once the client has seen part of it.
http::StreamBody GatewayProxy::relay_stream(std::shared_ptr<UpstreamCall> call,
                                            std::shared_ptr<UpstreamPool::Lease> held, std::shared_ptr<void> token,
                                            std::shared_ptr<http::DisconnectWatch::Registration> watch,
                                            std::string url) {
  return [this, call, held, token, watch, url](const ChunkWriter& write) {
    Pipe& p = *call->pipe;
    std::string pending;  // an event not complete yet
    bool saw_done = false;
    while (true) {
      std::string chunk;
      bool fin = false;
      {
        std::unique_lock lock(p.mu);
        if (!wait_for_client(p, lock, [&] { return !p.data.empty() || p.finished; })) return;
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
          p.leave();
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
}

}  // namespace llmchain::gateway
