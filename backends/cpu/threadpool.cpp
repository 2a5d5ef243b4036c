#include "threadpool.hpp"

#include "../env_setting.hpp"

#include <cstdlib>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace catena_cpu {

int64_t env_integer(const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  return catena_backend::env_integer("catena cpu backend", name, fallback, lo, hi);
}

namespace {

thread_local bool t_in_parallel = false;  // nested regions run inline

int allowed_cpus();
int detect_threads();

// Workers wait for the next parallel region by spinning for a short while (CATENA_SPIN_US,
// default 100 us) and then sleep on a condition variable; the caller waits for them the
// same way. Spinning makes back-to-back kernels (a training step launches dozens, a few
// microseconds apart) start on every core at once instead of after a futex wake-up
// (5-50 us on a virtual machine); the bound keeps an idle process from holding its cores.
// OpenBLAS runs single-threaded inside the pool's regions (see gemm.cpp), so nothing
// else competes with the spinning workers for the cores. With more threads than CPUs
// (CATENA_NUM_THREADS set high) spinning would take the CPUs from the threads with work,
// so the default is then not to spin.
int64_t spin_ns() {
  static const int64_t ns =
      env_integer("CATENA_SPIN_US", detect_threads() <= allowed_cpus() ? 100 : 0, 0, 100000) * 1000;
  return ns;
}

// Spin until done() or spin_ns() pass; true when done() came true.
template <class Done>
bool spin_until(const Done& done) {
  const int64_t limit = spin_ns();
  if (limit <= 0) return done();
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
#if defined(__SSE2__)
      _mm_pause();
#endif
    }
    if (std::chrono::steady_clock::now() - start > std::chrono::nanoseconds(limit)) return done();
  }
}

class Pool {
 public:
  explicit Pool(int n) : n_(n) {
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { loop(i); });
  }
  // Workers are detached at exit: the pool lives as long as the process.

  void run(int parts, const std::function<void(int)>& job) {
    std::unique_lock<std::mutex> lock(submit_);  // one parallel region at a time
    job_ = &job;
    pending_.store(parts - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> g(m_);  // a worker deciding to sleep sees it or is woken
      // The generation and the part count change in one store, so a worker never pairs
      // one region's count with another's generation.
      uint64_t next = ((state_.load(std::memory_order_relaxed) >> 16) + 1) << 16;
      state_.store(next | uint64_t(parts), std::memory_order_release);
      if (sleepers_ > 0) cv_.notify_all();
    }
    t_in_parallel = true;
    job(0);
    t_in_parallel = false;
    auto finished = [&] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(finished)) {
      std::unique_lock<std::mutex> g(m_);
      done_.wait(g, finished);
    }
    job_ = nullptr;
  }

  int size() const { return n_; }

 private:
  void loop(int index) {
    DenormalScope ftz;  // for the thread's whole life
    uint64_t seen = 0;
    for (;;) {
      auto posted = [&] { return (state_.load(std::memory_order_acquire) >> 16) != (seen >> 16); };
      if (!spin_until(posted)) {
        std::unique_lock<std::mutex> g(m_);
        ++sleepers_;
        cv_.wait(g, posted);
        --sleepers_;
      }
      // A worker outside this region's parts is not waited for, so it may see a later
      // region's state here: it then serves that one. A worker inside is waited for, so
      // job_ cannot change before it has run.
      seen = state_.load(std::memory_order_acquire);
      if (index >= int(seen & 0xffff)) continue;
      t_in_parallel = true;
      (*job_)(index);
      t_in_parallel = false;
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> g(m_);  // the caller may be about to wait
        done_.notify_one();
      }
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex submit_, m_;
  std::condition_variable cv_, done_;
  const std::function<void(int)>* job_ = nullptr;
  int sleepers_ = 0;                   // guarded by m_
  std::atomic<int> pending_{0};        // parts of the current region still running
  std::atomic<uint64_t> state_{0};     // generation << 16 | number of parts
};

// The CPUs this process may run on.
int allowed_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int detect_threads() {
  static const int n = int(env_integer("CATENA_NUM_THREADS", allowed_cpus(), 1, 256));
  return n;
}

// The pool, made on first use. A child process made by fork() has none of the parent's
// worker threads (and its copies of the pool's locks may be held by threads that are
// gone), so the child forgets the parent's pool, leaked, and makes its own when it needs
// one.
std::atomic<Pool*> g_pool{nullptr};
std::mutex g_pool_made;

