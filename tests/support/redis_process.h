#pragma once
// A real redis-server for tests: started on a free loopback port with its data in its own temp
// folder (append-only file when asked), stopped (SIGTERM: Redis flushes and exits) on
// destruction. Debian's redis-server (scripts/setup.sh installs it); tests skip without it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace llmchain::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline constexpr const char* kRedisServer = "/usr/bin/redis-server";

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Answers PING with PONG (a restarted Redis accepts connections while it still loads its
// append-only file, answering -LOADING until it is done).
inline bool pongs(int port) {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (!c) return false;
  bool ok = false;
  if (!c->err) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    ok = r && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG";
    if (r) freeReplyObject(r);
  }
  redisFree(c);
  return ok;
}

// redis-server on 127.0.0.1:port with its data (AOF when asked) in its own temp dir.
class RedisProcess {
 public:
  explicit RedisProcess(int port, bool aof = false, fs::path dir = {}) : port_(port) {
    if (dir.empty()) {
      dir = fs::temp_directory_path() / ("llmchain-redis-" + std::to_string(::getpid()) + "-" + std::to_string(port));
    }
    fs::create_directories(dir);
    dir_ = dir;
    std::vector<std::string> args = {kRedisServer,   "--port",           std::to_string(port),
                                     "--bind",       "127.0.0.1",        "--dir",
                                     dir.string(),   "--save",           "",
                                     "--appendonly", aof ? "yes" : "no", "--appendfsync",
                                     "always",       "--daemonize",      "no",
                                     "--loglevel",   "warning"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, kRedisServer, nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
    for (int i = 0; i < 400 && pid_ > 0 && !pongs(port); ++i) std::this_thread::sleep_for(25ms);
  }
  ~RedisProcess() { stop(); }
  bool running() const { return pid_ > 0 && pongs(port_); }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);  // redis flushes its AOF and exits
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  const fs::path& dir() const { return dir_; }

 private:
  int port_;
  pid_t pid_ = -1;
  fs::path dir_;
};

// A fixture with its own redis-server for each test (skipped where none is installed).
class RedisServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kRedisServer)) GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh installs it)";
    port_ = free_port();
    redis_ = std::make_unique<RedisProcess>(port_);
    ASSERT_TRUE(redis_->running()) << "redis-server did not start on port " << port_;
  }
  void TearDown() override {
    if (redis_) {
      redis_->stop();
      fs::remove_all(redis_->dir());
    }
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  int port_ = 0;
  std::unique_ptr<RedisProcess> redis_;
};

}  // namespace llmchain::testing
