// core.take (numpy.take along one axis) and core.take_add (its adjoint: scatter-add).
#include "kernels.hpp"
#include "scalar.hpp"
#include "threadpool.hpp"

#include <algorithm>
#include <cstring>

namespace catena_cpu {

namespace {

int64_t index_at(const ct_tensor* idx, int64_t k) {
  // Indices are row-major over idx's shape, with its strides.
  int64_t off = 0, rem = k;
  for (int d = idx->dl.ndim - 1; d >= 0; --d) {
    int64_t n = idx->dl.shape[d];
    off += (rem % n) * idx->dl.strides[d];
    rem /= n;
  }
  const char* p = base_of(idx);
  return idx->dl.dtype.bits == 32 ? int64_t(reinterpret_cast<const int32_t*>(p)[off])
                                  : reinterpret_cast<const int64_t*>(p)[off];
}

// Byte offset of element (outer o, position j along axis, inner i) of a strided tensor
// viewed as (outer, axis, inner) with axis at `axis`.
struct Split3 {
  int axis;
  const ct_tensor* t;
  int64_t offset(int64_t o, int64_t j, int64_t i, int first_inner_dim) const {
    int64_t off = 0;
    int64_t item = (t->dl.dtype.bits + 7) / 8;
    int64_t rem = i;
    for (int d = t->dl.ndim - 1; d >= first_inner_dim; --d) {
      off += (rem % t->dl.shape[d]) * t->dl.strides[d];
      rem /= t->dl.shape[d];
    }
    off += j * t->dl.strides[axis];
    rem = o;
    for (int d = axis - 1; d >= 0; --d) {
      off += (rem % t->dl.shape[d]) * t->dl.strides[d];
      rem /= t->dl.shape[d];
    }
    return off * item;
  }
};

void range_error(int64_t v, int64_t n) {
  throw KernelError{CT_OUT_OF_RANGE, "index " + std::to_string(v) + " is out of range for an axis of extent " +
                                         std::to_string(n)};
}

// take on dense operands: rows of `inner` elements copied whole (a gather of single
// elements when inner is 1, as im2col's is), in parallel over (outer, k).
template <class Index, class T>
void take_dense(const char* xb, const Index* ids, char* yb, int64_t outer, int64_t nidx, int64_t n, int64_t inner) {
  for (int64_t k = 0; k < nidx; ++k)
    if (ids[k] < -n || ids[k] >= n) range_error(int64_t(ids[k]), n);
  const T* x = reinterpret_cast<const T*>(xb);
  T* y = reinterpret_cast<T*>(yb);
  // In parallel over (o, k): rows of y, each of `inner` elements.
  parallel_for(outer * nidx, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t b, int64_t e) {
    for (int64_t ok = b; ok < e;) {
      const int64_t o = ok / nidx, k0 = ok % nidx, k1 = std::min(nidx, k0 + (e - ok));
      const T* xo = x + o * n * inner;
      T* yo = y + o * nidx * inner;
      if (inner == 1) {
        for (int64_t k = k0; k < k1; ++k) yo[k] = xo[ids[k] < 0 ? ids[k] + n : ids[k]];
      } else {
        for (int64_t k = k0; k < k1; ++k)
          std::memcpy(yo + k * inner, xo + (ids[k] < 0 ? ids[k] + n : ids[k]) * inner, size_t(inner) * sizeof(T));
      }
      ok += k1 - k0;
    }
  });
}

template <class Index>
bool try_take_dense(const ct_tensor* x, const ct_tensor* idx, const ct_tensor* y, int64_t outer, int64_t nidx,
                    int64_t n, int64_t inner) {
  const Index* ids = reinterpret_cast<const Index*>(base_of(idx));
  switch ((x->dl.dtype.bits + 7) / 8) {
    case 1: take_dense<Index, uint8_t>(base_of(x), ids, base_of(y), outer, nidx, n, inner); return true;
    case 2: take_dense<Index, uint16_t>(base_of(x), ids, base_of(y), outer, nidx, n, inner); return true;
    case 4: take_dense<Index, uint32_t>(base_of(x), ids, base_of(y), outer, nidx, n, inner); return true;
    case 8: take_dense<Index, uint64_t>(base_of(x), ids, base_of(y), outer, nidx, n, inner); return true;
  }
  return false;
}

// y[o, k, i] = x[o, idx[k], i]
void run_take(const ct_op& op) {
  const ct_tensor* x = op.inputs[0];
  const ct_tensor* idx = op.inputs[1];
  const ct_tensor* y = op.outputs[0];
  int axis = static_cast<int>(attr_int(op, "axis", 0));
  int64_t outer = 1, inner = 1, n = x->dl.shape[axis], nidx = numel(idx);
  for (int d = 0; d < axis; ++d) outer *= x->dl.shape[d];
  for (int d = axis + 1; d < x->dl.ndim; ++d) inner *= x->dl.shape[d];
  if (is_dense(x) && is_dense(y) && is_dense(idx) &&
      (idx->dl.dtype.bits == 32 ? try_take_dense<int32_t>(x, idx, y, outer, nidx, n, inner)
                                : try_take_dense<int64_t>(x, idx, y, outer, nidx, n, inner)))
    return;
  std::vector<int64_t> ids(static_cast<size_t>(nidx));
  for (int64_t k = 0; k < nidx; ++k) {
    int64_t v = index_at(idx, k);
    if (v < -n || v >= n) range_error(v, n);
    ids[k] = v < 0 ? v + n : v;
  }
  int64_t item = (x->dl.dtype.bits + 7) / 8;
  Split3 sx{axis, x};
  Split3 sy{axis, y};  // y's "axis" spans idx.ndim dims; flatten them through index math below
  const char* xb = base_of(x);
  char* yb = base_of(y);
  int y_inner_first = axis + idx->dl.ndim;
  parallel_for(outer * nidx, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, inner)), [&](int64_t b, int64_t e) {
    for (int64_t ok = b; ok < e; ++ok) {
      int64_t o = ok / nidx, k = ok % nidx;
      // y's offset: outer dims, then the idx dims (row-major k), then inner.
      int64_t yo = 0, rem = k;
      for (int d = y_inner_first - 1; d >= axis; --d) {
        yo += (rem % y->dl.shape[d]) * y->dl.strides[d];
        rem /= y->dl.shape[d];
      }
      rem = o;
      for (int d = axis - 1; d >= 0; --d) {
        yo += (rem % y->dl.shape[d]) * y->dl.strides[d];
        rem /= y->dl.shape[d];
      }
      for (int64_t i = 0; i < inner; ++i) {
        int64_t xo = sx.offset(o, ids[k], i, axis + 1);
        int64_t yi = 0, r2 = i;
        for (int d = y->dl.ndim - 1; d >= y_inner_first; --d) {
          yi += (r2 % y->dl.shape[d]) * y->dl.strides[d];
          r2 /= y->dl.shape[d];
        }
        std::memcpy(yb + (yo + yi) * item, xb + xo, static_cast<size_t>(item));
      }
    }
  });
  (void)sy;
}

