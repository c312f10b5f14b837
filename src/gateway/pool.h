#pragma once
// UpstreamPool: the engines a gateway sends LLM calls to, with their health,
// load and circuit-breaker state. Thread-safe.
//
// Upstreams are configured as URLs ("http://10.0.0.5:8080", "http://engine:8080",
// "grpc://engine:9090": the pool keeps their state, the caller speaks their protocol).
// An http:// or grpc:// URL whose host is a DNS name is expanded to one endpoint per
// address it resolves to (a Kubernetes headless Service lists one per ready
// pod) and re-resolved every resolve_interval_s: new addresses join, vanished
// ones leave (requests already on them finish). IPv4 addresses are preferred;
// IPv6 ones are used when a name has no IPv4 address. https:// URLs keep their
// host name (TLS needs it) and are not expanded.
//
// Selection: the healthy endpoint with the fewest outstanding requests whose
// breaker admits a request; ties rotate so equal endpoints share the load.
//
// Health: UpstreamPoolOptions::probe when set (grpc:// upstreams: the grpc.health.v1 service),
// else GET /health/ready, every health_interval_s (200: healthy, anything
// else or no answer: unhealthy); start() runs one round before returning. A
// request that cannot connect marks its endpoint unhealthy at once; the next
// successful probe marks it healthy again.
//
// Circuit breaker, per endpoint, driven by request outcomes: closed until
// breaker_failures consecutive failures, then open (no requests) for
// breaker_open_s, then half-open: one trial request is let through; its
// success closes the breaker, its failure opens it again for another period.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"

namespace llmchain::gateway {

struct UpstreamUrl;

struct UpstreamPoolOptions {
  std::vector<std::string> upstreams;  // URLs: http|https|grpc://host:port (a path prefix is not supported)
  double health_interval_s = 2;        // between health-check rounds
  double health_timeout_s = 1;         // connect and read timeout of one probe
  double resolve_interval_s = 10;      // DNS re-resolution of named upstreams
  int breaker_failures = 3;            // consecutive failures that open the breaker
  double breaker_open_s = 5;           // open -> half-open after this long
  // One health check of an endpoint within timeout_s: "" when healthy, else why not.
  // Null: GET /health/ready.
  std::function<std::string(const UpstreamUrl& address, double timeout_s)> probe;
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
const char* breaker_state_name(BreakerState s);

// What a failed attempt looked like, for the breaker and passive health.
enum class UpstreamFailure {
  kConnect,  // could not connect: marks the endpoint unhealthy at once
  kError,    // timeout, reset, 5xx, broken stream
};

struct UpstreamStatus {
  std::string url;     // scheme://address:port requests go to
  std::string source;  // the configured URL it came from
  bool healthy = false;
  int outstanding = 0;
  int consecutive_failures = 0;
  BreakerState breaker = BreakerState::kClosed;
  int64_t requests_total = 0;
  int64_t failures_total = 0;
  std::string last_error;  // last failed probe or request, empty when none

  nlohmann::json to_json() const;
};

// A parsed upstream URL.
struct UpstreamUrl {
  std::string scheme;  // http | https | grpc
  std::string host;    // name or address (IPv6 without brackets)
  int port = 0;
  // scheme://host:port, IPv6 bracketed: what httplib::Client takes.
  std::string str() const;
  // host:port, IPv6 bracketed: what a gRPC channel takes.
  std::string authority() const;
};
Expected<UpstreamUrl> parse_upstream_url(const std::string& url);

class UpstreamPool : public std::enable_shared_from_this<UpstreamPool> {
 public:
  struct Endpoint;

  // One request's hold on an endpoint: counts as outstanding until destroyed.
  // Report the outcome once with success() or failure(); a lease destroyed
  // without a report (the client went away) changes no breaker state.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept;
    Lease& operator=(Lease&& o) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    const std::string& url() const;
    const UpstreamUrl& address() const;
    void success();
    void failure(UpstreamFailure kind, const std::string& why);
    explicit operator bool() const { return ep_ != nullptr; }

   private:
    friend class UpstreamPool;
    Lease(std::shared_ptr<UpstreamPool> pool, std::shared_ptr<Endpoint> ep, bool trial);
    void release();
    std::shared_ptr<UpstreamPool> pool_;
    std::shared_ptr<Endpoint> ep_;
    bool trial_ = false;     // the half-open breaker's trial request
    bool reported_ = false;  // success() or failure() called
  };

  // Fails with kInvalidArgument when there is no upstream or one is malformed.
  static Expected<std::shared_ptr<UpstreamPool>> create(UpstreamPoolOptions opts);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Resolves names, runs one health round, then keeps both going on a
  // background thread until stop(). Idempotent.
  void start();
  void stop();

  // The endpoint for the next request, skipping the URLs in `exclude` (ones
  // this request already failed on). kUnavailable when none can take it.
  Expected<Lease> acquire(const std::set<std::string>& exclude = {});

  std::vector<UpstreamStatus> status() const;
  size_t healthy_count() const;
  size_t size() const;

  // Runs one health-check round / DNS resolution now (tests, start()).
  void check_health_now();
  void resolve_now();

  const UpstreamPoolOptions& options() const { return opts_; }

 private:
  explicit UpstreamPool(UpstreamPoolOptions opts, std::vector<UpstreamUrl> urls);
  void run();
  void probe(const std::shared_ptr<Endpoint>& ep);
  void mark(Endpoint& ep, bool healthy, const std::string& why);
  void on_result(Endpoint& ep, bool trial, bool ok, UpstreamFailure kind, const std::string& why);
  void on_release(Endpoint& ep, bool trial, bool reported);
  // Breaker state now (open -> half-open once the period is over). Needs mu_.
  BreakerState breaker_now(Endpoint& ep, std::chrono::steady_clock::time_point now) const;

  UpstreamPoolOptions opts_;
  std::vector<UpstreamUrl> configured_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Endpoint>> endpoints_;
  size_t rotate_ = 0;
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool started_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace llmchain::gateway
