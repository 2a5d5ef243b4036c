// W4, the LibTorch side: ns per 1-element add, forward only (no autograd), and a chain of
// 1000 adds forward + backward. Same measurement as bench_overhead.cpp.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

static // The fastest repeat: on a shared machine noise only ever adds time.
double best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

int main(int argc, char** argv) {
  if (argc > 1) {
    std::printf("Usage: w4_libtorch\n\nThe LibTorch side of catena-bench-overhead (W4): ns per 1-element add, "
                "forward only and in a chain of 1000 adds with backward. Prints lines `name ns`.\n");
    return std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ? 0 : 2;
  }
  torch::set_num_threads(2);
  at::globalContext().setFlushDenormal(true);
  auto a = torch::full({1}, 1.0f), b = torch::full({1}, 2.0f);
  const int n = 20000, chain = 1000;
  std::vector<double> fwd, chain_f, chain_b;
  for (int r = 0; r < 7; ++r) {
    auto t0 = Clock::now();
    {
      torch::NoGradGuard no_grad;
      for (int i = 0; i < n; ++i) (void)torch::add(a, b);
    }
    auto t1 = Clock::now();
    fwd.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
    auto x = torch::full({1}, 1.0f, torch::requires_grad());
    auto y = x;
    auto t2 = Clock::now();
    for (int i = 0; i < chain; ++i) y = torch::add(y, x);
    auto t3 = Clock::now();
    y.backward();
    auto t4 = Clock::now();
    chain_f.push_back(std::chrono::duration<double, std::nano>(t3 - t2).count() / chain);
    chain_b.push_back(std::chrono::duration<double, std::nano>(t4 - t3).count() / chain);
  }
  std::printf("add_forward %.0f\n", best(fwd));
  std::printf("chain_forward %.0f\n", best(chain_f));
  std::printf("chain_backward %.0f\n", best(chain_b));
  std::printf("chain_total %.0f\n", best(chain_f) + best(chain_b));
  return 0;
}
