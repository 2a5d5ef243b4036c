// What the backend's .cu files share: the block size, the grid, dtype dispatch, and loading
// and storing each storage type in its compute type (float16/bfloat16 in float32).
#pragma once

#include "elementwise.cuh"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <type_traits>

namespace catena_cuda {

constexpr int kThreads = 256;

__host__ __device__ inline int64_t size_of(Ty t) {
  switch (t) {
    case Ty::f16: case Ty::bf16: return 2;
    case Ty::f32: case Ty::i32: return 4;
    case Ty::f64: case Ty::i64: return 8;
    default: return 1;
  }
}

inline unsigned blocks_for(int64_t count) {
  const int64_t b = (count + kThreads - 1) / kThreads;
  return unsigned(b < 65535 * 8 ? b : 65535 * 8);
}

#define CT_GRID_LOOP(i, count) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (count); i += int64_t(blockDim.x) * gridDim.x)

// Storage S computed in C (float16/bfloat16 in float32).
template <class S>
struct Io {
  using C = S;
  __device__ static C load(const char* p) { return *reinterpret_cast<const S*>(p); }
  __device__ static void store(char* p, C v) { *reinterpret_cast<S*>(p) = v; }
};
struct Half {};
struct Brain {};
template <>
struct Io<Half> {
  using C = float;
  __device__ static float load(const char* p) { return f16_to_float(*reinterpret_cast<const uint16_t*>(p)); }
  __device__ static void store(char* p, float v) { *reinterpret_cast<uint16_t*>(p) = float_to_f16(v); }
};
template <>
struct Io<Brain> {
  using C = float;
  __device__ static float load(const char* p) { return bf16_to_float(*reinterpret_cast<const uint16_t*>(p)); }
  __device__ static void store(char* p, float v) { *reinterpret_cast<uint16_t*>(p) = float_to_bf16(v); }
};

}  // namespace catena_cuda

// KERNEL<storage type> launched for dtype `t` with the given arguments.
#define CT_BY_DTYPE(KERNEL, t, blocks, stream, ...)                                      \
  switch (t) {                                                                          \
    case Ty::f16: KERNEL<Half><<<blocks, kThreads, 0, stream>>>(__VA_ARGS__); break;     \
    case Ty::bf16: KERNEL<Brain><<<blocks, kThreads, 0, stream>>>(__VA_ARGS__); break;   \
    case Ty::f32: KERNEL<float><<<blocks, kThreads, 0, stream>>>(__VA_ARGS__); break;    \
    case Ty::f64: KERNEL<double><<<blocks, kThreads, 0, stream>>>(__VA_ARGS__); break;   \
    case Ty::i8: KERNEL<int8_t><<<blocks, kThreads, 0, stream>>>(__VA_ARGS__); break;    \
    case Ty::i32: KERNEL<int32_t><<<blocks, kThreads, 0, stream>>>(__VA_ARGS__); break;  \
    case Ty::i64: KERNEL<int64_t><<<blocks, kThreads, 0, stream>>>(__VA_ARGS__); break;  \
    case Ty::u8: KERNEL<uint8_t><<<blocks, kThreads, 0, stream>>>(__VA_ARGS__); break;   \
    default: return cudaErrorInvalidValue;                                              \
  }

