// The CPU backend's kernel table: what each op accepts and the function that runs it.
#pragma once

#include <catena/abi.h>
#include <catena/ct_sdk.h>

#include <string>
#include <vector>

namespace catena_cpu {

// Kernels report bad arguments by throwing; the backend turns it into a ct_status.
struct KernelError {
  ct_code code;
  std::string message;
};

// nullptr when the op is supported as described, else a short static reason.
using SupportFn = const char* (*)(const ct_op& op);
using KernelFn = void (*)(const ct_op& op);

struct KernelDef {
  const char* name;
  int version;
  SupportFn support;
  KernelFn run;
};

void add_elementwise_kernels(std::vector<KernelDef>& table);
void add_reduce_kernels(std::vector<KernelDef>& table);
void add_gemm_kernels(std::vector<KernelDef>& table);
void add_indexing_kernels(std::vector<KernelDef>& table);
void add_random_kernels(std::vector<KernelDef>& table);
void add_conv_kernels(std::vector<KernelDef>& table);
void add_pool_kernels(std::vector<KernelDef>& table);
void add_optim_kernels(std::vector<KernelDef>& table);
void add_int8_kernels(std::vector<KernelDef>& table);

// C = alpha op(A) op(B) + beta C on dense row-major matrices (OpenBLAS when loaded).
template <class T>
void dense_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
                int64_t ldb, T beta, T* c, int64_t ldc);

// Whether OpenBLAS gives the same bits for a product split in two as for the whole, at
// the sizes split products are balanced at (probed once per type and transposition;
// false without OpenBLAS). gemm.cpp balances split products only when it holds.
bool gemm_split_invariant(bool is_double, bool ta, bool tb);
// The same for the one-row products over large matrices (batch-1 inference) that are
// split into pieces of whole vectors of rows: probed once per type.
bool gemv_sweep_split_invariant(bool is_double);

// For tests of those products: make the thread that owns share 0 or 1 (0: the caller)
// wait before it starts until another thread has taken one of its pieces of rows, or `ns`
// nanoseconds passed (0: no wait); and how many pieces of rows threads have taken from
// others' shares so far.
void hold_sweep_share_for_tests(int share, int64_t ns);
// The int8 product's kernels (quantized.cpp): oneDNN's (onednn.hpp), Catena's AVX-512 VNNI
// one, a plain integer loop.
enum class Int8Kernel { onednn, vnni, scalar };
// The kernel core.gemm_i8 runs on, and why, in words (for the device's description).
std::string int8_kernel_description();
// For tests of the int8 product: y (m x n) = a (m x k) bᵀ (b: n x k), dense, by `kernel`
// (false when it cannot run here: no oneDNN, no VNNI).
bool gemm_i8_for_tests(Int8Kernel kernel, const int8_t* a, const int8_t* b, int64_t m, int64_t n, int64_t k,
                       int32_t* y);
int64_t sweep_pieces_taken();

// Attribute access through the SDK (defaults apply when the attribute is absent).
inline const ct_attr* find_attr(const ct_op& op, const char* name) { return ct_sdk_attr(&op, name); }
inline double attr_float(const ct_op& op, const char* name, double fallback) {
  return ct_sdk_float(&op, name, fallback);
}
inline int64_t attr_int(const ct_op& op, const char* name, int64_t fallback) { return ct_sdk_int(&op, name, fallback); }
// An INTS attribute's values (an INT as one value); empty when absent.
std::vector<int64_t> attr_ints(const ct_op& op, const char* name);

// dot(a, b) over n elements in 8 fixed lanes (lane l takes l, l + 8, ...), the lanes added
// in order, then the tail: no latency chain, and the same bits on every run.
template <class T>
inline T lane_dot(const T* __restrict a, const T* __restrict b, int64_t n) {
  T lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lane[l] += a[i + l] * b[i + l];
  T sum = 0;
  for (int l = 0; l < 8; ++l) sum += lane[l];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// Byte address of a tensor's first element.
inline char* base_of(const ct_tensor* t) { return static_cast<char*>(t->dl.data) + t->dl.byte_offset; }

inline int64_t numel(const ct_tensor* t) { return ct_sdk_numel(t); }
inline bool same_shape(const ct_tensor* a, const ct_tensor* b) { return ct_sdk_same_shape(a, b) != 0; }
// Row-major contiguous (extents of 1 may have any stride): the kernels' fast paths.
inline bool is_dense(const ct_tensor* t) { return ct_sdk_layout_of(t) == CT_SDK_DENSE; }

}  // namespace catena_cpu
