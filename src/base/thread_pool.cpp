#include "base/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LLMC_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define LLMC_PAUSE() asm volatile("yield")
#else
#define LLMC_PAUSE() ((void)0)
#endif

namespace llmchain {
namespace {
// Spin briefly (decode issues many small jobs back to back), then yield the
// core (when the machine is oversubscribed a spinning waiter would steal the
// time slice of the thread it waits for), then sleep on the futex.
constexpr int kSpinIterations = 1 << 12;
constexpr int kYieldIterations = 1 << 10;

template <typename Pred>
void wait_until(Pred done) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (done()) return;
    LLMC_PAUSE();
  }
  while (!done()) std::this_thread::yield();
}
}  // namespace

int ThreadPool::hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int n_threads) : n_(n_threads > 0 ? n_threads : hardware_threads()) {
  threads_.reserve(n_ - 1);
  for (int i = 1; i < n_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  gen_.fetch_add(1);
  gen_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::worker(int ith) {
  uint32_t seen = 0;
  for (;;) {
    int spins = 0;
    uint32_t g;
    while ((g = gen_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        LLMC_PAUSE();
      } else if (spins < kSpinIterations + kYieldIterations) {
        std::this_thread::yield();
      } else {
        // seq_cst pairs with run(): either run() sees the sleeper and wakes it, or the wait below
        // sees the new generation and does not sleep.
        sleepers_.fetch_add(1);
        gen_.wait(seen);
        sleepers_.fetch_sub(1);
      }
    }
    seen = g;
    if (stop_.load()) return;
    (*job_)(ith, n_);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(const Job& fn) {
  std::lock_guard<std::mutex> lock(run_mu_);
  if (n_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  done_.store(0, std::memory_order_relaxed);
  gen_.fetch_add(1);
  if (sleepers_.load() > 0) gen_.notify_all();  // a futex wake only when a worker sleeps
  fn(0, n_);
  wait_until([&] { return done_.load(std::memory_order_acquire) == n_ - 1; });
  job_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  run([&](int ith, int nth) {
    int64_t b, e;
    split_range(n, ith, nth, &b, &e);
    if (b < e) fn(b, e, ith);
  });
}

void ThreadPool::barrier() {
  if (n_ == 1) return;
  uint32_t gen = barrier_gen_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_gen_.fetch_add(1, std::memory_order_release);
  } else {
    wait_until([&] { return barrier_gen_.load(std::memory_order_acquire) != gen; });
  }
}

}  // namespace llmchain
