// A fixed pool of worker threads that sleep when idle (they never spin, so they leave
// the cores to OpenBLAS's own threads between our kernels).
#pragma once

#include <cstdint>
#include <functional>

namespace catena_cpu {

// The number of threads kernels use: CATENA_NUM_THREADS, else the CPUs this process may
// run on.
int num_threads();

// Run fn(begin, end) over [0, n) split into at most num_threads() contiguous ranges.
// The split depends only on n and the thread count, so results are reproducible.
// Runs inline when n < 2 * grain or there is one thread.
void parallel_for_pool(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

template <class Fn>
inline void parallel_for(int64_t n, int64_t grain, const Fn& fn) {
  if (n < 2 * grain || num_threads() <= 1) {  // small work runs inline, with no std::function
    if (n > 0) fn(int64_t(0), n);
    return;
  }
  parallel_for_pool(n, grain, std::function<void(int64_t, int64_t)>(std::cref(fn)));
}

}  // namespace catena_cpu
