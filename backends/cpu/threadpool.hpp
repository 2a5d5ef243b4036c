// A fixed pool of worker threads. Between kernels they spin for a short while
// (CATENA_SPIN_US, default 100 us; no spinning by default when there are more threads
// than CPUs), then sleep. Every parallel kernel runs on this pool, GEMMs included
// (OpenBLAS is called single-threaded on each part).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace catena_cpu {

// Subnormal floats are flushed to zero (FTZ/DAZ) while CPU kernels run — on the pool's
// threads always, on the calling thread for the duration of a launch — unless
// CATENA_FLUSH_DENORMAL=0. Subnormals are 10-100x slower on x86 and appear in training
// (Adam's second moments); flushing them changes results only below 1.2e-38 (float32).
bool flush_denormals();
class DenormalScope {
 public:
  DenormalScope();
  ~DenormalScope();

 private:
  unsigned saved_ = 0;
  bool active_ = false;
};

// An integer setting from the environment: unset or empty gives the default; anything
// else that is not an integer in [lo, hi] is reported on stderr and the default used.
int64_t env_integer(const char* name, int64_t fallback, int64_t lo, int64_t hi);

// The number of threads kernels use: CATENA_NUM_THREADS, else the CPUs this process may
// run on.
int num_threads();

// Run fn(begin, end) over [0, n) split into at most num_threads() contiguous ranges.
// The split depends only on n and the thread count, so results are reproducible.
// Runs inline when n < 2 * grain or there is one thread.
void parallel_for_pool(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Like parallel_for_pool, but the parts are sized by how fast each thread has lately
// been: every part is timed, and a running estimate of each thread's speed (work per
// nanosecond, relative to the others) sizes its next part. On the 2-vCPU virtual
// machines Catena is measured on, one vCPU often runs 1.2-1.5x slower than the other for
// a second or so; an even split then waits for the slow one, a balanced one does not. A part
// gets at least half of its even share (balanced_min_part). Where the parts meet
// changes from call to call, so use this only where the result does not depend on it.
void parallel_for_balanced(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// The smallest part parallel_for_balanced(n, grain, ...) can hand a thread; n when it
// would run in one part.
int64_t balanced_min_part(int64_t n, int64_t grain);

// The speed estimates, one per pool thread (index 0: the calling thread), and a way for
// tests to set them.
std::vector<double> thread_speeds();
void set_thread_speeds(const std::vector<double>& speeds);

template <class Fn>
inline void parallel_for(int64_t n, int64_t grain, const Fn& fn) {
  if (n < 2 * grain || num_threads() <= 1) {  // small work runs inline, with no std::function
    if (n > 0) fn(int64_t(0), n);
    return;
  }
  parallel_for_pool(n, grain, std::function<void(int64_t, int64_t)>(std::cref(fn)));
}

}  // namespace catena_cpu
