// OpenBLAS, loaded by the backend itself so that it can choose the kernel first.
//
// Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to its slowest
// kernel. OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded, so the backend reads
// the CPU's features, sets OPENBLAS_CORETYPE for the duration of its own dlopen (only to
// a kernel whose instructions the CPU and OS support), and restores the environment.
// An OPENBLAS_CORETYPE already set by the user is always respected; an OpenBLAS already
// loaded by someone else is used as it is, and the device description says so.
#pragma once

#include <string>

namespace catena_cpu {

using sgemm_fn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a,
                          int lda, const float* b, int ldb, float beta, float* c, int ldc);
using dgemm_fn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, double alpha, const double* a,
                          int lda, const double* b, int ldb, double beta, double* c, int ldc);
using sgemv_fn = void (*)(int order, int trans, int m, int n, float alpha, const float* a, int lda, const float* x,
                          int incx, float beta, float* y, int incy);
using dgemv_fn = void (*)(int order, int trans, int m, int n, double alpha, const double* a, int lda, const double* x,
                          int incx, double beta, double* y, int incy);
enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112 };  // CBLAS's enum values

struct CpuFeatures {
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512vl = false, avx512bw = false, avx512dq = false, avx512cd = false;
  bool avx512bf16 = false;
};

CpuFeatures detect_cpu_features();
// The OpenBLAS core type to request for these features, or "" to let OpenBLAS decide.
const char* choose_coretype(const CpuFeatures& f);

struct Blas {
  bool loaded = false;
  std::string library;    // path of the loaded libopenblas
  std::string corename;   // openblas_get_corename()
  std::string config;     // openblas_get_config()
  std::string selection;  // how the kernel was chosen, in words
  std::string error;      // why OpenBLAS is not in use
  bool preloaded = false; // someone loaded OpenBLAS before us
  sgemm_fn sgemm = nullptr;
  dgemm_fn dgemm = nullptr;
  sgemv_fn sgemv = nullptr;  // for one-row products (batch-1 inference)
  dgemv_fn dgemv = nullptr;
  bool single_threaded = false;  // openblas_set_num_threads(1) was applied at load
};

// The most OpenBLAS calls Catena makes at once (one per part of a split product, or per
// thread of a convolution). OpenBLAS keeps a fixed table of work buffers (128 in Debian's
// build, MAX_THREADS=64) and aborts the process when more calls than that run at once.
constexpr int64_t kMaxBlasCalls = 64;

// Load (once) and return OpenBLAS. Thread-safe.
const Blas& blas();

}  // namespace catena_cpu