// y = base; y[o, idx[k], i] += updates[o, k, i], in order of k (deterministic).
void run_take_add(const ct_op& op) {
  const ct_tensor* base = op.inputs[0];
  const ct_tensor* idx = op.inputs[1];
  const ct_tensor* upd = op.inputs[2];
  const ct_tensor* y = op.outputs[0];
  int axis = static_cast<int>(attr_int(op, "axis", 0));
  int64_t outer = 1, inner = 1, n = base->dl.shape[axis], nidx = numel(idx);
  for (int d = 0; d < axis; ++d) outer *= base->dl.shape[d];
  for (int d = axis + 1; d < base->dl.ndim; ++d) inner *= base->dl.shape[d];
  std::vector<int64_t> ids(static_cast<size_t>(nidx));
  for (int64_t k = 0; k < nidx; ++k) {
    int64_t v = index_at(idx, k);
    if (v < -n || v >= n) range_error(v, n);
    ids[k] = v < 0 ? v + n : v;
  }
  Split3 sb{axis, base}, sy{axis, y};
  int u_inner_first = axis + idx->dl.ndim;
  visit(ty_of(y->dl.dtype), [&](auto tag) {
    using T = decltype(tag);
    using CT = Compute<T>;
    const char* bb = base_of(base);
    const char* ub = base_of(upd);
    char* yb = base_of(y);
    // Copy base into y, then accumulate; parallel over outer (disjoint outputs).
    parallel_for(outer, 1, [&](int64_t b0, int64_t e0) {
      for (int64_t o = b0; o < e0; ++o) {
        for (int64_t j = 0; j < n; ++j)
          for (int64_t i = 0; i < inner; ++i)
            *reinterpret_cast<T*>(yb + sy.offset(o, j, i, axis + 1)) =
                *reinterpret_cast<const T*>(bb + sb.offset(o, j, i, axis + 1));
        for (int64_t k = 0; k < nidx; ++k) {
          int64_t uo = 0, rem = k;
          for (int d = u_inner_first - 1; d >= axis; --d) {
            uo += (rem % upd->dl.shape[d]) * upd->dl.strides[d];
            rem /= upd->dl.shape[d];
          }
          rem = o;
          for (int d = axis - 1; d >= 0; --d) {
            uo += (rem % upd->dl.shape[d]) * upd->dl.strides[d];
            rem /= upd->dl.shape[d];
          }
          for (int64_t i = 0; i < inner; ++i) {
            int64_t ui = 0, r2 = i;
            for (int d = upd->dl.ndim - 1; d >= u_inner_first; --d) {
              ui += (r2 % upd->dl.shape[d]) * upd->dl.strides[d];
              r2 /= upd->dl.shape[d];
            }
            T& dst = *reinterpret_cast<T*>(yb + sy.offset(o, ids[k], i, axis + 1));
            T src = *reinterpret_cast<const T*>(ub + (uo + ui) * sizeof(T));
            dst = CT::store(CT::load(dst) + CT::load(src));
          }
        }
      }
    });
    return 0;
  });
}

