#include "http/disconnect_watch.h"

#include <vector>

namespace llmchain::http {

DisconnectWatch::~DisconnectWatch() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

DisconnectWatch::Registration::~Registration() {
  if (w_) w_->unwatch(id_);
}

DisconnectWatch::Registration DisconnectWatch::watch(std::function<bool()> gone, std::function<void()> on_gone) {
  if (!gone) return {};
  std::lock_guard lock(mu_);
  const uint64_t id = next_id_++;
  entries_.emplace(id, Entry{std::move(gone), std::move(on_gone)});
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  return Registration(this, id);
}

size_t DisconnectWatch::watched() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void DisconnectWatch::unwatch(uint64_t id) {
  std::lock_guard lock(mu_);  // waits for a running on_gone of it
  entries_.erase(id);
}

void DisconnectWatch::loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, kInterval, [&] { return stop_; })) {
    // Checked and run under the lock, so an entry cannot be unwatched half-way; an entry whose
    // client went is dropped after its on_gone ran (it runs once).
    std::vector<uint64_t> gone;
    for (auto& [id, e] : entries_) {
      if (!e.gone()) continue;
      e.on_gone();
      gone.push_back(id);
    }
    for (uint64_t id : gone) entries_.erase(id);
  }
}

}  // namespace llmchain::http
