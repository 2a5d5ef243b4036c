// The median time of a call in microseconds, after 50 warm-up calls: what the benchmarks
// and their peers (benchmarks/peer) report for latencies.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace bench {

inline double median_us(const std::function<void()>& f, int n) {
  for (int i = 0; i < 50; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(t.begin(), t.begin() + long(t.size() / 2), t.end());
  return t[t.size() / 2];
}

}  // namespace bench
