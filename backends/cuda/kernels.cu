// Elementwise kernels over strided operands: one thread an element, a grid-stride loop; the
// offsets come from the element's index through the (merged) shape, or are the index itself
// when every operand is dense. The op is a kernel argument (the same for every thread), the
// dtype a template parameter where the arithmetic depends on it.
#include "device.cuh"
#include "kernels.hpp"

namespace catena_cuda {

namespace {

struct Args {
  Space space;
  Operand op[4];
  bool dense;  // every operand's strides are the row-major ones: offset = index
};

__device__ inline void offsets(const Args& a, int n, int64_t index, int64_t* off) {
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

__global__ void fill_kernel(Args a, Scalar v) {
  const int64_t w = size_of(a.op[0].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[1];
    offsets(a, 1, i, off);
    store_scalar(a.op[0].data + off[0] * w, a.op[0].ty, v);
  }
}

// Same dtype: the bytes move unchanged.
template <class Word>
__global__ void move_kernel(Args a) {
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[2];
    offsets(a, 2, i, off);
    reinterpret_cast<Word*>(a.op[1].data)[off[1]] = reinterpret_cast<const Word*>(a.op[0].data)[off[0]];
  }
}

__global__ void convert_kernel(Args a) {
  const int64_t wx = size_of(a.op[0].ty), wy = size_of(a.op[1].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[2];
    offsets(a, 2, i, off);
    store_scalar(a.op[1].data + off[1] * wy, a.op[1].ty, load_scalar(a.op[0].data + off[0] * wx, a.op[0].ty));
  }
}

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
__global__ void unary_kernel(Args a, Unary op) {
  const int64_t w = size_of(a.op[0].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[2];
    offsets(a, 2, i, off);
    Io<S>::store(a.op[1].data + off[1] * w, unary_of<S>(op, Io<S>::load(a.op[0].data + off[0] * w)));
  }
}

template <class S>
__global__ void binary_kernel(Args a, Binary op) {
  const int64_t w = size_of(a.op[0].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[3];
    offsets(a, 3, i, off);
    Io<S>::store(a.op[2].data + off[2] * w,
                 binary_of<S>(op, Io<S>::load(a.op[0].data + off[0] * w), Io<S>::load(a.op[1].data + off[1] * w)));
  }
}

// Comparisons: both operands loaded in their compute type (bool as a byte), a bool out.
// C++'s operators follow IEEE: every comparison with NaN is false but !=.
template <class S>
__global__ void compare_kernel(Args a, Compare op) {
  const int64_t w = size_of(a.op[0].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[3];
    offsets(a, 3, i, off);
    const auto x = Io<S>::load(a.op[0].data + off[0] * w), y = Io<S>::load(a.op[1].data + off[1] * w);
    bool r = false;
    switch (op) {
      case Compare::equal: r = x == y; break;
      case Compare::not_equal: r = x != y; break;
      case Compare::less: r = x < y; break;
      case Compare::less_equal: r = x <= y; break;
      case Compare::greater: r = x > y; break;
      case Compare::greater_equal: r = x >= y; break;
    }
    *reinterpret_cast<uint8_t*>(a.op[2].data + off[2]) = r;
  }
}

// where: cond (a byte), a, b, y; the chosen element's bytes move unchanged.
template <class Word>
__global__ void where_kernel(Args a) {
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[4];
    offsets(a, 4, i, off);
    const bool c = reinterpret_cast<const uint8_t*>(a.op[0].data)[off[0]] != 0;
    reinterpret_cast<Word*>(a.op[3].data)[off[3]] =
        c ? reinterpret_cast<const Word*>(a.op[1].data)[off[1]] : reinterpret_cast<const Word*>(a.op[2].data)[off[2]];
  }
}

// ---- Reductions ------------------------------------------------------------------------
// One block per output element (a grid-stride loop over them): each thread folds the
// elements t, t + 256, ... in order, then the block combines the threads' results in a
// fixed tree. The order depends only on the shapes, so a run gives the same bits each time.
// Floats accumulate in double, integers in int64 (wrapping on store).

__device__ inline int64_t offset_in(int ndim, const int64_t* shape, const int64_t* strides, int64_t index) {
  int64_t off = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    const int64_t i = index % shape[d];
    index /= shape[d];
    off += i * strides[d];
  }
  return off;
}

