// W4, Catena's side: per-op overhead of a 1-element add, (a) forward only, (b) a chain
// of 1000 adds, forward + backward. Prints ns per op (the fastest of the repeats).
#include <catena/functions.hpp>
#include <catena/ops.hpp>
#include <catena/runtime.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

using Clock = std::chrono::steady_clock;
using namespace catena;

namespace {
// The fastest repeat: on a shared machine noise only ever adds time.
double best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::printf("Usage: catena-bench-overhead\n\nW4: ns per 1-element add, forward only and in a chain of 1000 adds "
                "with backward (fastest of 7 repeats). Prints lines `name ns`.\n");
    return 0;
  }
  Device& cpu = runtime().cpu();
  Tensor ta = Tensor::full(Shape{1}, 1.0, float32, cpu), tb = Tensor::full(Shape{1}, 2.0, float32, cpu);
  const int n = 20000, chain = 1000;
  std::vector<double> fwd, arr, chain_f, chain_b;
  Variable a(ta, false), b(tb, false);
  for (int r = 0; r < 7; ++r) {
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) (void)ops::add(ta, tb);
    auto t1 = Clock::now();
    for (int i = 0; i < n; ++i) (void)F::add(a, b);
    auto t2 = Clock::now();
    arr.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
    fwd.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count() / n);

    Variable x(ta, true), y = x;
    auto t3 = Clock::now();
    for (int i = 0; i < chain; ++i) y = F::add(y, x);
    auto t4 = Clock::now();
    y.backward();
    auto t5 = Clock::now();
    chain_f.push_back(std::chrono::duration<double, std::nano>(t4 - t3).count() / chain);
    chain_b.push_back(std::chrono::duration<double, std::nano>(t5 - t4).count() / chain);
  }
  std::printf("array_add_forward %.0f\n", best(arr));
  std::printf("add_forward %.0f\n", best(fwd));
  std::printf("chain_forward %.0f\n", best(chain_f));
  std::printf("chain_backward %.0f\n", best(chain_b));
  std::printf("chain_total %.0f\n", best(chain_f) + best(chain_b));
  return 0;
}
