#pragma once
// Watches the clients of requests while they wait with nothing to write (chain invoke and batch,
// the gateway waiting on an engine): one thread for all of them checks every 20 ms whether each
// client is still there and runs its on_gone once when it is not, instead of a watcher thread
// (or a polling wait) per request.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace llmchain::http {

class DisconnectWatch {
 public:
  static constexpr auto kInterval = std::chrono::milliseconds(20);

  DisconnectWatch() = default;
  ~DisconnectWatch();
  DisconnectWatch(const DisconnectWatch&) = delete;
  DisconnectWatch& operator=(const DisconnectWatch&) = delete;

  // Watches one client while in scope; once destroyed, its on_gone has finished and never runs.
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&& o) noexcept : w_(std::exchange(o.w_, nullptr)), id_(o.id_) {}
    Registration& operator=(Registration&&) = delete;
    ~Registration();

   private:
    friend class DisconnectWatch;
    Registration(DisconnectWatch* w, uint64_t id) : w_(w), id_(id) {}
    DisconnectWatch* w_ = nullptr;
    uint64_t id_ = 0;
  };

  // gone(): true once the client has gone (cheap, non-blocking); on_gone: quick (a cancel).
  // A null gone (a transport that cannot tell) watches nothing.
  [[nodiscard]] Registration watch(std::function<bool()> gone, std::function<void()> on_gone);
  size_t watched() const;

 private:
  struct Entry {
    std::function<bool()> gone;
    std::function<void()> on_gone;
  };
  void loop();
  void unwatch(uint64_t id);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 1;
  bool stop_ = false;
  std::thread thread_;  // started with the first watch
};

}  // namespace llmchain::http
