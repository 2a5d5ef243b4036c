// SGEMM on a CUDA GPU through Catena (core.gemm on cuda:0: the runtime, the backend, cuBLAS)
// beside cuBLAS called directly (its own handle, stream and buffers), interleaved in one
// process: C = A B, square n, float32 exact (no TF32 unless CATENA_CUDA_TF32=1 — then both
// sides use it). Prints GFLOP/s of each (median of timed repeats after a warm-up) and the
// ratio the CUDA issue sets a goal for (>= 0.9). Built where the CUDA backend is.
//   catena-bench-cuda-gemm [n] [repeats]      (default 4096 and 20)
#include <catena/ops.hpp>
#include <catena/runtime.hpp>
#include <catena/tensor.hpp>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::printf("Usage: catena-bench-cuda-gemm [n] [repeats]\n\nSGEMM (n x n) on cuda:0 through Catena beside "
                "cuBLAS called directly; GFLOP/s and their ratio.\n");
    return 0;
  }
  const int n = argc > 1 ? std::atoi(argv[1]) : 4096, repeats = argc > 2 ? std::atoi(argv[2]) : 20;
  if (n <= 0 || repeats <= 0) {
    std::fprintf(stderr, "catena-bench-cuda-gemm: n and repeats must be positive\n");
    return 2;
  }
  try {
    catena::Device& gpu = catena::device("cuda:0");
    const catena::Shape shape{n, n};
    const catena::Tensor a = catena::ops::random_uniform(shape, catena::float32, gpu, 1, 0, -1, 1);
    const catena::Tensor b = catena::ops::random_uniform(shape, catena::float32, gpu, 2, 0, -1, 1);
    // cuBLAS's own side: its buffers filled from Catena's (same values).
    const size_t bytes = size_t(n) * size_t(n) * 4;
    const std::vector<float> ha = a.to_vector<float>(), hb = b.to_vector<float>();
    float *da = nullptr, *db = nullptr, *dc = nullptr;
    cudaStream_t stream = nullptr;
    cublasHandle_t h = nullptr;
    if (cudaMalloc(reinterpret_cast<void**>(&da), bytes) || cudaMalloc(reinterpret_cast<void**>(&db), bytes) ||
        cudaMalloc(reinterpret_cast<void**>(&dc), bytes) || cudaStreamCreate(&stream) ||
        cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
      std::fprintf(stderr, "catena-bench-cuda-gemm: CUDA setup failed\n");
      return 1;
    }
    cudaMemcpy(da, ha.data(), bytes, cudaMemcpyHostToDevice);
    cudaMemcpy(db, hb.data(), bytes, cudaMemcpyHostToDevice);
    cublasSetStream(h, stream);
    const char* tf32 = std::getenv("CATENA_CUDA_TF32");
    cublasSetMathMode(h, tf32 && std::string(tf32) == "1" ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    const float one = 1, zero = 0;
    auto direct = [&] {
      // Row-major C = A B is column-major Cᵀ = Bᵀ Aᵀ.
      cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, db, n, da, n, &zero, dc, n);
      cudaStreamSynchronize(stream);
    };
    catena::Tensor c;
    auto through = [&] {
      c = catena::ops::gemm(a, b);
      gpu.synchronize();
    };
    auto seconds = [](auto&& f) {
      const auto t0 = Clock::now();
      f();
      return std::chrono::duration<double>(Clock::now() - t0).count();
    };
    for (int i = 0; i < 3; ++i) direct(), through();
    std::vector<double> td, tc;
    for (int i = 0; i < repeats; ++i) td.push_back(seconds(direct)), tc.push_back(seconds(through));
    std::sort(td.begin(), td.end());
    std::sort(tc.begin(), tc.end());
    const double flop = 2.0 * n * double(n) * n;
    const double gd = flop / td[td.size() / 2] / 1e9, gc = flop / tc[tc.size() / 2] / 1e9;
    // The same product on both sides: compare a few elements.
    std::vector<float> hc(size_t(n) * size_t(n));
    cudaMemcpy(hc.data(), dc, bytes, cudaMemcpyDeviceToHost);
    const std::vector<float> mine = c.to_vector<float>();
    double worst = 0;
    for (size_t i = 0; i < hc.size(); i += 997) worst = std::max(worst, double(std::abs(hc[i] - mine[i])));
    std::printf("sgemm n=%d: catena %.0f GFLOP/s, cublas %.0f GFLOP/s, ratio %.3f (goal >= 0.9); largest "
                "difference %.3g\n", n, gc, gd, gc / gd, worst);
    cublasDestroy(h);
    cudaFree(da), cudaFree(db), cudaFree(dc);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "catena-bench-cuda-gemm: %s\n", e.what());
    return 1;
  }
}
