#pragma once
// The HTTP front end: binds, serves the Api's routes over cpp-httplib with a
// thread pool sized for many concurrent streams, enforces the body limit, writes
// access logs, and shuts down gracefully.
#include <memory>

#include "base/error.h"
#include "engine/engine.h"
#include "server/server_options.h"

namespace llmchain::server {

class Api;
class Metrics;

class HttpServer {
 public:
  // The engine must outlive the server.
  HttpServer(engine::Engine& engine, ServerOptions opts);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0 picks a free port); returns the bound port.
  Expected<int> bind();
  // Serves on the calling thread until shutdown() (from another thread or a signal watcher).
  void serve();
  // bind() + serve() on a background thread; returns the bound port.
  Expected<int> start();
  // Graceful stop: readiness goes 503 and new generation requests get 503,
  // in-flight ones get the grace period to finish, stragglers are cancelled,
  // then the listener stops. True when every request finished in time.
  // Idempotent; safe from any thread except a handler's.
  bool shutdown();

  int port() const;
  Api& api();
  Metrics& metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmchain::server
