// The OpenCL backend's figures beside the CPU backend's and CLBlast's, in one process:
// SGEMM GFLOP/s (C = A B, square n) on an OpenCL device through Catena's runtime, the
// same product through CLBlast on the same OpenCL device (its own context and queue), and
// on the cpu backend. Runs are interleaved so that drift on a shared machine hits all
// sides alike; each figure is the median of the timed repeats after a warm-up (which
// includes compiling the kernels on a cold cache).
#include <catena/ops.hpp>
#include <catena/runtime.hpp>
#include <catena/tensor.hpp>

#include <boost/program_options.hpp>

#ifdef CATENA_HAVE_CLBLAST
#include <clblast_c.h>
#endif
#include <CL/cl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

#ifdef CATENA_HAVE_CLBLAST
// CLBlast on the OpenCL device whose name matches Catena's device: a context, a queue and
// three buffers of n x n floats.
class ClBlast {
 public:
  static std::optional<ClBlast> open(const std::string& device_name, std::string* why) {
    cl_uint np = 0;
    if (clGetPlatformIDs(0, nullptr, &np) != CL_SUCCESS || np == 0) return *why = "no OpenCL platform", std::nullopt;
    std::vector<cl_platform_id> ps(np);
    clGetPlatformIDs(np, ps.data(), nullptr);
    for (cl_platform_id p : ps) {
      cl_uint nd = 0;
      if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS) continue;
      std::vector<cl_device_id> ds(nd);
      clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, ds.data(), nullptr);
      for (cl_device_id d : ds) {
        char name[512] = {};
        clGetDeviceInfo(d, CL_DEVICE_NAME, sizeof name - 1, name, nullptr);
        if (device_name != name) continue;
        ClBlast b;
        cl_int rc = CL_SUCCESS;
        b.context_ = clCreateContext(nullptr, 1, &d, nullptr, nullptr, &rc);
        if (rc != CL_SUCCESS) return *why = "clCreateContext failed", std::nullopt;
        b.queue_ = clCreateCommandQueue(b.context_, d, 0, &rc);
        if (rc != CL_SUCCESS) return *why = "clCreateCommandQueue failed", std::nullopt;
        return b;
      }
    }
    *why = "no OpenCL device named '" + device_name + "'";
    return std::nullopt;
  }
  ClBlast(ClBlast&& o) noexcept : context_(o.context_), queue_(o.queue_), mem_(o.mem_), n_(o.n_) {
    o.context_ = nullptr, o.queue_ = nullptr, o.mem_ = {};
  }
  ~ClBlast() {
    release();
    if (queue_) clReleaseCommandQueue(queue_);
    if (context_) clReleaseContext(context_);
  }
  // Uploads A and B (n x n, row-major).
  bool load(int n, const std::vector<float>& a, const std::vector<float>& b) {
    release();
    n_ = n;
    size_t bytes = size_t(n) * n * sizeof(float);
    cl_int rc = CL_SUCCESS;
    for (int i = 0; i < 3; ++i) {
      const void* src = i == 0 ? a.data() : i == 1 ? b.data() : nullptr;
      mem_[i] = clCreateBuffer(context_, CL_MEM_READ_WRITE | (src ? CL_MEM_COPY_HOST_PTR : 0), bytes,
                               const_cast<void*>(src), &rc);
      if (rc != CL_SUCCESS) return false;
    }
    return true;
  }
  // C = A B, waited for; false on a CLBlast error.
  bool run() {
    size_t n = size_t(n_);
    CLBlastStatusCode st = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, n, n, n, 1.0f,
                                        mem_[0], 0, n, mem_[1], 0, n, 0.0f, mem_[2], 0, n, &queue_, nullptr);
    return st == CLBlastSuccess && clFinish(queue_) == CL_SUCCESS;
  }

 private:
  ClBlast() = default;
  void release() {
    for (cl_mem& m : mem_)
      if (m) clReleaseMemObject(m), m = nullptr;
  }
  cl_context context_ = nullptr;
  cl_command_queue queue_ = nullptr;
  std::array<cl_mem, 3> mem_{};
  int n_ = 0;
};
#endif

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("Options");
  opts.add_options()("help,h", "show this help")("device,d", po::value<std::string>()->default_value("opencl:0"),
                                                  "the OpenCL device (see `catena devices`)")(
      "sizes", po::value<std::vector<int>>()->multitoken()->default_value({256, 512, 1024}, "256 512 1024"),
      "square matrix sizes n")("repeats,r", po::value<int>()->default_value(5), "timed repeats per size and side");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bench_opencl: " << e.what() << "; see --help\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << "Usage: catena-bench-opencl [options]\n\nSGEMM GFLOP/s on an OpenCL device through Catena, through "
                 "CLBlast on the same device, and on Catena's cpu backend; same process, interleaved.\n\n"
              << opts;
    return 0;
  }
  try {
    catena::Device& cpu = catena::runtime().cpu();
    catena::Device& dev = catena::device(vm["device"].as<std::string>());
    std::cout << "device: " << dev.name() << " — " << dev.product_name() << " (" << dev.description() << ")\n";
    std::cout << "cpu:    " << cpu.description() << "\n";
#ifdef CATENA_HAVE_CLBLAST
    std::string why;
    std::optional<ClBlast> blast = ClBlast::open(dev.product_name(), &why);
    if (!blast) std::cout << "CLBlast: not run (" << why << ")\n";
#else
    std::cout << "CLBlast: not run (built without it: install libclblast-dev and reconfigure)\n";
#endif
    std::cout << "\n";
    std::printf("%6s  %14s  %15s  %14s  %15s\n", "n", "Catena OpenCL", "CLBlast OpenCL", "Catena cpu", "OpenCL/CLBlast");
    const int reps = vm["repeats"].as<int>();
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (int n : vm["sizes"].as<std::vector<int>>()) {
      std::vector<float> a(size_t(n) * n), b(size_t(n) * n);
      for (auto& x : a) x = dist(rng);
      for (auto& x : b) x = dist(rng);
      catena::Tensor Ac = catena::Tensor::from_vector(a, catena::Shape{n, n}, cpu);
      catena::Tensor Bc = catena::Tensor::from_vector(b, catena::Shape{n, n}, cpu);
      catena::Tensor Ad = Ac.to(dev), Bd = Bc.to(dev);
      std::vector<std::pair<std::string, std::function<void()>>> sides = {
          {"opencl", [&] { catena::ops::gemm(Ad, Bd), dev.synchronize(); }},
          {"cpu", [&] { catena::ops::gemm(Ac, Bc), cpu.synchronize(); }},
      };
#ifdef CATENA_HAVE_CLBLAST
      if (blast && blast->load(n, a, b))
        sides.push_back({"clblast", [&] {
                           if (!blast->run()) throw std::runtime_error("CLBlastSgemm failed");
                         }});
#endif
      std::map<std::string, std::vector<double>> t;
      for (auto& [name, f] : sides) f();  // warm up (and compile) every side
      for (int r = 0; r < reps; ++r)
        for (auto& [name, f] : sides) {
          auto t0 = Clock::now();
          f();
          t[name].push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        }
      const double flop = 2.0 * n * double(n) * n;
      auto gflops = [&](const std::string& name) { return t.count(name) ? flop / median(t[name]) / 1e9 : 0.0; };
      const double g_ocl = gflops("opencl"), g_blast = gflops("clblast"), g_cpu = gflops("cpu");
      char blast_col[32] = "-", ratio_col[32] = "-";
      if (g_blast > 0) {
        std::snprintf(blast_col, sizeof blast_col, "%.1f", g_blast);
        std::snprintf(ratio_col, sizeof ratio_col, "%.2fx", g_ocl / g_blast);
      }
      std::printf("%6d  %14.1f  %15s  %14.1f  %15s\n", n, g_ocl, blast_col, g_cpu, ratio_col);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_opencl: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
