#include "onednn.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace catena_cpu {

namespace {

// dnnl_version_t's layout (oneDNN 2.x and 3.x) and its runtime codes.
struct Version {
  int major, minor, patch;
  const char* hash;
  unsigned cpu_runtime, gpu_runtime;
};
constexpr unsigned kRuntimeSeq = 1, kRuntimeOmp = 2;

bool has_unsaturated_vnni() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni")) ||
         __builtin_cpu_supports("avxvnni");
#else
  return false;
#endif
}

// The library's sums against plain integer ones, wrap-around included: a few shapes with
// the full int8 range, and one long row of -128 · -128 whose sum passes 2^31.
bool exact(const OneDnn& d) {
  const int64_t m = 5, n = 7, k = 200;
  std::vector<int8_t> a(size_t(m * k)), b(size_t(n * k));
  uint32_t s = 12345;
  auto next = [&] { return s = s * 1103515245u + 12345u, int8_t(int(s >> 16) & 0xFF); };
  for (auto& v : a) v = next();
  for (auto& v : b) v = next();
  a[0] = b[0] = -128;
  std::vector<int32_t> c(size_t(m * n), 0);
  if (!onednn_gemm_i8(d, a.data(), k, b.data(), k, m, n, k, c.data(), n)) return false;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      uint32_t want = 0;
      for (int64_t p = 0; p < k; ++p) want += uint32_t(int32_t(a[size_t(i * k + p)]) * int32_t(b[size_t(j * k + p)]));
      if (c[size_t(i * n + j)] != int32_t(want)) return false;
    }
  const int64_t long_k = 140000;
  std::vector<int8_t> row(size_t(long_k), -128);
  int32_t got = 0;
  if (!onednn_gemm_i8(d, row.data(), long_k, row.data(), long_k, 1, 1, long_k, &got, 1)) return false;
  return got == int32_t(uint32_t(uint64_t(16384) * uint64_t(long_k)));
}

OneDnn load() {
  OneDnn d;
  const char* choice = std::getenv("CATENA_CPU_INT8");
  if (choice && (std::strcmp(choice, "vnni") == 0 || std::strcmp(choice, "scalar") == 0)) {
    d.error = std::string("oneDNN not used (CATENA_CPU_INT8=") + choice + ")";
    return d;
  }
  if (!has_unsaturated_vnni()) {
    d.error = "oneDNN not used: this CPU has no VNNI, where its int8 sums may saturate";
    return d;
  }
  void* handle = nullptr;
  for (const char* so : {"libdnnl.so.3", "libdnnl.so.2"}) {
    handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (handle) break;
  }
  if (!handle) {
    d.error = "oneDNN not found (libdnnl.so.2): the int8 product uses Catena's own kernel; install libdnnl2 for a "
              "faster one";
    return d;
  }
  auto version = reinterpret_cast<const Version* (*)()>(dlsym(handle, "dnnl_version"));
  d.gemm = reinterpret_cast<gemm_s8s8s32_fn>(dlsym(handle, "dnnl_gemm_s8s8s32"));
  if (!version || !d.gemm) {
    d.error = "the oneDNN library found has no dnnl_gemm_s8s8s32: the int8 product uses Catena's own kernel";
    d.gemm = nullptr;
    return d;
  }
  const Version* v = version();
  d.version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  if (v->cpu_runtime == kRuntimeOmp) {
    d.omp_get_max_threads = reinterpret_cast<int (*)()>(dlsym(handle, "omp_get_max_threads"));
    d.omp_set_num_threads = reinterpret_cast<void (*)(int)>(dlsym(handle, "omp_set_num_threads"));
    if (!d.omp_get_max_threads || !d.omp_set_num_threads) {
      d.error = "oneDNN " + d.version + " uses OpenMP but its omp_set_num_threads was not found: not used";
      d.gemm = nullptr;
      return d;
    }
  } else if (v->cpu_runtime != kRuntimeSeq) {
    d.error = "oneDNN " + d.version + " was built with a threading runtime Catena cannot limit to one thread: not used";
    d.gemm = nullptr;
    return d;
  }
  if (!exact(d)) {
    d.error = "oneDNN " + d.version + "'s int8 product did not give exact int32 sums on this CPU: not used";
    d.gemm = nullptr;
    return d;
  }
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(d.gemm), &info) && info.dli_fname) d.library = info.dli_fname;
  d.loaded = true;
  return d;
}

}  // namespace

bool onednn_gemm_i8(const OneDnn& d, const int8_t* a, int64_t lda, const int8_t* b, int64_t ldb, int64_t m, int64_t n,
                    int64_t k, int32_t* c, int64_t ldc) {
  const int32_t zero = 0;
  int saved = 0;
  if (d.omp_set_num_threads) {
    saved = d.omp_get_max_threads();
    d.omp_set_num_threads(1);
  }
  const int status = d.gemm('N', 'T', 'F', m, n, k, 1.0f, a, lda, 0, b, ldb, 0, 0.0f, c, ldc, &zero);
  if (d.omp_set_num_threads) d.omp_set_num_threads(saved);
  return status == 0;
}

const OneDnn& onednn() {
  static OneDnn* d = new OneDnn(load());
  return *d;
}

}  // namespace catena_cpu
