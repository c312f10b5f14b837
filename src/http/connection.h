#pragma once
// The connection layer under both HTTP servers (engine and gateway), below cpp-httplib's
// request parser:
//   - one thread per connection, up to a cap, instead of a fixed worker pool: idle keep-alive
//     connections and slow clients never hold the threads a fresh client needs (over the cap a
//     connection gets 503 at once and is closed);
//   - a deadline and a byte cap on each request's line and headers (a client sending a byte a
//     second is cut off when the deadline passes, not kept forever by per-read timeouts);
//   - per-read timeouts on bodies and writes;
//   - the connection's socket known to the thread handling its request, so a handler can tell
//     when its client has gone away (ConnectionServer::current_socket()).
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace llmchain::http {

struct ConnectionLimits {
  int max_connections = 4096;             // connections served at once; more get 503
  double header_timeout_s = 10;           // a request's line and headers must arrive within this
  size_t max_header_bytes = 64u << 10;    // request line + headers; more gets 431
  double read_timeout_s = 30;             // body: longest wait for the next bytes
  double write_timeout_s = 60;            // longest wait for the client to take more bytes
  double keep_alive_timeout_s = 5;        // idle time between requests on one connection
  size_t keep_alive_max_requests = 1000;  // requests on one connection before it is closed
};

class ConnectionServer : public httplib::Server {
 public:
  explicit ConnectionServer(ConnectionLimits limits);
  ~ConnectionServer() override;

  // Accepts connections on the bound socket until stop_listening(); each runs on a thread of
  // its own (process_and_close_socket). Replaces httplib's listen_after_bind(), whose loop
  // closes the listening socket for good on any accept() error but EMFILE: a signal landing on
  // that thread (EINTR) or a connection aborted in the queue stopped the server listening.
  // Here transient errors are retried; only stop_listening() ends it.
  void serve();
  bool running() const { return running_.load(); }
  void stop_listening();

  // cpp-httplib 0.11 listens with a backlog of 5, so bursts of connections overflow the accept
  // queue; listen() again on the bound socket raises it (Linux semantics).
  void raise_backlog(int backlog);

  // Connections open now (for tests and metrics).
  int open_connections() const;

  // The socket of the connection whose request the calling thread is handling; -1 elsewhere.
  static int current_socket();
  // For httplib's logger, about the request just handled on this thread: when its first bytes
  // arrived, and how reading its line and headers ended: 0 read (res.status is what was
  // sent), 408 or 431 answered here (httplib's own 400 never went out), -1 the client left
  // before the request was complete (nothing was answered: log nothing).
  static std::chrono::steady_clock::time_point request_start();
  static int head_status();
  // For the request the calling thread is handling: a check, callable from any thread while
  // the request is handled, that its client has closed or reset the connection (never reads).
  static std::function<bool()> client_gone_check();

  struct State;  // shared with the connection threads (connection.cpp)

 private:
  bool process_and_close_socket(socket_t sock) override;

  ConnectionLimits limits_;
  std::shared_ptr<State> state_;
  std::atomic<bool> running_{false};
};

// True once the peer of `fd` has closed or reset the connection. Never reads from the socket
// (pipelined requests stay where they are); false for fd < 0.
bool peer_closed(int fd);

}  // namespace llmchain::http
