// The backend's own CUDA kernels (kernels.cu), as the host side launches them: operands
// described by a base pointer, strides in elements and a dtype, over one iteration space.
// Launched asynchronously on the given stream; the returned error is the launch's.
#pragma once

#include "elementwise.cuh"

#include <cuda_runtime_api.h>

#include <cstdint>

namespace catena_cuda {

constexpr int kMaxDims = 8;

// An elementwise iteration space, its dimensions merged where every operand allows, and up
// to three operands on it (strides in elements, per dimension).
struct Space {
  int ndim = 0;
  int64_t count = 0;
  int64_t shape[kMaxDims] = {};
};
struct Operand {
  char* data = nullptr;  // the element at index 0 (byte offset applied)
  Ty ty = Ty::unknown;
  int64_t strides[kMaxDims] = {};
};

// A reduction: the output elements (the kept dimensions, strides in x and in y) and, for
// each, the elements folded into it (the reduced dimensions, strides in x).
struct ReduceSpace {
  char* x = nullptr;
  char* y = nullptr;
  Ty ty = Ty::unknown;  // x's (and y's, but argmax: int64)
  int kept_ndim = 0, red_ndim = 0;
  int64_t outputs = 1, per_output = 1;
  int64_t kept_shape[kMaxDims] = {}, x_kept_strides[kMaxDims] = {}, y_kept_strides[kMaxDims] = {};
  int64_t red_shape[kMaxDims] = {}, x_red_strides[kMaxDims] = {};
};

// core.take / core.take_add: x (take) or the result y (take_add, after y = base), the
// indices, the updates (take_add), the axis; `flag`: a device int set when an index is out
// of range.
struct View {
  char* data = nullptr;
  int ndim = 0;
  int64_t shape[kMaxDims] = {}, strides[kMaxDims] = {};
};
struct TakeSpace {
  View x, idx, y, u;
  int axis = 0;
  int64_t n = 0, nidx = 0;  // the axis's extent, the number of indices
  bool idx64 = false;
  Ty ty = Ty::unknown;
  int* flag = nullptr;
};
cudaError_t launch_take(const TakeSpace& space, cudaStream_t stream);
cudaError_t launch_take_add(const TakeSpace& space, cudaStream_t stream);

cudaError_t launch_fill(const Space& space, const Operand& y, double value, cudaStream_t stream);
cudaError_t launch_copy(const Space& space, const Operand& x, const Operand& y, cudaStream_t stream);
cudaError_t launch_unary(Unary op, const Space& space, const Operand& x, const Operand& y, cudaStream_t stream);
cudaError_t launch_binary(Binary op, const Space& space, const Operand& a, const Operand& b, const Operand& y,
                          cudaStream_t stream);
cudaError_t launch_compare(Compare op, const Space& space, const Operand& a, const Operand& b, const Operand& y,
                           cudaStream_t stream);
cudaError_t launch_where(const Space& space, const Operand& cond, const Operand& a, const Operand& b,
                         const Operand& y, cudaStream_t stream);
// core.random_uniform (a, b: low, high) or core.random_normal (a, b: mean, stddev) into y.
cudaError_t launch_random(bool normal, const Space& space, const Operand& y, uint64_t seed, uint64_t offset, double a,
                          double b, cudaStream_t stream);
cudaError_t launch_reduce(Reduce op, const ReduceSpace& space, cudaStream_t stream);
// A fused optimizer update over n dense elements: g, then p and up to three state arrays
// (null where the rule has fewer).
template <class T>
cudaError_t launch_update(Update u, const Hyper<T>& h, int64_t n, const T* g, T* p, T* s0, T* s1, T* s2,
                          cudaStream_t stream);

}  // namespace catena_cuda
