#include "gateway/pool.h"

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>

#include "base/log.h"

namespace llmchain::gateway {

using Clock = std::chrono::steady_clock;

struct UpstreamPool::Endpoint {
  UpstreamUrl address;
  std::string url;
  std::string source;
  // Everything below is guarded by the pool's mu_.
  bool healthy = false;
  int outstanding = 0;
  int consecutive_failures = 0;
  BreakerState breaker = BreakerState::kClosed;
  Clock::time_point opened_at{};
  bool trial_in_flight = false;
  int64_t requests_total = 0;
  int64_t failures_total = 0;
  std::string last_error;
};

const char* breaker_state_name(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half_open";
  }
  return "closed";
}

nlohmann::json UpstreamStatus::to_json() const {
  return {{"url", url},
          {"source", source},
          {"healthy", healthy},
          {"outstanding", outstanding},
          {"failures", consecutive_failures},
          {"failures_total", failures_total},
          {"requests_total", requests_total},
          {"breaker", breaker_state_name(breaker)},
          {"last_error", last_error}};
}

std::string UpstreamUrl::authority() const {
  bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

std::string UpstreamUrl::str() const {
  bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", scheme, v6 ? "[" : "", host, v6 ? "]" : "", port);
}

Expected<UpstreamUrl> parse_upstream_url(const std::string& url) {
  auto bad = [&](const char* why) {
    return Error(
        ErrorCode::kInvalidArgument,
        fmt::format("upstream '{}': {} (expected http://host:port, https://host:port or grpc://host:port)", url, why));
  };
  UpstreamUrl u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    u.scheme = "http";
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.scheme = "https";
    rest = url.substr(8);
  } else if (url.rfind("grpc://", 0) == 0) {
    u.scheme = "grpc";
    rest = url.substr(7);
  } else {
    return bad("unsupported scheme");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) return bad("a path prefix is not supported");
  std::string port_str;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return bad("unterminated IPv6 address");
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return bad("junk after the IPv6 address");
      port_str = rest.substr(close + 2);
    }
  } else {
    size_t colon = rest.rfind(':');
    u.host = rest.substr(0, colon);
    if (colon != std::string::npos) port_str = rest.substr(colon + 1);
  }
  if (u.host.empty()) return bad("no host");
  if (port_str.empty()) {
    if (u.scheme == "grpc") return bad("a grpc:// upstream needs its port");
    u.port = u.scheme == "https" ? 443 : 80;
  } else {
    auto [p, ec] = std::from_chars(port_str.data(), port_str.data() + port_str.size(), u.port);
    if (ec != std::errc() || p != port_str.data() + port_str.size() || u.port <= 0 || u.port > 65535) {
      return bad("bad port");
    }
  }
  return u;
}

namespace {

// Addresses `host` resolves to (IPv4 preferred), or an error message.
Expected<std::vector<std::string>> resolve_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return Error(ErrorCode::kUnavailable, fmt::format("cannot resolve {}: {}", host, gai_strerror(rc)));
  std::vector<std::string> v4, v6;
  for (addrinfo* a = res; a; a = a->ai_next) {
    char buf[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    auto& out = a->ai_family == AF_INET ? v4 : v6;
    if (std::find(out.begin(), out.end(), buf) == out.end()) out.emplace_back(buf);
  }
  freeaddrinfo(res);
  auto& chosen = v4.empty() ? v6 : v4;
  if (chosen.empty()) return Error(ErrorCode::kUnavailable, fmt::format("{} has no address", host));
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace

// ---- Lease ----

UpstreamPool::Lease::Lease(std::shared_ptr<UpstreamPool> pool, std::shared_ptr<Endpoint> ep, bool trial)
    : pool_(std::move(pool)), ep_(std::move(ep)), trial_(trial) {}

UpstreamPool::Lease::Lease(Lease&& o) noexcept
    : pool_(std::move(o.pool_)), ep_(std::move(o.ep_)), trial_(o.trial_), reported_(o.reported_) {}

UpstreamPool::Lease& UpstreamPool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    pool_ = std::move(o.pool_);
    ep_ = std::move(o.ep_);
    trial_ = o.trial_;
    reported_ = o.reported_;
  }
  return *this;
}

