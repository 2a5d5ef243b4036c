// The int8 product beside oneDNN's (Debian's libdnnl-dev, when installed): core.gemm_i8
// through the runtime (on the kernel the cpu backend chose: oneDNN's, split over the pool,
// or with CATENA_CPU_INT8=vnni its own) and dnnl_gemm_s8s8s32 called directly on its own
// OpenMP threads, same process, same shapes (W5's layers at batch 1 and 100), int32 results
// compared. Prints the kernel, then "shape catena_us onednn_us ratio same". Built only where
// meson finds oneDNN; run by benchmarks/int8.
#include <catena/ops.hpp>
#include <catena/runtime.hpp>
#include <oneapi/dnnl/dnnl.h>

#include "median.hpp"

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace catena;

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf("Usage: catena-bench-int8-gemm\n\nCatena's int8 product (core.gemm_i8) beside oneDNN's "
                "dnnl_gemm_s8s8s32 on W5's layer shapes.\n");
    return 0;
  }
  struct Shape3 {
    int64_t m, k, n;
  };
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> byte(-127, 127);
  Device& cpu = runtime().cpu();
  const std::string& about = cpu.description();
  const size_t at = about.find("int8 GEMM");
  std::printf("core.gemm_i8: %s\n", at == std::string::npos ? "?" : about.substr(at, about.find(';', at) - at).c_str());
  std::printf("%-18s %10s %10s %8s %s\n", "M x K x N", "catena_us", "onednn_us", "ratio", "same");
  for (Shape3 s : {Shape3{1, 784, 1000}, Shape3{1, 1000, 1000}, Shape3{1, 1000, 10}, Shape3{100, 784, 1000},
                   Shape3{100, 1000, 1000}, Shape3{196, 288, 64}, Shape3{64, 288, 196}, Shape3{784, 9, 32},
                   Shape3{32, 9, 784}}) {
    std::vector<int8_t> a(size_t(s.m * s.k)), b(size_t(s.n * s.k));
    for (auto& v : a) v = int8_t(byte(rng));
    for (auto& v : b) v = int8_t(byte(rng));
    const Tensor ta = Tensor::from_vector(a, Shape{s.m, s.k}, cpu), tb = Tensor::from_vector(b, Shape{s.n, s.k}, cpu);
    Tensor y;
    const double catena_us = bench::median_us([&] { y = ops::gemm_i8(ta, tb); }, s.m == 1 ? 2000 : 200);
    std::vector<int32_t> c(size_t(s.m * s.n));
    const int32_t zero = 0;
    // Row-major: C (M x N) = A (M x K) · B^T, B stored N x K (transb = 'T').
    auto run = [&] {
      dnnl_gemm_s8s8s32('N', 'T', 'F', s.m, s.n, s.k, 1.0f, a.data(), s.k, 0, b.data(), s.k, 0, 0.0f, c.data(), s.n,
                        &zero);
    };
    const double onednn_us = bench::median_us(run, s.m == 1 ? 2000 : 200);
    const bool same = std::memcmp(y.to_vector<int32_t>().data(), c.data(), c.size() * 4) == 0;
    char shape[32];
    std::snprintf(shape, sizeof shape, "%lldx%lldx%lld", static_cast<long long>(s.m), static_cast<long long>(s.k),
                  static_cast<long long>(s.n));
    std::printf("%-18s %10.1f %10.1f %8.3f %s\n", shape, catena_us, onednn_us, catena_us / onednn_us, same ? "yes" : "NO");
  }
  return 0;
}
