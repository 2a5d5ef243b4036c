// Elementwise kernels over strided operands: one thread an element, a grid-stride loop; the
// offsets come from the element's index through the (merged) shape, or are the index itself
// when every operand is dense. The op is a kernel argument (the same for every thread), the
// dtype a template parameter where the arithmetic depends on it.
#include "kernels.hpp"

namespace catena_cuda {

namespace {

constexpr int kThreads = 256;

struct Args3 {
  Space space;
  Operand op[3];
  bool dense;  // every operand's strides are the row-major ones: offset = index
};

__device__ inline void offsets(const Args3& a, int n, int64_t index, int64_t* off) {
  for (int k = 0; k < n; ++k) off[k] = 0;
  if (a.dense) {
    for (int k = 0; k < n; ++k) off[k] = index;
    return;
  }
  for (int d = a.space.ndim - 1; d >= 0; --d) {
    const int64_t extent = a.space.shape[d], i = index % extent;
    index /= extent;
    for (int k = 0; k < n; ++k) off[k] += i * a.op[k].strides[d];
  }
}

__host__ __device__ inline int64_t size_of(Ty t) {
  switch (t) {
    case Ty::f16: case Ty::bf16: return 2;
    case Ty::f32: case Ty::i32: return 4;
    case Ty::f64: case Ty::i64: return 8;
    default: return 1;
  }
}

bool is_dense(const Space& s, const Operand* ops, int n) {
  for (int k = 0; k < n; ++k) {
    int64_t expect = 1;
    for (int d = s.ndim - 1; d >= 0; --d) {
      if (s.shape[d] != 1 && ops[k].strides[d] != expect) return false;
      expect *= s.shape[d];
    }
  }
  return true;
}

unsigned blocks_for(int64_t count) {
  const int64_t b = (count + kThreads - 1) / kThreads;
  return unsigned(b < 65535 * 8 ? b : 65535 * 8);
}

#define CT_GRID_LOOP(i, count) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (count); i += int64_t(blockDim.x) * gridDim.x)

__global__ void fill_kernel(Args3 a, Scalar v) {
  const int64_t w = size_of(a.op[0].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[1];
    offsets(a, 1, i, off);
    store_scalar(a.op[0].data + off[0] * w, a.op[0].ty, v);
  }
}

// Same dtype: the bytes move unchanged.
template <class Word>
__global__ void move_kernel(Args3 a) {
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[2];
    offsets(a, 2, i, off);
    reinterpret_cast<Word*>(a.op[1].data)[off[1]] = reinterpret_cast<const Word*>(a.op[0].data)[off[0]];
  }
}

__global__ void convert_kernel(Args3 a) {
  const int64_t wx = size_of(a.op[0].ty), wy = size_of(a.op[1].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[2];
    offsets(a, 2, i, off);
    store_scalar(a.op[1].data + off[1] * wy, a.op[1].ty, load_scalar(a.op[0].data + off[0] * wx, a.op[0].ty));
  }
}

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

template <class S>
__device__ inline typename Io<S>::C unary_of(Unary op, typename Io<S>::C x) {
  using C = typename Io<S>::C;
  if constexpr (std::is_integral<C>::value) return wrap_unary(op, x);
  else return apply_unary(op, x);
}
template <class S>
__device__ inline typename Io<S>::C binary_of(Binary op, typename Io<S>::C a, typename Io<S>::C b) {
  using C = typename Io<S>::C;
  if constexpr (std::is_integral<C>::value) return wrap_binary(op, a, b);
  else return apply_binary(op, a, b);
}

template <class S>
__global__ void unary_kernel(Args3 a, Unary op) {
  const int64_t w = size_of(a.op[0].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[2];
    offsets(a, 2, i, off);
    Io<S>::store(a.op[1].data + off[1] * w, unary_of<S>(op, Io<S>::load(a.op[0].data + off[0] * w)));
  }
}

template <class S>
__global__ void binary_kernel(Args3 a, Binary op) {
  const int64_t w = size_of(a.op[0].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[3];
    offsets(a, 3, i, off);
    Io<S>::store(a.op[2].data + off[2] * w,
                 binary_of<S>(op, Io<S>::load(a.op[0].data + off[0] * w), Io<S>::load(a.op[1].data + off[1] * w)));
  }
}

Args3 args(const Space& s, const Operand* ops, int n) {
  Args3 a;
  a.space = s;
  for (int k = 0; k < n; ++k) a.op[k] = ops[k];
  a.dense = is_dense(s, ops, n);
  return a;
}

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

}  // namespace

cudaError_t launch_fill(const Space& s, const Operand& y, double value, cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Args3 a = args(s, &y, 1);
  fill_kernel<<<blocks_for(s.count), kThreads, 0, stream>>>(a, Scalar{true, value, 0});
  return cudaGetLastError();
}

cudaError_t launch_copy(const Space& s, const Operand& x, const Operand& y, cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Operand ops[2] = {x, y};
  const Args3 a = args(s, ops, 2);
  const unsigned blocks = blocks_for(s.count);
  if (x.ty != y.ty) {
    convert_kernel<<<blocks, kThreads, 0, stream>>>(a);
  } else {
    switch (size_of(x.ty)) {
      case 1: move_kernel<uint8_t><<<blocks, kThreads, 0, stream>>>(a); break;
      case 2: move_kernel<uint16_t><<<blocks, kThreads, 0, stream>>>(a); break;
      case 4: move_kernel<uint32_t><<<blocks, kThreads, 0, stream>>>(a); break;
      default: move_kernel<uint64_t><<<blocks, kThreads, 0, stream>>>(a); break;
    }
  }
  return cudaGetLastError();
}

cudaError_t launch_unary(Unary op, const Space& s, const Operand& x, const Operand& y, cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Operand ops[2] = {x, y};
  const Args3 a = args(s, ops, 2);
  CT_BY_DTYPE(unary_kernel, x.ty, blocks_for(s.count), stream, a, op)
  return cudaGetLastError();
}

cudaError_t launch_binary(Binary op, const Space& s, const Operand& a, const Operand& b, const Operand& y,
                          cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Operand ops[3] = {a, b, y};
  const Args3 args3 = args(s, ops, 3);
  CT_BY_DTYPE(binary_kernel, a.ty, blocks_for(s.count), stream, args3, op)
  return cudaGetLastError();
}

}  // namespace catena_cuda
