#pragma once
// A fork-join pool tuned for the forward pass: run(fn) executes fn(ith, nth) on
// every thread (the caller is thread 0) and returns when all have finished.
// Workers spin briefly between jobs (decode issues many small jobs back to back)
// and then sleep on a futex. run() calls are serialised; not reentrant.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace llmchain {

class ThreadPool {
 public:
  using Job = std::function<void(int ith, int nth)>;

  // n_threads counts the caller; 0 means all hardware threads.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_; }
  void run(const Job& fn);

  // Splits [0, n) into one contiguous range per thread: fn(begin, end, ith).
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

  // Barrier for use inside a job: all nth threads must call it.
  void barrier();

  static int hardware_threads();

 private:
  void worker(int ith);

  int n_;
  std::vector<std::thread> threads_;
  std::mutex run_mu_;
  const Job* job_ = nullptr;
  std::atomic<uint32_t> gen_{0};
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};  // workers blocked in the futex wait
  alignas(64) std::atomic<int> barrier_count_{0};
  alignas(64) std::atomic<uint32_t> barrier_gen_{0};
};

// Even split of [0, n) for thread ith of nth.
inline void split_range(int64_t n, int ith, int nth, int64_t* begin, int64_t* end) {
  int64_t per = (n + nth - 1) / nth;
  *begin = std::min<int64_t>(n, per * ith);
  *end = std::min<int64_t>(n, *begin + per);
}

}  // namespace llmchain