UpstreamPool::Lease::~Lease() { release(); }

void UpstreamPool::Lease::release() {
  if (pool_ && ep_) pool_->on_release(*ep_, trial_, reported_);
  pool_.reset();
  ep_.reset();
}

const std::string& UpstreamPool::Lease::url() const { return ep_->url; }
const UpstreamUrl& UpstreamPool::Lease::address() const { return ep_->address; }

void UpstreamPool::Lease::success() {
  if (!ep_ || reported_) return;
  reported_ = true;
  pool_->on_result(*ep_, trial_, true, UpstreamFailure::kError, "");
}

void UpstreamPool::Lease::failure(UpstreamFailure kind, const std::string& why) {
  if (!ep_ || reported_) return;
  reported_ = true;
  pool_->on_result(*ep_, trial_, false, kind, why);
}

// ---- UpstreamPool ----

Expected<std::shared_ptr<UpstreamPool>> UpstreamPool::create(UpstreamPoolOptions opts) {
  if (opts.upstreams.empty()) {
    return Error(ErrorCode::kInvalidArgument, "the gateway needs at least one upstream engine (--upstream URL)");
  }
  if (opts.breaker_failures < 1) opts.breaker_failures = 1;
  std::vector<UpstreamUrl> urls;
  for (const auto& s : opts.upstreams) {
    auto u = parse_upstream_url(s);
    if (!u) return u.error();
    urls.push_back(*u);
  }
  std::shared_ptr<UpstreamPool> pool(new UpstreamPool(std::move(opts), std::move(urls)));
  pool->resolve_now();
  return pool;
}

UpstreamPool::UpstreamPool(UpstreamPoolOptions opts, std::vector<UpstreamUrl> urls)
    : opts_(std::move(opts)), configured_(std::move(urls)) {}

UpstreamPool::~UpstreamPool() { stop(); }

void UpstreamPool::resolve_now() {
  // DNS first, without the lock: a slow resolver must not stall requests.
  std::vector<Expected<std::vector<std::string>>> resolved;
  for (const auto& cfg : configured_) {
    if (cfg.scheme != "https") {
      resolved.push_back(resolve_host(cfg.host));
    } else {
      resolved.push_back(std::vector<std::string>{cfg.host});
    }
  }
  std::vector<std::shared_ptr<Endpoint>> next;
  std::lock_guard lock(mu_);
  auto keep_or_make = [&](const UpstreamUrl& addr, const std::string& source) {
    std::string url = addr.str();
    for (const auto& n : next) {
      if (n->url == url) return;
    }
    for (const auto& ep : endpoints_) {
      if (ep->url == url) {
        next.push_back(ep);
        return;
      }
    }
    auto ep = std::make_shared<Endpoint>();
    ep->address = addr;
    ep->url = url;
    ep->source = source;
    next.push_back(std::move(ep));
  };
  for (size_t i = 0; i < configured_.size(); ++i) {
    const UpstreamUrl& cfg = configured_[i];
    std::string source = cfg.str();
    const auto& addrs = resolved[i];
    if (!addrs) {
      // Keep what this name resolved to before (the probes judge it); with
      // nothing known, keep the name itself so the failure is visible.
      size_t before = next.size();
      for (const auto& ep : endpoints_) {
        if (ep->source == source) keep_or_make(ep->address, source);
      }
      if (next.size() == before) keep_or_make(cfg, source);
      for (size_t j = before; j < next.size(); ++j) {
        if (next[j]->address.host == cfg.host) next[j]->last_error = addrs.error().message();
      }
      continue;
    }
    for (const auto& a : *addrs) {
      UpstreamUrl u = cfg;
      u.host = a;
      keep_or_make(u, source);
    }
  }
  for (const auto& ep : endpoints_) {
    if (std::find(next.begin(), next.end(), ep) == next.end()) {
      LLMC_LOG_INFO("gateway: upstream {} left the pool", ep->url);
    }
  }
  for (const auto& ep : next) {
    if (std::find(endpoints_.begin(), endpoints_.end(), ep) == endpoints_.end()) {
      LLMC_LOG_INFO("gateway: upstream {} joined the pool (from {})", ep->url, ep->source);
    }
  }
  endpoints_ = std::move(next);
}

