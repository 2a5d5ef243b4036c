// core.take and core.take_add over strided operands of any rank. An index outside [-n, n)
// sets the stream's flag (the host reports it at the next synchronisation) and the element
// it would have read is written as zero bytes (take) or skipped (take_add).
#include "device.cuh"
#include "kernels.hpp"

namespace catena_cuda {

namespace {

// The offset in `v` of the coordinates of flat position `index` (row-major over dims
// [from, to) of `shape`), each dimension d taking v.strides[d + shift].
__device__ inline int64_t offset_of(int64_t index, const int64_t* shape, int from, int to, const View& v, int shift) {
  int64_t off = 0;
  for (int d = to - 1; d >= from; --d) {
    const int64_t c = index % shape[d];
    index /= shape[d];
    off += c * v.strides[d + shift];
  }
  return off;
}

__device__ inline bool index_at(const TakeSpace& t, int64_t k, int64_t* out) {
  const int64_t off = offset_of(k, t.idx.shape, 0, t.idx.ndim, t.idx, 0);
  int64_t v = t.idx64 ? reinterpret_cast<const int64_t*>(t.idx.data)[off] : reinterpret_cast<const int32_t*>(t.idx.data)[off];
  if (v < -t.n || v >= t.n) {
    atomicOr(t.flag, 1);
    return false;
  }
  *out = v < 0 ? v + t.n : v;
  return true;
}

// y[o, k, i] = x[o, idx[k], i], y's elements in its row-major order.
template <class Word>
__global__ void take_kernel(TakeSpace t, int64_t count) {
  const int a = t.axis, ni = t.idx.ndim;
  CT_GRID_LOOP(j, count) {
    // y's dimensions: x's before the axis, the index's, x's after it.
    int64_t rest = j, yo = 0, xo = 0, k = 0, kscale = 1;
    for (int d = t.y.ndim - 1; d >= 0; --d) {
      const int64_t c = rest % t.y.shape[d];
      rest /= t.y.shape[d];
      yo += c * t.y.strides[d];
      if (d < a) xo += c * t.x.strides[d];
      else if (d < a + ni) k += c * kscale, kscale *= t.y.shape[d];
      else xo += c * t.x.strides[d - ni + 1];
    }
    int64_t v = 0;
    Word* out = reinterpret_cast<Word*>(t.y.data) + yo;
    if (index_at(t, k, &v)) *out = reinterpret_cast<const Word*>(t.x.data)[xo + v * t.x.strides[a]];
    else *out = Word(0);
  }
}

// After y = base: one thread per (o, i) column adds updates[o, k, i] into y[o, idx[k], i]
// for k in increasing order, so repeated indices accumulate as on the cpu, in the same
// order.
template <class S>
__global__ void take_add_kernel(TakeSpace t, int64_t outer, int64_t inner) {
  const int a = t.axis, ni = t.idx.ndim, w = int(size_of(t.ty));
  CT_GRID_LOOP(col, outer * inner) {
    const int64_t o = col / inner, i = col % inner;
    const int64_t y_outer = offset_of(o, t.y.shape, 0, a, t.y, 0);
    const int64_t y_inner = offset_of(i, t.y.shape, a + 1, t.y.ndim, t.y, 0);
    const int64_t u_outer = offset_of(o, t.y.shape, 0, a, t.u, 0);
    const int64_t u_inner = offset_of(i, t.y.shape, a + 1, t.y.ndim, t.u, ni - 1);
    const int64_t nidx = t.nidx;
    for (int64_t k = 0; k < nidx; ++k) {
      int64_t v = 0;
      if (!index_at(t, k, &v)) continue;
      const int64_t u_k = offset_of(k, t.idx.shape, 0, ni, t.u, a);
      char* dst = t.y.data + (y_outer + v * t.y.strides[a] + y_inner) * w;
      const char* src = t.u.data + (u_outer + u_k + u_inner) * w;
      Io<S>::store(dst, typename Io<S>::C(Io<S>::load(dst) + Io<S>::load(src)));
    }
  }
}

}  // namespace

cudaError_t launch_take(const TakeSpace& t, cudaStream_t stream) {
  int64_t count = 1;
  for (int d = 0; d < t.y.ndim; ++d) count *= t.y.shape[d];
  if (count == 0) return cudaSuccess;
  const unsigned blocks = blocks_for(count);
  switch (size_of(t.ty)) {
    case 1: take_kernel<uint8_t><<<blocks, kThreads, 0, stream>>>(t, count); break;
    case 2: take_kernel<uint16_t><<<blocks, kThreads, 0, stream>>>(t, count); break;
    case 4: take_kernel<uint32_t><<<blocks, kThreads, 0, stream>>>(t, count); break;
    default: take_kernel<uint64_t><<<blocks, kThreads, 0, stream>>>(t, count); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_take_add(const TakeSpace& t, cudaStream_t stream) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < t.axis; ++d) outer *= t.y.shape[d];
  for (int d = t.axis + 1; d < t.y.ndim; ++d) inner *= t.y.shape[d];
  if (outer * inner == 0 || t.nidx == 0) return cudaSuccess;
  CT_BY_DTYPE(take_add_kernel, t.ty, blocks_for(outer * inner), stream, t, outer, inner)
  return cudaGetLastError();
}

}  // namespace catena_cuda