template <class A>
struct Partial {
  A v;
  int64_t index;  // argmax: the index of v along the axis
  bool has;
};

template <class A>
__device__ inline bool nan_of(A v) {
  return v != v;
}

template <class A>
__device__ inline Partial<A> combine(Reduce op, Partial<A> x, Partial<A> y) {
  if (!x.has) return y;
  if (!y.has) return x;
  switch (op) {
    case Reduce::sum: case Reduce::mean: return {A(x.v + y.v), 0, true};
    case Reduce::max: case Reduce::min: {
      if (nan_of(x.v)) return x;
      if (nan_of(y.v)) return y;
      const bool take_x = op == Reduce::max ? x.v >= y.v : x.v <= y.v;
      return take_x ? x : y;
    }
    case Reduce::argmax: {
      // The first NaN, else the largest, the first of equals.
      const bool xn = nan_of(x.v), yn = nan_of(y.v);
      if (xn || yn) return xn && (!yn || x.index < y.index) ? x : y;
      if (x.v != y.v) return x.v > y.v ? x : y;
      return x.index < y.index ? x : y;
    }
  }
  return x;
}

template <class A>
__device__ inline Partial<A> wrap_sum(Partial<A> x, Partial<A> y) {
  return {A(uint64_t(x.v) + uint64_t(y.v)), 0, true};
}

template <class S>
__global__ void reduce_kernel(ReduceSpace r, Reduce op) {
  using C = typename Io<S>::C;
  using A = typename std::conditional<std::is_integral<C>::value, int64_t, double>::type;
  __shared__ Partial<A> part[kThreads];
  const int64_t w = size_of(r.ty);
  for (int64_t o = blockIdx.x; o < r.outputs; o += gridDim.x) {
    const int64_t xo = offset_in(r.kept_ndim, r.kept_shape, r.x_kept_strides, o);
    const int64_t yo = offset_in(r.kept_ndim, r.kept_shape, r.y_kept_strides, o);
    Partial<A> acc{A(0), 0, false};
    for (int64_t e = threadIdx.x; e < r.per_output; e += blockDim.x) {
      const int64_t xe = xo + offset_in(r.red_ndim, r.red_shape, r.x_red_strides, e);
      const Partial<A> v{A(Io<S>::load(r.x + xe * w)), e, true};
      acc = std::is_integral<C>::value && op == Reduce::sum && acc.has ? wrap_sum(acc, v) : combine(op, acc, v);
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int step = kThreads / 2; step > 0; step /= 2) {
      if (int(threadIdx.x) < step) {
        const Partial<A> x = part[threadIdx.x], y = part[threadIdx.x + step];
        part[threadIdx.x] = std::is_integral<C>::value && op == Reduce::sum && x.has && y.has ? wrap_sum(x, y)
                                                                                              : combine(op, x, y);
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      const Partial<A> total = part[0];
      if (op == Reduce::argmax) {
        *reinterpret_cast<int64_t*>(r.y + yo * 8) = total.index;
      } else {
        A v = total.has ? total.v : A(0);
        if (op == Reduce::mean) v = A(double(v) / double(r.per_output));
        Io<S>::store(r.y + yo * w, C(v));
      }
    }
    __syncthreads();
  }
}

template <class T>
__global__ void update_kernel(Update u, Hyper<T> h, int64_t n, const T* g, T* p, T* s0, T* s1, T* s2) {
  CT_GRID_LOOP(i, n) {
    T zero = T(0);
    T& a = s0 ? s0[i] : zero;
    T& b = s1 ? s1[i] : zero;
    T& c = s2 ? s2[i] : zero;
    update_element(u, h, g[i], p[i], a, b, c);
  }
}

// Element i (its row-major position: merging dimensions keeps that order) in y's dtype,
// through float32 for float16/bfloat16 as the cpu stores it.
template <class S>
__global__ void random_kernel(Args a, bool normal, uint64_t seed, uint64_t offset, double p, double q) {
  const int64_t w = size_of(a.op[0].ty);
  CT_GRID_LOOP(i, a.space.count) {
    int64_t off[1];
    offsets(a, 1, i, off);
    using C = typename Io<S>::C;
    Io<S>::store(a.op[0].data + off[0] * w, C(random_value(normal, seed, offset, i, p, q)));
  }
}

Args args(const Space& s, const Operand* ops, int n) {
  Args a;
  a.space = s;
  for (int k = 0; k < n; ++k) a.op[k] = ops[k];
  a.dense = is_dense(s, ops, n);
  return a;
}

}  // namespace

