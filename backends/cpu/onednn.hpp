// oneDNN's int8 product (dnnl_gemm_s8s8s32), loaded at run time where the library is
// installed (Debian's libdnnl2), for core.gemm_i8 on CPUs with VNNI.
//
// Measured on this project's machines (benchmarks/int8), oneDNN's product runs 1.6x faster
// per core than Catena's own VNNI kernel at batch 100 and about as fast at batch 1; the own
// kernel stays for CPUs and installs without it. oneDNN is used only where its sums cannot
// saturate (VPDPBUSD: the CPU has AVX-512 VNNI or AVX-VNNI) and only after a check at load
// that it gives the exact, wrapping int32 sums the op defines.
//
// Catena splits each product over its own pool and calls oneDNN single-threaded on every
// part, as it does OpenBLAS: oneDNN's OpenMP threads would otherwise spin on the same
// cores as the pool's. The OpenMP thread count is set to 1 on the calling thread for the
// call and restored after, so a program's own OpenMP code is not affected.
#pragma once

#include <cstdint>
#include <string>

namespace catena_cpu {

using gemm_s8s8s32_fn = int (*)(char transa, char transb, char offsetc, int64_t m, int64_t n, int64_t k, float alpha,
                                const int8_t* a, int64_t lda, int8_t ao, const int8_t* b, int64_t ldb, int8_t bo,
                                float beta, int32_t* c, int64_t ldc, const int32_t* co);

struct OneDnn {
  bool loaded = false;
  std::string library;  // path of the loaded libdnnl
  std::string version;  // "2.6.3"
  std::string error;    // why it is not in use, in words
  gemm_s8s8s32_fn gemm = nullptr;
  int (*omp_get_max_threads)() = nullptr;  // null: a sequential build
  void (*omp_set_num_threads)(int) = nullptr;
};

// Load (once) and return oneDNN. Thread-safe. CATENA_CPU_INT8=vnni or scalar skips it.
const OneDnn& onednn();

// C (m x n, row stride ldc) = A (m x k, row stride lda) · Bᵀ (B: n x k, row stride ldb),
// exact int32, on the calling thread. false when oneDNN reported an error.
bool onednn_gemm_i8(const OneDnn& d, const int8_t* a, int64_t lda, const int8_t* b, int64_t ldb, int64_t m, int64_t n,
                    int64_t k, int32_t* c, int64_t ldc);

}  // namespace catena_cpu
