// The CPU backend's thread pool on its own, built with ThreadSanitizer where the compiler
// has it (tests/meson.build): every index of a parallel loop runs exactly once, whether
// the workers are spinning or asleep when the loop starts, whether the loop has fewer
// parts than the pool has threads, and when several application threads launch loops at
// once. Runs with 4 threads (CATENA_NUM_THREADS, set by meson) so that parts < threads
// and oversubscription (no spinning by default) both occur on small machines.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "threadpool.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

using catena_cpu::num_threads;
using catena_cpu::parallel_for;

namespace {

// Adds one to v[i] for i < n, in parallel: a range run twice or skipped shows in v.
void bump(std::vector<int>& v, int64_t n, int64_t grain) {
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) v[size_t(i)] += 1;
  });
}

}  // namespace

TEST_CASE("every index runs once: back to back, after pauses, with fewer parts than threads") {
  REQUIRE(num_threads() >= 2);
  std::vector<int> v(100000, 0);
  int full = 0, part = 0;
  for (int it = 0; it < 400; ++it) {
    if (it % 40 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the workers go to sleep
    const int64_t n = it % 3 == 0 ? 2500 : int64_t(v.size());  // 2500 / grain 1000: two parts only
    bump(v, n, 1000);
    (n == 2500 ? part : full) += 1;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const int want = full + (i < 2500 ? part : 0);
    if (v[i] != want) FAIL("index " << i << " ran " << v[i] << " times, want " << want);
  }
}

TEST_CASE("loops launched from several application threads at once each run every index once") {
  std::atomic<int> wrong{0};
  auto work = [&](int id) {
    std::vector<int> v(50000, 0);
    for (int it = 0; it < 200; ++it) {
      if ((it + id) % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      bump(v, int64_t(v.size()), 500);
    }
    for (int x : v)
      if (x != 200) ++wrong;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back(work, t);
  work(3);
  for (std::thread& t : threads) t.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("a parallel loop inside a parallel loop runs inline on the calling thread") {
  std::vector<int> v(64 * 1000, 0);
  parallel_for(64, 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const std::thread::id outer = std::this_thread::get_id();
      parallel_for(1000, 10, [&](int64_t ib, int64_t ie) {
        CHECK(std::this_thread::get_id() == outer);
        for (int64_t i = ib; i < ie; ++i) v[size_t(r * 1000 + i)] += 1;
      });
    }
  });
  for (int x : v) REQUIRE(x == 1);
}

TEST_CASE("an exception in any part reaches the caller after every part has finished") {
  for (int throwing_part = 0; throwing_part < 4; ++throwing_part) {
    std::atomic<int> finished{0};
    const int64_t n = 4000;
    auto body = [&](int64_t b, int64_t e) {
      if (b <= throwing_part * 1000 && throwing_part * 1000 < e) throw std::runtime_error("part failed");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the others finish later
      finished += int(e - b);
    };
    CHECK_THROWS_WITH_AS(parallel_for(n, 1000, body), "part failed", std::runtime_error);
    CHECK(finished.load() == n - 1000);  // the other three parts ran to the end first
  }
  std::vector<int> v(10000, 0);
  bump(v, int64_t(v.size()), 100);  // the pool still works
  for (int x : v) REQUIRE(x == 1);
}

TEST_CASE("a balanced loop runs every index once, whatever the thread speeds say") {
  using catena_cpu::set_thread_speeds;
  const int t = num_threads();
  std::vector<std::vector<double>> speeds = {{}, {0.01, 1, 1, 1}, {1, 0.01, 0.01, 0.01}, {5, 1, 0.2, 1}, {1, 1, 1, 50}};
  for (const std::vector<double>& s : speeds)
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(100), int64_t(4999), int64_t(100000)})
      for (int64_t grain : {int64_t(1), int64_t(3), int64_t(1000)}) {
        CAPTURE(n);
        CAPTURE(grain);
        set_thread_speeds(s);
        std::vector<int> v(size_t(n), 0);
        std::atomic<int> calls{0};
        const std::thread::id caller = std::this_thread::get_id();
        int64_t callers_part = -1;
        catena_cpu::parallel_for_balanced(n, grain, [&](int64_t b, int64_t e) {
          ++calls;
          if (std::this_thread::get_id() == caller) callers_part = e - b;
          for (int64_t i = b; i < e; ++i) v[size_t(i)] += 1;
        });
        for (int64_t i = 0; i < n; ++i) REQUIRE(v[size_t(i)] == 1);
        CHECK(calls.load() <= t);
        // However slow the caller is thought to be, it keeps at least half its even share.
        if (calls.load() > 1) CHECK(callers_part >= catena_cpu::balanced_min_part(n, grain));
      }
  set_thread_speeds({});
}

TEST_CASE("a balanced loop gives less work to a thread that runs slower") {
  // The calling thread's indices take three times as long as the workers' (sleeps, so the
  // machine's load does not matter): its measured speed falls, and its part shrinks from
  // an even share towards the smallest a part may be.
  using catena_cpu::balanced_min_part;
  const int t = num_threads();
  REQUIRE(t >= 2);
  catena_cpu::set_thread_speeds({});
  const int64_t n = 400 * t;
  const std::thread::id caller = std::this_thread::get_id();
  int64_t first = 0, last = 0;
  for (int it = 0; it < 25; ++it) {
    int64_t mine = 0;
    catena_cpu::parallel_for_balanced(n, 1, [&](int64_t b, int64_t e) {
      const bool slow = std::this_thread::get_id() == caller;
      if (slow) mine = e - b;
      std::this_thread::sleep_for(std::chrono::microseconds((slow ? 30 : 10) * (e - b)));
    });
    (it == 0 ? first : last) = mine;
  }
  CHECK(first == n / t);  // equal speeds to begin with: an even split
  const std::vector<double> s = catena_cpu::thread_speeds();
  INFO("speeds: caller " << s[0] << ", a worker " << s[1] << "; caller's part " << last << " of " << n);
  CHECK(s[0] < 0.6 * s[1]);
  CHECK(last < n / t * 3 / 4);
  CHECK(last >= balanced_min_part(n, 1));
  catena_cpu::set_thread_speeds({});
}
