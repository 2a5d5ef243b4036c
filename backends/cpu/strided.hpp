// Iteration over N operands of one shape with arbitrary (also zero or negative)
// strides: dims are coalesced where every operand allows it, then each row of the
// innermost dim is handed to a row function, in parallel over rows (or over chunks of
// a single long row).
#pragma once

#include "kernels.hpp"
#include "threadpool.hpp"

#include <catena/abi.h>

namespace catena_cpu {

constexpr int kMaxLoopDims = 16;

template <int N>
struct Loop {
  int ndim = 0;
  int64_t shape[kMaxLoopDims];
  int64_t strides[N][kMaxLoopDims];  // bytes
  char* base[N];
};

// All tensors must have tensors[0]'s shape.
template <int N>
Loop<N> make_loop(const ct_tensor* const* t) {
  Loop<N> L;
  const ct_dltensor& d0 = t[0]->dl;
  for (int k = 0; k < N; ++k) L.base[k] = base_of(t[k]);
  for (int i = 0; i < d0.ndim; ++i) {
    if (d0.shape[i] == 1) continue;
    int j = L.ndim;
    L.shape[j] = d0.shape[i];
    for (int k = 0; k < N; ++k) L.strides[k][j] = t[k]->dl.strides[i] * ((t[k]->dl.dtype.bits + 7) / 8);
    // Merge with the previous dim when every operand steps through both as one.
    bool merge = j > 0;
    for (int k = 0; k < N && merge; ++k) merge = L.strides[k][j - 1] == L.strides[k][j] * L.shape[j];
    if (merge) {
      L.shape[j - 1] *= L.shape[j];
      for (int k = 0; k < N; ++k) L.strides[k][j - 1] = L.strides[k][j];
    } else {
      ++L.ndim;
    }
  }
  return L;
}

// row(n, ptrs, inner_strides) processes n elements.
template <int N, class Row>
void run_loop(const Loop<N>& L, int64_t grain, const Row& row) {
  for (int i = 0; i < L.ndim; ++i)
    if (L.shape[i] == 0) return;
  if (L.ndim == 0) {
    char* p[N];
    int64_t s[N] = {};
    for (int k = 0; k < N; ++k) p[k] = L.base[k];
    row(int64_t(1), p, s);
    return;
  }
  const int last = L.ndim - 1;
  const int64_t inner = L.shape[last];
  int64_t s[N];
  for (int k = 0; k < N; ++k) s[k] = L.strides[k][last];
  int64_t rows = 1;
  for (int i = 0; i < last; ++i) rows *= L.shape[i];
  if (rows == 1) {
    parallel_for(inner, grain, [&](int64_t b, int64_t e) {
      char* p[N];
      for (int k = 0; k < N; ++k) p[k] = L.base[k] + b * s[k];
      row(e - b, p, s);
    });
    return;
  }
  int64_t row_grain = grain / inner + 1;
  parallel_for(rows, row_grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      char* p[N];
      for (int k = 0; k < N; ++k) p[k] = L.base[k];
      int64_t rem = r;
      for (int i = last - 1; i >= 0; --i) {
        int64_t idx = rem % L.shape[i];
        rem /= L.shape[i];
        for (int k = 0; k < N; ++k) p[k] += idx * L.strides[k][i];
      }
      row(inner, p, s);
    }
  });
}

}  // namespace catena_cpu
