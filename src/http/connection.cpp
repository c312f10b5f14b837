#include "http/connection.h"

#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace llmchain::http {

namespace {

using Clock = std::chrono::steady_clock;

thread_local int t_socket = -1;
// The connection of t_socket: false once it is closed (its descriptor may then be reused).
thread_local std::shared_ptr<std::atomic<bool>> t_open;
// Set while a connection runs on the accept thread because no thread could be started for it.
thread_local bool t_refuse = false;
// The request being read on this thread: when its first bytes came, and how its head ended
// (0: read; 408/431: answered here; -1: the client left or failed before it was complete).
thread_local std::chrono::steady_clock::time_point t_request_start;
thread_local int t_head_status = 0;

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, s)));
}

// Waits for `events` on fd until the deadline, in slices short enough to notice the server
// stopping (listening == INVALID_SOCKET). 1: ready; 0: deadline passed; -1: error or stopping.
int wait_for(int fd, short events, Clock::time_point deadline, const std::atomic<socket_t>& listening) {
  for (;;) {
    auto now = Clock::now();
    if (now >= deadline) return 0;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::clamp<long long>(left, 1, 100)));
    if (r > 0) return (p.revents & (POLLERR | POLLNVAL)) && !(p.revents & events) ? -1 : 1;
    if (r < 0 && errno != EINTR) return -1;
    if (listening == INVALID_SOCKET) return -1;
  }
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // best effort: the connection is being closed anyway
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// A complete response written below httplib (the request never reached it), OpenAI's error shape.
void send_error(int fd, int status, std::string_view reason, std::string_view code, const std::string& message) {
  std::string body = fmt::format(R"({{"error":{{"message":"{}","type":"{}","param":null,"code":"{}"}}}})", message,
                                 status >= 500 ? "server_error" : "invalid_request_error", code);
  send_all(fd, fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
                           "Connection: close\r\n{}\r\n{}",
                           status, reason, body.size(), status == 503 ? "Retry-After: 1\r\n" : "", body));
}

std::pair<std::string, int> endpoint(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
               : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (r != 0 || ::getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, port, sizeof port,
                              NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return {"", 0};
  }
  return {host, std::atoi(port)};
}

// One connection's byte stream as httplib's request parser reads it: buffered reads, the
// header deadline and byte cap while a request's head is read, per-read timeouts otherwise.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, const ConnectionLimits& limits, const std::atomic<socket_t>& listening)
      : fd_(fd), limits_(limits), listening_(listening) {
    std::tie(remote_addr_, remote_port_) = endpoint(fd, true);
    std::tie(local_addr_, local_port_) = endpoint(fd, false);
  }

  // Waits (up to the keep-alive timeout) for the next request's first bytes.
  bool wait_request() {
    if (pos_ < len_) return true;
    return wait_for(fd_, POLLIN, Clock::now() + seconds(limits_.keep_alive_timeout_s), listening_) == 1;
  }
  void begin_request() {
    t_request_start = Clock::now();
    t_head_status = 0;
    in_head_ = true;
    head_bytes_ = len_ - pos_;
    head_deadline_ = Clock::now() + seconds(limits_.header_timeout_s);
  }
  void head_done() { in_head_ = false; }
  bool dead() const { return dead_; }

  bool is_readable() const override {
    return pos_ < len_ || wait_for(fd_, POLLIN, Clock::now() + seconds(limits_.read_timeout_s), listening_) == 1;
  }
  bool is_writable() const override {
    return !dead_ && wait_for(fd_, POLLOUT, Clock::now() + seconds(limits_.write_timeout_s), listening_) == 1 &&
           !peer_closed(fd_);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (dead_) return -1;
    if (pos_ == len_ && !fill()) return -1;
    if (pos_ == len_) return 0;  // orderly close by the peer
    size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buf_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (dead_) return -1;
    size_t done = 0;
    while (done < size) {
      if (wait_for(fd_, POLLOUT, Clock::now() + seconds(limits_.write_timeout_s), listening_) != 1) break;
      ssize_t n = ::send(fd_, ptr + done, size - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    if (done == 0 && size > 0) return -1;
    return static_cast<ssize_t>(done);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = remote_addr_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = local_addr_;
    port = local_port_;
  }
  socket_t socket() const override { return fd_; }

 private:
  // Reads what has arrived into the buffer; false on timeout or error (after answering
  // 408/431 where the request's head broke its limits). An orderly close leaves it empty.
  bool fill() {
    pos_ = len_ = 0;
    if (in_head_ && head_bytes_ >= limits_.max_header_bytes) {
      fail(431, "Request Header Fields Too Large", "headers_too_large",
           fmt::format("The request line and headers are larger than the server's limit of {} bytes.",
                       limits_.max_header_bytes));
      return false;
    }
    auto deadline = in_head_ ? head_deadline_ : Clock::now() + seconds(limits_.read_timeout_s);
    int w = wait_for(fd_, POLLIN, deadline, listening_);
    if (w != 1) {
      if (w == 0 && in_head_) {
        fail(408, "Request Timeout", "request_timeout",
             fmt::format("The request line and headers did not arrive within {} s.", limits_.header_timeout_s));
      } else if (in_head_) {
        t_head_status = -1;
      }
      return false;
    }
    ssize_t n;
    do n = ::recv(fd_, buf_, sizeof buf_, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0 && in_head_) t_head_status = -1;  // the client left mid-request: nothing to answer
    if (n < 0) return false;
    len_ = static_cast<size_t>(n);
    if (in_head_) head_bytes_ += len_;
    return true;
  }

  void fail(int status, std::string_view reason, std::string_view code, const std::string& message) {
    t_head_status = status;
    send_error(fd_, status, reason, code, message);
    dead_ = true;  // what httplib writes after this (its own 400) must not reach the client
  }

  int fd_;
  const ConnectionLimits& limits_;
  const std::atomic<socket_t>& listening_;
  std::string remote_addr_, local_addr_;
  int remote_port_ = 0, local_port_ = 0;
  char buf_[4096];
  size_t pos_ = 0, len_ = 0;
  bool in_head_ = false, dead_ = false;
  size_t head_bytes_ = 0;
  Clock::time_point head_deadline_;
};

}  // namespace

