#include "gateway/role.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "base/log.h"
#include "gateway/server.h"

namespace llmchain::gateway {

int run_gateway(const ServerOptions& server, const UpstreamPoolOptions& pool_opts, const GatewayOptions& gateway,
                const GatewayChainLoader& load_chains) {
  auto pool = UpstreamPool::create(pool_opts);
  if (!pool) {
    std::fprintf(stderr, "error: %s\n", pool.error().what());
    return 2;
  }
  // Signals go to the watcher below; blocked before any thread starts so
  // every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  GatewayServer srv(*pool, server, gateway);
  auto port = srv.bind();
  if (!port) {
    std::fprintf(stderr, "error: %s\n", port.error().what());
    return 1;
  }
  if (load_chains) {
    auto chains = load_chains(srv.self_endpoint());
    if (!chains) {
      std::fprintf(stderr, "error: chains: %s\n", chains.error().what());
      return 1;
    }
    srv.set_chains(*chains);
  }
  (*pool)->start();
  LLMC_LOG_INFO("llmchain gateway listening on http://{}:{} ({} upstream endpoint(s), {} healthy)", server.host, *port,
                (*pool)->size(), (*pool)->healthy_count());
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    timespec tick{0, 200 * 1000 * 1000};
    while (!done.load()) {
      int sig = sigtimedwait(&sigs, nullptr, &tick);
      if (sig == SIGINT || sig == SIGTERM) {
        LLMC_LOG_INFO("signal {}: shutting down the gateway (grace {} s)", sig, server.shutdown_grace_s);
        bool clean = srv.shutdown();
        LLMC_LOG_INFO("gateway shutdown {}", clean ? "complete" : "forced: some requests were broken off");
        return;
      }
    }
  });
  srv.serve();
  done.store(true);
  watcher.join();
  srv.shutdown();
  (*pool)->stop();
  return 0;
}

}  // namespace llmchain::gateway
