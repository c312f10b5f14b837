#pragma once
// The listening socket of both servers (engine and gateway): one port, one server.
#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "base/error.h"

namespace llmchain::http {

// Replaces cpp-httplib's default socket options, which set SO_REUSEPORT on Linux: with it a
// second server binds a port another one already listens on and the kernel splits the
// connections between them. SO_REUSEADDR alone still lets a restarted server bind while the
// previous one's connections sit in TIME_WAIT, and makes a busy port fail with EADDRINUSE.
inline void exclusive_listen_options(socket_t sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

// Binds host:port (0: any free port) with exclusive_listen_options; returns the bound port or
// "cannot listen on HOST:PORT: address already in use" (or another reason).
inline Expected<int> bind_listener(httplib::Server& http, const std::string& host, int port) {
  http.set_socket_options(exclusive_listen_options);
  errno = 0;
  int bound = -1;
  if (port == 0) {
    bound = http.bind_to_any_port(host);
  } else if (http.bind_to_port(host, port)) {
    bound = port;
  }
  if (bound > 0) return bound;
  // cpp-httplib 0.11 only closes the socket after a failed bind(), which keeps its errno; a
  // host that does not resolve fails in getaddrinfo, which reports no errno.
  const int err = errno;
  const char* why = err == EADDRINUSE      ? "address already in use"
                    : err == EACCES        ? "permission denied (ports below 1024 need privileges)"
                    : err == EADDRNOTAVAIL ? "address not available on this machine"
                                           : "address not available or host not found";
  return Error(ErrorCode::kIo, fmt::format("cannot listen on {}:{}: {}", host, port, why));
}

}  // namespace llmchain::http