bool is_index_dtype(ct_dtype d) { return ct_sdk_is_index(d) != 0; }
const char* check_take_shapes(const ct_tensor* x, const ct_tensor* idx, const ct_tensor* y, int64_t axis) {
  return ct_sdk_take_shapes(x, idx, y, axis);
}

const char* support_take(const ct_op& op) {
  if (op.num_inputs != 2 || op.num_outputs != 1) return "takes x, indices and one output";
  const ct_tensor* x = op.inputs[0];
  if (ty_of(x->dl.dtype) == Ty::unknown) return "unsupported dtype";
  if (!is_index_dtype(op.inputs[1]->dl.dtype)) return "indices must be int32 or int64";
  if (ty_of(op.outputs[0]->dl.dtype) != ty_of(x->dl.dtype)) return "output dtype must equal x's";
  return check_take_shapes(x, op.inputs[1], op.outputs[0], attr_int(op, "axis", 0));
}

const char* support_take_add(const ct_op& op) {
  if (op.num_inputs != 3 || op.num_outputs != 1) return "takes base, indices, updates and one output";
  const ct_tensor* base = op.inputs[0];
  Ty t = ty_of(base->dl.dtype);
  if (t == Ty::unknown || t == Ty::boolean) return "unsupported dtype";
  if (!is_index_dtype(op.inputs[1]->dl.dtype)) return "indices must be int32 or int64";
  if (ty_of(op.inputs[2]->dl.dtype) != t || ty_of(op.outputs[0]->dl.dtype) != t) return "dtypes must match";
  if (!same_shape(base, op.outputs[0])) return "output must have base's shape";
  return check_take_shapes(base, op.inputs[1], op.inputs[2], attr_int(op, "axis", 0));
}

}  // namespace

void add_indexing_kernels(std::vector<KernelDef>& k) {
  k.push_back({"core.take", 1, support_take, run_take});
  k.push_back({"core.take_add", 1, support_take_add, run_take_add});
}

}  // namespace catena_cpu
