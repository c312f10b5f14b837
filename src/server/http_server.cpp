#include "server/http_server.h"

#include <mutex>

#include "http/front.h"
#include "server/api.h"
#include "server/metrics.h"

namespace llmchain::server {

struct HttpServer::Impl {
  Impl(engine::Engine& e, ServerOptions o)
      : opts(std::move(o)),
        metrics(opts.metrics ? opts.metrics : std::make_shared<Metrics>()),
        api(e, opts, *metrics),
        front(with_metrics(front_options(opts, "server"), metrics),
              [this](const HttpRequest& req, std::string& route) { return api.handle(req, route); }) {}

  static http::HttpFrontOptions with_metrics(http::HttpFrontOptions f, std::shared_ptr<Metrics> m) {
    f.on_answered = [m](const std::string& route, int status) { m->record_http(route, status); };
    return f;
  }

  ServerOptions opts;
  std::shared_ptr<Metrics> metrics;
  Api api;
  http::HttpFront front;
  std::mutex shutdown_mu;
  bool shut_down = false;
  bool shutdown_ok = true;
};

HttpServer::HttpServer(engine::Engine& engine, ServerOptions opts)
    : impl_(std::make_unique<Impl>(engine, std::move(opts))) {}

HttpServer::~HttpServer() { shutdown(); }

Expected<int> HttpServer::bind() { return impl_->front.bind(); }
void HttpServer::serve() { impl_->front.serve(); }
Expected<int> HttpServer::start() { return impl_->front.start(); }

bool HttpServer::shutdown() {
  std::lock_guard lock(impl_->shutdown_mu);
  if (impl_->shut_down) return impl_->shutdown_ok;
  impl_->shut_down = true;
  impl_->api.begin_shutdown();
  auto grace = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(impl_->opts.shutdown_grace_s));
  auto now = Clock::now();
  impl_->shutdown_ok = impl_->api.drain(now + grace, now + grace + std::chrono::seconds(5));
  impl_->front.stop();
  return impl_->shutdown_ok;
}

int HttpServer::port() const { return impl_->front.port(); }
Api& HttpServer::api() { return impl_->api; }
Metrics& HttpServer::metrics() { return *impl_->metrics; }

}  // namespace llmchain::server
