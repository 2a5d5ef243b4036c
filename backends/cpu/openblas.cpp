#include "openblas.hpp"

#include <dlfcn.h>

#include <cstdlib>

namespace catena_cpu {

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // libgcc also checks that the OS saves the AVX/AVX-512 register state (XGETBV).
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512cd = __builtin_cpu_supports("avx512cd");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
  return f;
}

const char* choose_coretype(const CpuFeatures& f) {
  bool skx = f.avx512f && f.avx512vl && f.avx512bw && f.avx512dq && f.avx512cd && f.avx2 && f.fma;
  if (skx && f.avx512bf16) return "Cooperlake";  // SkylakeX's kernels plus BF16 ones
  if (skx) return "SkylakeX";
  if (f.avx2 && f.fma) return "Haswell";
  return "";  // older CPUs: OpenBLAS's own detection knows them
}

namespace {

Blas load() {
  Blas b;
  const char* sonames[] = {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"};
  void* handle = nullptr;
  // Already in the process? Then its kernel is fixed and we can only report it.
  for (const char* so : sonames) {
    void* h = dlopen(so, RTLD_NOLOAD | RTLD_LAZY);
    if (h && dlsym(h, "openblas_get_corename")) {
      handle = h;
      b.preloaded = true;
      break;
    }
    if (h) dlclose(h);
  }
  if (!handle && dlsym(RTLD_DEFAULT, "openblas_get_corename")) {
    handle = RTLD_DEFAULT;
    b.preloaded = true;
  }
  if (!handle) {
    const char* user = std::getenv("OPENBLAS_CORETYPE");
    std::string chosen;
    if (user && *user) {
      b.selection = std::string("OPENBLAS_CORETYPE=") + user + " from the environment (respected)";
    } else {
      chosen = choose_coretype(detect_cpu_features());
      b.selection = chosen.empty() ? "OpenBLAS's own CPU detection (no faster kernel known for this CPU)"
                                   : "chosen by Catena from the CPU's features: " + chosen;
      if (!chosen.empty()) setenv("OPENBLAS_CORETYPE", chosen.c_str(), 1);
    }
    // Catena calls OpenBLAS single-threaded from its own pool (gemm.cpp), so OpenBLAS
    // need not start threads of its own: OPENBLAS_NUM_THREADS=1 while it loads.
    const char* user_threads = std::getenv("OPENBLAS_NUM_THREADS");
    const std::string saved_threads = user_threads ? user_threads : "";
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    for (const char* so : sonames) {
      handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
      if (handle && dlsym(handle, "cblas_sgemm")) break;
      if (handle) dlclose(handle);
      handle = nullptr;
    }
    if (!chosen.empty()) unsetenv("OPENBLAS_CORETYPE");
    if (user_threads)
      setenv("OPENBLAS_NUM_THREADS", saved_threads.c_str(), 1);
    else
      unsetenv("OPENBLAS_NUM_THREADS");
    if (!handle) {
      b.error = "OpenBLAS not found (libopenblas.so.0): GEMM uses Catena's built-in kernel, which is much slower; "
                "install libopenblas0";
      return b;
    }
  } else {
    b.selection = "OpenBLAS was already loaded by the process before Catena; its kernel was fixed then (set "
                  "OPENBLAS_CORETYPE before the process starts to change it)";
  }
  b.sgemm = reinterpret_cast<sgemm_fn>(dlsym(handle, "cblas_sgemm"));
  b.dgemm = reinterpret_cast<dgemm_fn>(dlsym(handle, "cblas_dgemm"));
  b.sgemv = reinterpret_cast<sgemv_fn>(dlsym(handle, "cblas_sgemv"));
  b.dgemv = reinterpret_cast<dgemv_fn>(dlsym(handle, "cblas_dgemv"));
  auto corename = reinterpret_cast<char* (*)()>(dlsym(handle, "openblas_get_corename"));
  auto config = reinterpret_cast<char* (*)()>(dlsym(handle, "openblas_get_config"));
  auto set_threads = reinterpret_cast<void (*)(int)>(dlsym(handle, "openblas_set_num_threads"));
  if (!b.sgemm || !b.dgemm) {
    b.error = "the BLAS library found has no cblas_sgemm/cblas_dgemm; GEMM uses Catena's built-in kernel";
    b.sgemm = nullptr;
    b.dgemm = nullptr;
    return b;
  }
  if (corename) b.corename = corename();
  if (config) b.config = config();
  // OpenBLAS runs every call on the calling thread; Catena splits products over its own
  // pool (gemm.cpp). Its threads would otherwise wake for each call and compete for the
  // cores with the pool's.
  if (set_threads) {
    set_threads(1);
    b.single_threaded = true;
  }
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(b.sgemm), &info) && info.dli_fname) b.library = info.dli_fname;
  b.loaded = true;
  return b;
}

}  // namespace

const Blas& blas() {
  static Blas* b = new Blas(load());
  return *b;
}

}  // namespace catena_cpu
