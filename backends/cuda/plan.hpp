// Planning an op before any CUDA call: dtypes, the merged iteration space of an elementwise
// op, how a GEMM operand's strides map onto cuBLAS's (row- or column-major with a leading
// dimension, or a copy needed first). Host code only, tested without a GPU.
#pragma once

#include "kernels.hpp"

#include <catena/abi.h>

namespace catena_cuda {

Ty ty_of(ct_dtype d);
bool is_float(Ty t);
int64_t size_of_ty(Ty t);

// The element of index 0 of a tensor, as a device address.
char* element0(const ct_tensor* t);

// The iteration space of `n` tensors of one shape, dimensions of extent 1 dropped and
// neighbours merged where every operand's strides allow; operands[k] gets each tensor's
// address, dtype and merged strides. false when the rank is beyond kMaxDims.
bool plan_space(const ct_tensor* const* tensors, int n, Space& space, Operand* operands);

// A reduction of x into y (same rank, extent 1 on the reduced axes): `reduced[d]` says
// which. Dimensions of extent 1 are dropped. false when the ranks differ or exceed kMaxDims.
bool plan_reduce(const ct_tensor* x, const ct_tensor* y, const bool* reduced, ReduceSpace& r);

// A matrix (the last two dimensions of a tensor) as cuBLAS reads it.
struct MatrixLayout {
  bool usable = false;     // false: copy it into a dense one first
  bool col_major = false;  // stored transposed (the first dimension's stride is 1)
  int64_t ld = 0;          // leading dimension, in elements
};
MatrixLayout matrix_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride);

}  // namespace catena_cuda
