// W3: SGEMM through the runtime's whole path (tensors from the caching allocator,
// dispatch, launch, synchronise) next to OpenBLAS called directly, in the same process
// and with the same OpenBLAS kernel (the best this CPU supports, as the cpu backend
// chose it). The direct calls use OpenBLAS's own threads, as many as Catena's (Catena
// calls OpenBLAS single-threaded on each part of a product it splits over its pool).
// Runs are interleaved so that drift on a shared machine hits both alike.
#include <catena/ops.hpp>
#include <catena/runtime.hpp>
#include <catena/tensor.hpp>

#include <boost/program_options.hpp>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <vector>

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

using sgemm_fn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("Options");
  opts.add_options()("help,h", "show this help")(
      "sizes", po::value<std::vector<int>>()->multitoken()->default_value({512, 1024, 2048}, "512 1024 2048"),
      "square matrix sizes n")("repeats,r", po::value<int>()->default_value(7), "timed repeats per size and side")(
      "min-ratio", po::value<double>()->default_value(0.0),
      "exit with status 1 if runtime/direct falls below this at any size (e.g. 0.9)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bench_gemm: " << e.what() << "; see --help\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "Usage: catena-bench-gemm [options]\n\nSGEMM GFLOP/s through Catena's runtime next to OpenBLAS "
                 "called directly, same process, same kernel.\n\n"
              << opts;
    return 0;
  }
  // OpenBLAS's idle threads would otherwise spin for 2^28 cycles after each direct call,
  // taking a core from the Catena run that follows (read when OpenBLAS loads).
  setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
  catena::Device& cpu = catena::runtime().cpu();
  std::cout << "device: cpu — " << cpu.description() << "\n";
  // The cpu backend loaded OpenBLAS with its kernel; take the very same library.
  void* blas = dlopen("libopenblas.so.0", RTLD_NOLOAD | RTLD_NOW);
  sgemm_fn direct = blas ? reinterpret_cast<sgemm_fn>(dlsym(blas, "cblas_sgemm")) : nullptr;
  auto corename = blas ? reinterpret_cast<char* (*)()>(dlsym(blas, "openblas_get_corename")) : nullptr;
  if (!direct) {
    std::cerr << "bench_gemm: OpenBLAS is not loaded in this process (install libopenblas0); nothing to compare\n";
    return 2;
  }
  auto set_threads = reinterpret_cast<void (*)(int)>(dlsym(blas, "openblas_set_num_threads"));
  const int threads = std::max(1, cpu.compute_units());  // the cpu backend's thread count
  std::cout << "OpenBLAS called directly: kernel " << (corename ? corename() : "?") << ", " << threads
            << " of its own threads\n\n";
  std::printf("%6s  %14s  %14s  %7s\n", "n", "direct GFLOP/s", "Catena GFLOP/s", "ratio");

  int reps = vm["repeats"].as<int>();
  double min_ratio = vm["min-ratio"].as<double>();
  bool ok = true;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (int n : vm["sizes"].as<std::vector<int>>()) {
    std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
    for (auto& x : a) x = dist(rng);
    for (auto& x : b) x = dist(rng);
    catena::Tensor A = catena::Tensor::from_vector(a, catena::Shape{n, n}, cpu);
    catena::Tensor B = catena::Tensor::from_vector(b, catena::Shape{n, n}, cpu);
    auto run_direct = [&] {
      if (set_threads) set_threads(threads);
      direct(101, 111, 111, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
      if (set_threads) set_threads(1);  // as the cpu backend keeps it
    };
    auto run_catena = [&] {
      catena::Tensor Y = catena::ops::gemm(A, B);
      cpu.synchronize();
    };
    run_direct();  // warm up both
    run_catena();
    std::vector<double> td, tc;
    for (int r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      run_direct();
      auto t1 = Clock::now();
      run_catena();
      auto t2 = Clock::now();
      td.push_back(std::chrono::duration<double>(t1 - t0).count());
      tc.push_back(std::chrono::duration<double>(t2 - t1).count());
    }
    double flop = 2.0 * n * double(n) * n;
    double gd = flop / median(td) / 1e9, gc = flop / median(tc) / 1e9;
    std::printf("%6d  %14.1f  %14.1f  %6.1f%%\n", n, gd, gc, 100.0 * gc / gd);
    if (gc / gd < min_ratio) ok = false;
  }
  if (!ok) {
    std::printf("\nbelow the required ratio of %.0f%%\n", 100 * min_ratio);
    return 1;
  }
  return 0;
}
