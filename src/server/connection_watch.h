#pragma once
// Tells whether the client of a request being handled has gone away, for handlers that do not
// write anything until they are done (non-streaming completions): cpp-httplib 0.11 has no
// Request::is_connection_closed and does not hand handlers their socket, so the socket is found
// among this process's descriptors by its two endpoints (unique for TCP) and peeked at.
#include <string>

namespace llmchain::server {

class ConnectionWatch {
 public:
  // The endpoints as cpp-httplib reports them (Request::local_addr/local_port/remote_addr/remote_port).
  ConnectionWatch(std::string local_addr, int local_port, std::string remote_addr, int remote_port);

  // True once the peer has closed or reset the connection (or its socket is gone). Never reads
  // from the socket (pipelined requests stay where they are). Finds the socket on the first
  // call (a scan of /proc/self/fd); call it from the handler's thread while the request is
  // being handled, when the socket is known to be open.
  bool closed();

 private:
  std::string local_addr_, remote_addr_;
  int local_port_, remote_port_;
  int fd_ = -2;  // -2: not looked up yet; -1: not found
};

}  // namespace llmchain::server
