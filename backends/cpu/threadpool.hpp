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
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace catena_cpu