cudaError_t launch_fill(const Space& s, const Operand& y, double value, cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Args a = args(s, &y, 1);
  fill_kernel<<<blocks_for(s.count), kThreads, 0, stream>>>(a, Scalar{true, value, 0});
  return cudaGetLastError();
}

cudaError_t launch_copy(const Space& s, const Operand& x, const Operand& y, cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Operand ops[2] = {x, y};
  const Args a = args(s, ops, 2);
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
  const Args a = args(s, ops, 2);
  CT_BY_DTYPE(unary_kernel, x.ty, blocks_for(s.count), stream, a, op)
  return cudaGetLastError();
}

cudaError_t launch_binary(Binary op, const Space& s, const Operand& a, const Operand& b, const Operand& y,
                          cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Operand ops[3] = {a, b, y};
  const Args args3 = args(s, ops, 3);
  CT_BY_DTYPE(binary_kernel, a.ty, blocks_for(s.count), stream, args3, op)
  return cudaGetLastError();
}

cudaError_t launch_compare(Compare op, const Space& s, const Operand& a, const Operand& b, const Operand& y,
                           cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Operand ops[3] = {a, b, y};
  const Args args3 = args(s, ops, 3);
  if (a.ty == Ty::boolean) {
    compare_kernel<uint8_t><<<blocks_for(s.count), kThreads, 0, stream>>>(args3, op);
    return cudaGetLastError();
  }
  CT_BY_DTYPE(compare_kernel, a.ty, blocks_for(s.count), stream, args3, op)
  return cudaGetLastError();
}

cudaError_t launch_where(const Space& s, const Operand& cond, const Operand& a, const Operand& b, const Operand& y,
                         cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Operand ops[4] = {cond, a, b, y};
  const Args args4 = args(s, ops, 4);
  const unsigned blocks = blocks_for(s.count);
  switch (size_of(a.ty)) {
    case 1: where_kernel<uint8_t><<<blocks, kThreads, 0, stream>>>(args4); break;
    case 2: where_kernel<uint16_t><<<blocks, kThreads, 0, stream>>>(args4); break;
    case 4: where_kernel<uint32_t><<<blocks, kThreads, 0, stream>>>(args4); break;
    default: where_kernel<uint64_t><<<blocks, kThreads, 0, stream>>>(args4); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_random(bool normal, const Space& s, const Operand& y, uint64_t seed, uint64_t offset, double p,
                          double q, cudaStream_t stream) {
  if (s.count == 0) return cudaSuccess;
  const Args a = args(s, &y, 1);
  CT_BY_DTYPE(random_kernel, y.ty, blocks_for(s.count), stream, a, normal, seed, offset, p, q)
  return cudaGetLastError();
}

cudaError_t launch_reduce(Reduce op, const ReduceSpace& r, cudaStream_t stream) {
  if (r.outputs == 0) return cudaSuccess;
  const unsigned blocks = unsigned(r.outputs < 65535 * 8 ? r.outputs : 65535 * 8);
  CT_BY_DTYPE(reduce_kernel, r.ty, blocks, stream, r, op)
  return cudaGetLastError();
}

template <class T>
cudaError_t launch_update(Update u, const Hyper<T>& h, int64_t n, const T* g, T* p, T* s0, T* s1, T* s2,
                          cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  update_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(u, h, n, g, p, s0, s1, s2);
  return cudaGetLastError();
}
template cudaError_t launch_update<float>(Update, const Hyper<float>&, int64_t, const float*, float*, float*, float*,
                                          float*, cudaStream_t);
template cudaError_t launch_update<double>(Update, const Hyper<double>&, int64_t, const double*, double*, double*,
                                           double*, double*, cudaStream_t);

}  // namespace catena_cuda
