#include "blas.hpp"

#include <dlfcn.h>

namespace catena_cuda {

namespace {

Blas open_blas(const char* fallback_dir) {
  Blas b;
  const std::string so = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h && fallback_dir) h = dlopen((std::string(fallback_dir) + "/" + so).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* why = dlerror();
    b.error = "cuBLAS not found (" + so + (why ? std::string(": ") + why : std::string()) +
              "): install the CUDA Toolkit's cuBLAS " + std::to_string(CUBLAS_VER_MAJOR) +
              " or put its folder on LD_LIBRARY_PATH";
    return b;
  }
  auto sym = [&](auto& f, const char* name) {
    f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(h, name));
    return f != nullptr;
  };
  if (!sym(b.create, "cublasCreate_v2") || !sym(b.destroy, "cublasDestroy_v2") ||
      !sym(b.set_stream, "cublasSetStream_v2") || !sym(b.set_math_mode, "cublasSetMathMode") ||
      !sym(b.version, "cublasGetVersion_v2") || !sym(b.status_string, "cublasGetStatusString") ||
      !sym(b.gemm_strided_batched, "cublasGemmStridedBatchedEx")) {
    b.error = so + " lacks functions this backend calls: it is not cuBLAS " + std::to_string(CUBLAS_VER_MAJOR);
    return b;
  }
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(b.create), &info) && info.dli_fname) b.library = info.dli_fname;
  b.loaded = true;
  return b;
}

}  // namespace

const Blas& blas(const char* fallback_dir) {
  static const Blas* b = new Blas(open_blas(fallback_dir));
  return *b;
}

}  // namespace catena_cuda
