#pragma once
// The gateway's HTTP forwarding, inside the gateway module (proxy.cpp, forward.cpp): an engine
// call read on a thread of its own into a Pipe that the request's handler or stream empties.
// (httplib's client blocks; the thread is the one cost of an HTTP upstream per request. gRPC
// upstreams, grpc_upstream.h, need none.)
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/proxy.h"
#include "http/error.h"

namespace llmchain::gateway {

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
  bool cancelled = false;    // the reader must stop (client gone, shutdown)
  bool client_left = false;  // ... because the client went away (leave())
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
  // The client went away: cancel, and wake whoever waits on the pipe for it.
  void leave() {
    {
      std::lock_guard lock(mu);
      client_left = true;
    }
    cancel("the client disconnected");
  }
};

using Pipe = GatewayProxy::Pipe;

// What a failed engine call looked like, in words (httplib's names are terse).
inline std::string describe(httplib::Error e) {
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
                   double read_timeout_s);
};

// Decrements the in-flight count when the last holder (handler or stream) is done.
struct InflightToken {
  explicit InflightToken(InflightCount& n) : n_(n) { n_.add(); }
  ~InflightToken() { n_.done(); }
  InflightToken(const InflightToken&) = delete;
  InflightToken& operator=(const InflightToken&) = delete;
  InflightCount& n_;
};

// An error in OpenAI's shape; 503s say when to retry.
inline HttpResponse error_response(int status, const std::string& message, const std::string& type,
                                   const std::string& code) {
  http::ApiError e{status, message, type, std::nullopt, code};
  HttpResponse res = e.to_response();
  if (status == 503) res.headers.emplace_back("Retry-After", "1");
  return res;
}

}  // namespace llmchain::gateway