Pool& pool() {
  if (Pool* p = g_pool.load(std::memory_order_acquire)) return *p;
  std::lock_guard<std::mutex> g(g_pool_made);
  Pool* p = g_pool.load(std::memory_order_relaxed);
  if (!p) {
    static const bool registered = pthread_atfork(nullptr, nullptr, [] {
      g_pool.store(nullptr, std::memory_order_relaxed);
      new (&g_pool_made) std::mutex();  // it may have been held by another thread at the fork
      t_in_parallel = false;            // the forking thread may have been inside a region
    }) == 0;
    (void)registered;
    p = new Pool(detect_threads());
    g_pool.store(p, std::memory_order_release);
  }
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

namespace {

// Runs fn over the ranges [bound[i], bound[i + 1]) of `parts` parts on the pool; with
// `ns`, each part's running time in nanoseconds goes to ns[i]. An exception in any part
// (std::bad_alloc in a kernel's scratch buffer) is carried to the caller once every part
// has finished, instead of ending the process.
void run_parts(int parts, const int64_t* bound, int64_t* ns, const std::function<void(int64_t, int64_t)>& fn) {
  std::exception_ptr error;
  std::mutex error_mutex;
  std::function<void(int)> job = [&](int i) {
    const int64_t b = bound[i], e = bound[i + 1];
    const auto start = ns ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    try {
      if (e > b) fn(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> g(error_mutex);
      if (!error) error = std::current_exception();
    }
    if (ns) ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  };
  pool().run(parts, job);
  if (error) std::rethrow_exception(error);
}

// The most parts a loop is split into (the per-part arrays live on the stack). A machine
// with more CPUs than this has more pool threads than any loop uses.
constexpr int kMaxParts = 256;

// Thread speeds for balanced loops: per pool thread, work per nanosecond relative to the
// others (their mean stays about 1). Each balanced loop moves them kSpeedStep of the way
// towards what it measured: phases of a slow vCPU last a second or more and a training
// step runs several products per millisecond, so a few products are enough to follow one.
// Parts that ran under kMinTimedNs say more about timer and wake-up noise than speed and
// are not used; one measurement moves a speed by at most a factor kMaxJump (a worker the
// OS preempted mid-part is not a slow core).
std::mutex g_speed_mutex;
std::vector<double> g_speed;  // guarded by g_speed_mutex; sized to num_threads() on first use
constexpr double kSpeedStep = 0.3;
constexpr double kMinShare = 0.5;  // of the even share
constexpr int64_t kMinTimedNs = 20000;
constexpr double kMaxJump = 2.0;

// How many parts a loop over n with this grain runs in (1: inline, on the caller).
int part_count(int64_t n, int64_t grain) {
  const int t = num_threads();
  if (t <= 1 || n < 2 * grain || t_in_parallel) return 1;
  return static_cast<int>(std::min<int64_t>({int64_t(t), n / grain, int64_t(kMaxParts)}));
}

}  // namespace

void parallel_for_pool(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  const int parts = part_count(n, grain);
  if (parts <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  int64_t bound[kMaxParts + 1];
  for (int i = 0; i <= parts; ++i) bound[i] = n * i / parts;
  run_parts(parts, bound, nullptr, fn);
}

int64_t balanced_min_part(int64_t n, int64_t grain) {
  const int parts = part_count(n, grain);
  if (parts <= 1) return n;
  return std::max<int64_t>(1, static_cast<int64_t>(kMinShare * double(n) / parts) - 1);
}

void parallel_for_balanced(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  const int parts = part_count(n, grain);
  if (parts <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  double w[kMaxParts];
  {
    std::lock_guard<std::mutex> g(g_speed_mutex);
    if (g_speed.size() < size_t(num_threads())) g_speed.resize(size_t(num_threads()), 1.0);
    for (int i = 0; i < parts; ++i) w[i] = g_speed[size_t(i)];
  }
  // Every part gets at least kMinShare of its even share; the rest follows the speeds.
  double mean = 0;
  for (int i = 0; i < parts; ++i) mean += w[i];
  mean /= parts;
  double total = 0;
  for (int i = 0; i < parts; ++i) total += (w[i] = std::max(w[i], kMinShare * mean));
  const int64_t floor_part = balanced_min_part(n, grain);
  int64_t bound[kMaxParts + 1];
  bound[0] = 0;
  double sum = 0;
  for (int i = 0; i < parts; ++i) {
    sum += w[i];
    const int64_t want = i + 1 == parts ? n : static_cast<int64_t>(double(n) * sum / total + 0.5);
    // Room for the parts still to come, and at least floor_part for this one.
    bound[i + 1] = std::clamp(want, bound[i] + floor_part, n - int64_t(parts - 1 - i) * floor_part);
  }
  int64_t ns[kMaxParts];
  run_parts(parts, bound, ns, fn);
  double rate[kMaxParts], mean_rate = 0;
  for (int i = 0; i < parts; ++i) {
    if (ns[i] < kMinTimedNs) return;
    mean_rate += (rate[i] = double(bound[i + 1] - bound[i]) / double(ns[i]));
  }
  mean_rate /= parts;
  std::lock_guard<std::mutex> g(g_speed_mutex);
  double mean_speed = 0;
  for (int i = 0; i < parts; ++i) mean_speed += g_speed[size_t(i)];
  mean_speed /= parts;
  for (int i = 0; i < parts; ++i) {
    double& s = g_speed[size_t(i)];
    const double seen = std::clamp(rate[i] / mean_rate * mean_speed, s / kMaxJump, s * kMaxJump);
    s += kSpeedStep * (seen - s);
  }
}

std::vector<double> thread_speeds() {
  std::lock_guard<std::mutex> g(g_speed_mutex);
  std::vector<double> s = g_speed;
  s.resize(size_t(num_threads()), 1.0);
  return s;
}

void set_thread_speeds(const std::vector<double>& speeds) {
  std::lock_guard<std::mutex> g(g_speed_mutex);
  g_speed = speeds;
  g_speed.resize(size_t(num_threads()), 1.0);
}

}  // namespace catena_cpu