void UpstreamPool::probe(const std::shared_ptr<Endpoint>& ep) {
  if (opts_.probe) {
    std::string why = opts_.probe(ep->address, opts_.health_timeout_s);
    mark(*ep, why.empty(), why.empty() ? why : "health check: " + why);
    return;
  }
  httplib::Client cli(ep->address.str());
  auto to = std::chrono::duration<double>(opts_.health_timeout_s);
  auto sec = static_cast<time_t>(opts_.health_timeout_s);
  auto usec = static_cast<time_t>((to.count() - static_cast<double>(sec)) * 1e6);
  cli.set_connection_timeout(sec, usec);
  cli.set_read_timeout(sec, usec);
  cli.set_write_timeout(sec, usec);
  auto res = cli.Get("/health/ready");
  bool ok = res && res->status == 200;
  std::string why;
  if (!res) {
    why = fmt::format("health check: {}", httplib::to_string(res.error()));
  } else if (!ok) {
    why = fmt::format("health check: HTTP {}", res->status);
  }
  mark(*ep, ok, why);
}

void UpstreamPool::mark(Endpoint& ep, bool ok, const std::string& why) {
  std::lock_guard lock(mu_);
  if (ep.healthy != ok) {
    LLMC_LOG_INFO("gateway: upstream {} is now {}{}{}", ep.url, ok ? "healthy" : "unhealthy", ok ? "" : ": ", why);
  }
  ep.healthy = ok;
  if (!ok) ep.last_error = why;
}

void UpstreamPool::check_health_now() {
  std::vector<std::shared_ptr<Endpoint>> eps;
  {
    std::lock_guard lock(mu_);
    eps = endpoints_;
  }
  std::vector<std::thread> probes;
  probes.reserve(eps.size());
  for (const auto& ep : eps) probes.emplace_back([this, ep] { probe(ep); });
  for (auto& t : probes) t.join();
}

void UpstreamPool::start() {
  std::lock_guard lock(run_mu_);
  if (started_) return;
  started_ = true;
  stopping_ = false;
  check_health_now();
  thread_ = std::thread([this] { run(); });
}

void UpstreamPool::stop() {
  {
    std::lock_guard lock(run_mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void UpstreamPool::run() {
  auto health_every =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts_.health_interval_s));
  auto resolve_every =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts_.resolve_interval_s));
  auto next_health = Clock::now() + health_every;
  auto next_resolve = Clock::now() + resolve_every;
  while (true) {
    {
      std::unique_lock lock(run_mu_);
      if (run_cv_.wait_until(lock, std::min(next_health, next_resolve), [this] { return stopping_; })) return;
    }
    auto now = Clock::now();
    if (opts_.resolve_interval_s > 0 && now >= next_resolve) {
      resolve_now();
      next_resolve = now + resolve_every;
      next_health = now;  // probe newcomers at once
    }
    if (now >= next_health) {
      check_health_now();
      next_health = Clock::now() + health_every;
    }
  }
}

BreakerState UpstreamPool::breaker_now(Endpoint& ep, Clock::time_point now) const {
  if (ep.breaker == BreakerState::kOpen && now - ep.opened_at >= std::chrono::duration<double>(opts_.breaker_open_s)) {
    ep.breaker = BreakerState::kHalfOpen;
    ep.trial_in_flight = false;
  }
  return ep.breaker;
}

