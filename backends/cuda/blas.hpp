// cuBLAS, opened by init (dlopen) rather than linked: a process that loads the plugin on a
// machine without a GPU never maps cuBLAS's few hundred megabytes, and a machine with a
// GPU but no cuBLAS gets a message naming the library.
#pragma once

#include <cublas_v2.h>

#include <string>

namespace catena_cuda {

struct Blas {
  bool loaded = false;
  std::string library, error;
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasGetVersion_v2) version = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
  // The overload with a cublasComputeType_t (the C++ header adds one taking a cudaDataType).
  using gemm_fn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                     const void*, const void*, cudaDataType, int, long long, const void*,
                                     cudaDataType, int, long long, const void*, void*, cudaDataType, int, long long,
                                     int, cublasComputeType_t, cublasGemmAlgo_t);
  gemm_fn gemm_strided_batched = nullptr;
};

// Opened once; `fallback_dir`: where the toolkit's libraries were at build time.
const Blas& blas(const char* fallback_dir = nullptr);

}  // namespace catena_cuda
