#include "threadpool.hpp"

#include <cstdlib>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace catena_cpu {

namespace {

thread_local bool t_in_parallel = false;  // nested regions run inline

class Pool {
 public:
  explicit Pool(int n) : n_(n) {
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { loop(i); });
  }
  // Workers are detached at exit: the pool lives as long as the process.

  void run(int parts, const std::function<void(int)>& job) {
    std::unique_lock<std::mutex> lock(submit_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> g(m_);
      job_ = &job;
      parts_ = parts;
      pending_ = parts - 1;
      ++generation_;
    }
    cv_.notify_all();
    t_in_parallel = true;
    job(0);
    t_in_parallel = false;
    std::unique_lock<std::mutex> g(m_);
    done_.wait(g, [&] { return pending_ == 0; });
    job_ = nullptr;
  }

  int size() const { return n_; }

 private:
  void loop(int index) {
    DenormalScope ftz;  // for the thread's whole life
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> g(m_);
        cv_.wait(g, [&] { return generation_ != seen; });
        seen = generation_;
        if (index >= parts_) continue;
        job = job_;
      }
      t_in_parallel = true;
      (*job)(index);
      t_in_parallel = false;
      std::lock_guard<std::mutex> g(m_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex submit_, m_;
  std::condition_variable cv_, done_;
  const std::function<void(int)>* job_ = nullptr;
  int parts_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
};

int detect_threads() {
  if (const char* e = std::getenv("CATENA_NUM_THREADS")) {
    int v = std::atoi(e);
    if (v > 0) return std::min(v, 256);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
  static Pool* p = [] {
    Pool* q = new Pool(detect_threads());
    return q;
  }();
  return *p;
}

}  // namespace

bool flush_denormals() {
  static const bool on = [] {
    const char* v = std::getenv("CATENA_FLUSH_DENORMAL");
    return !(v && *v == '0');
  }();
  return on;
}

DenormalScope::DenormalScope() {
#if defined(__SSE__)
  if (flush_denormals()) {
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
    active_ = true;
  }
#endif
}

DenormalScope::~DenormalScope() {
#if defined(__SSE__)
  if (active_) _mm_setcsr(saved_);
#endif
}

int num_threads() {
  static const int n = pool().size();
  return n;
}

void parallel_for_pool(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  int t = num_threads();
  if (t <= 1 || n < 2 * grain || t_in_parallel) {
    if (n > 0) fn(0, n);
    return;
  }
  int parts = static_cast<int>(std::min<int64_t>(t, n / grain));
  std::function<void(int)> job = [&](int i) {
    int64_t b = n * i / parts, e = n * (i + 1) / parts;
    if (e > b) fn(b, e);
  };
  pool().run(parts, job);
}

}  // namespace catena_cpu