Expected<UpstreamPool::Lease> UpstreamPool::acquire(const std::set<std::string>& exclude) {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  size_t n = endpoints_.size();
  std::shared_ptr<Endpoint> best;
  bool best_trial = false;
  size_t healthy = 0, open = 0;
  for (size_t k = 0; k < n; ++k) {
    const auto& ep = endpoints_[(rotate_ + k) % n];
    BreakerState b = breaker_now(*ep, now);
    if (ep->healthy) ++healthy;
    if (b == BreakerState::kOpen || (b == BreakerState::kHalfOpen && ep->trial_in_flight)) ++open;
    if (!ep->healthy || exclude.count(ep->url)) continue;
    if (b == BreakerState::kOpen) continue;
    if (b == BreakerState::kHalfOpen && ep->trial_in_flight) continue;
    if (!best || ep->outstanding < best->outstanding) {
      best = ep;
      best_trial = b == BreakerState::kHalfOpen;
    }
  }
  ++rotate_;
  if (!best) {
    return Error(ErrorCode::kUnavailable,
                 fmt::format("no upstream engine can take the request ({} known, {} healthy, {} with an open "
                             "circuit breaker, {} already tried)",
                             n, healthy, open, exclude.size()));
  }
  ++best->outstanding;
  ++best->requests_total;
  if (best_trial) best->trial_in_flight = true;
  return Lease(shared_from_this(), best, best_trial);
}

void UpstreamPool::on_result(Endpoint& ep, bool trial, bool ok, UpstreamFailure kind, const std::string& why) {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  breaker_now(ep, now);
  if (ok) {
    ep.consecutive_failures = 0;
    if (ep.breaker != BreakerState::kClosed && trial) {
      LLMC_LOG_INFO("gateway: upstream {} circuit breaker closed (trial request succeeded)", ep.url);
      ep.breaker = BreakerState::kClosed;
    }
    return;
  }
  ++ep.failures_total;
  ++ep.consecutive_failures;
  ep.last_error = why;
  if (kind == UpstreamFailure::kConnect && ep.healthy) {
    LLMC_LOG_INFO("gateway: upstream {} is now unhealthy: {}", ep.url, why);
    ep.healthy = false;
  }
  bool reopen = trial && ep.breaker == BreakerState::kHalfOpen;
  bool trip = ep.breaker == BreakerState::kClosed && ep.consecutive_failures >= opts_.breaker_failures;
  if (reopen || trip) {
    LLMC_LOG_WARN("gateway: upstream {} circuit breaker open for {} s after {} consecutive failures ({})", ep.url,
                  opts_.breaker_open_s, ep.consecutive_failures, why);
    ep.breaker = BreakerState::kOpen;
    ep.opened_at = now;
  }
}

void UpstreamPool::on_release(Endpoint& ep, bool trial, bool reported) {
  std::lock_guard lock(mu_);
  --ep.outstanding;
  if (trial) ep.trial_in_flight = false;
}

std::vector<UpstreamStatus> UpstreamPool::status() const {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  std::vector<UpstreamStatus> out;
  for (const auto& ep : endpoints_) {
    UpstreamStatus s;
    s.url = ep->url;
    s.source = ep->source;
    s.healthy = ep->healthy;
    s.outstanding = ep->outstanding;
    s.consecutive_failures = ep->consecutive_failures;
    s.breaker = breaker_now(*ep, now);
    s.requests_total = ep->requests_total;
    s.failures_total = ep->failures_total;
    s.last_error = ep->last_error;
    out.push_back(std::move(s));
  }
  return out;
}

size_t UpstreamPool::healthy_count() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(
      std::count_if(endpoints_.begin(), endpoints_.end(), [](const auto& ep) { return ep->healthy; }));
}

size_t UpstreamPool::size() const {
  std::lock_guard lock(mu_);
  return endpoints_.size();
}

}  // namespace llmchain::gateway