struct ConnectionServer::State {
  std::mutex mu;
  std::condition_variable idle;
  int threads = 0;           // connection threads started and not yet finished
  std::atomic<int> open{0};  // connections being served
};

namespace {

// httplib's TaskQueue: a thread per accepted connection. shutdown() (after the listener
// stopped) waits for every connection thread to finish.
class ThreadPerConnection final : public httplib::TaskQueue {
 public:
  explicit ThreadPerConnection(std::shared_ptr<ConnectionServer::State> state) : state_(std::move(state)) {}

  void enqueue(std::function<void()> fn) override {
    auto task = std::make_shared<std::function<void()>>(std::move(fn));
    {
      std::lock_guard lock(state_->mu);
      ++state_->threads;
    }
    try {
      std::thread([state = state_, task] {
        (*task)();
        std::lock_guard lock(state->mu);
        if (--state->threads == 0) state->idle.notify_all();
      }).detach();
    } catch (const std::system_error&) {
      // No thread to be had: answer 503 on this thread and close (never leak the socket).
      t_refuse = true;
      (*task)();
      t_refuse = false;
      std::lock_guard lock(state_->mu);
      if (--state_->threads == 0) state_->idle.notify_all();
    }
  }

  void shutdown() override {
    std::unique_lock lock(state_->mu);
    state_->idle.wait(lock, [this] { return state_->threads == 0; });
  }

 private:
  std::shared_ptr<ConnectionServer::State> state_;
};

}  // namespace

ConnectionServer::ConnectionServer(ConnectionLimits limits) : limits_(limits), state_(std::make_shared<State>()) {
  new_task_queue = [state = state_] { return new ThreadPerConnection(state); };
  set_keep_alive_max_count(std::max<size_t>(1, limits_.keep_alive_max_requests));
  set_tcp_nodelay(true);
}

ConnectionServer::~ConnectionServer() = default;

void ConnectionServer::serve() {
  running_ = true;
  std::unique_ptr<httplib::TaskQueue> tasks(new_task_queue());
  while (svr_sock_ != INVALID_SOCKET) {
    pollfd p{svr_sock_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;  // timeout, EINTR: look at svr_sock_ again
    socket_t sock = ::accept4(svr_sock_, nullptr, nullptr, SOCK_CLOEXEC);
    if (sock == INVALID_SOCKET) {
      if (svr_sock_ == INVALID_SOCKET) break;  // stop_listening()
      switch (errno) {
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:  // out of descriptors or memory: let connections finish, then accept again
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          break;
        default:  // EINTR, ECONNABORTED, EAGAIN, EPROTO and the network errors accept passes on
          break;
      }
      continue;
    }
    // As httplib does: blocking reads and writes never wait past the server's timeouts.
    timeval rcv{static_cast<time_t>(read_timeout_sec_), static_cast<suseconds_t>(read_timeout_usec_)};
    timeval snd{static_cast<time_t>(write_timeout_sec_), static_cast<suseconds_t>(write_timeout_usec_)};
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv);
    ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd);
    tasks->enqueue([this, sock] { process_and_close_socket(sock); });
  }
  tasks->shutdown();  // waits for the connection threads
  running_ = false;
}

void ConnectionServer::stop_listening() {
  socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
  if (sock == INVALID_SOCKET) return;
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

void ConnectionServer::raise_backlog(int backlog) {
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, backlog);
}

int ConnectionServer::open_connections() const { return state_->open.load(); }

int ConnectionServer::current_socket() { return t_socket; }
int ConnectionServer::head_status() { return t_head_status; }
std::chrono::steady_clock::time_point ConnectionServer::request_start() { return t_request_start; }

std::function<bool()> ConnectionServer::client_gone_check() {
  if (t_socket < 0 || !t_open) return [] { return false; };
  return [fd = t_socket, open = t_open] { return !*open || peer_closed(fd); };
}

bool ConnectionServer::process_and_close_socket(socket_t sock) {
  int open = ++state_->open;
  bool ret = false;
  if (t_refuse || open > limits_.max_connections) {
    send_error(sock, 503, "Service Unavailable", "too_many_connections",
               fmt::format("The server has {} connections open, its limit.", limits_.max_connections));
  } else {
    ConnectionStream strm(sock, limits_, svr_sock_);
    t_socket = sock;
    t_open = std::make_shared<std::atomic<bool>>(true);
    for (size_t left = std::max<size_t>(1, limits_.keep_alive_max_requests); left > 0; --left) {
      if (svr_sock_ == INVALID_SOCKET || !strm.wait_request()) break;
      strm.begin_request();
      bool closed = false;
      ret = process_request(strm, left == 1, closed, [&strm](httplib::Request&) { strm.head_done(); });
      if (!ret || closed || strm.dead()) break;
    }
    t_socket = -1;
    *t_open = false;
    t_open.reset();
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  --state_->open;
  return ret;
}

bool peer_closed(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }
  return false;
}

}  // namespace llmchain::http
