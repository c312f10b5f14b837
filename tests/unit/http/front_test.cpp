// HttpFront's streamed bodies: a client that closed its end is found before the next chunk is
// written (the first send to a closed peer succeeds, so a check after the write would lose a
// chunk's worth of generation, one decode step, before cancelling).
#include "http/front.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace llmchain::http {
namespace {

using Clock = std::chrono::steady_clock;

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until `needle` has arrived (or 5 s pass).
bool read_until(int fd, const std::string& needle) {
  std::string got;
  timeval tv{0, 100000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (auto end = Clock::now() + std::chrono::seconds(5); Clock::now() < end;) {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (got.find(needle) != std::string::npos) return true;
    if (n == 0) return false;
  }
  return false;
}

TEST(HttpFront, StreamWriteFailsAtTheFirstChunkAfterTheClientClosed) {
  std::mutex mu;
  std::condition_variable cv;
  bool client_closed = false;
  std::atomic<int> accepted_writes{0};
  std::atomic<bool> refused{false};
  std::atomic<bool> finished{false};
  HttpFrontOptions o;
  HttpFront front(o, [&](const HttpRequest& req, std::string& route) {
    route = "/stream";
    HttpResponse res;
    res.content_type = "text/event-stream";
    auto gone = req.client_gone;
    res.stream = [&, gone](const ChunkWriter& write) {
      if (write("data: first\n\n")) accepted_writes++;
      {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::seconds(10), [&] { return client_closed; });
      }
      // Wait until the close is visible on this end of the socket, then write once.
      for (auto end = Clock::now() + std::chrono::seconds(5); Clock::now() < end && !(gone && gone());) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      if (write("data: second\n\n")) {
        accepted_writes++;
      } else {
        refused = true;
      }
      finished = true;
    };
    return res;
  });
  auto port = front.start();
  ASSERT_TRUE(port.ok()) << port.error().message();
  int fd = connect_to(*port);
  ASSERT_GE(fd, 0);
  const std::string req = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  ASSERT_TRUE(read_until(fd, "data: first"));
  ::close(fd);
  {
    std::lock_guard lock(mu);
    client_closed = true;
  }
  cv.notify_all();
  for (auto end = Clock::now() + std::chrono::seconds(10); Clock::now() < end && !finished;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(finished);
  EXPECT_TRUE(refused) << "the write after the client closed was accepted";
  EXPECT_EQ(accepted_writes.load(), 1);
  front.stop();
}

}  // namespace
}  // namespace llmchain::http
