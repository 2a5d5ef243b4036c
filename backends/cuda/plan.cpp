#include "plan.hpp"

#include <catena/ct_sdk.h>

#include <algorithm>

namespace catena_cuda {

Ty ty_of(ct_dtype d) { return static_cast<Ty>(ct_sdk_type_of(d)); }
static_assert(int(Ty::f16) == CT_SDK_F16 && int(Ty::u8) == CT_SDK_U8 && int(Ty::boolean) == CT_SDK_BOOL &&
                  int(Ty::unknown) == CT_SDK_UNKNOWN,
              "Ty follows ct_sdk_type");

bool is_float(Ty t) { return t == Ty::f16 || t == Ty::bf16 || t == Ty::f32 || t == Ty::f64; }

int64_t size_of_ty(Ty t) {
  switch (t) {
    case Ty::f16: case Ty::bf16: return 2;
    case Ty::f32: case Ty::i32: return 4;
    case Ty::f64: case Ty::i64: return 8;
    default: return 1;
  }
}

char* element0(const ct_tensor* t) { return static_cast<char*>(t->dl.data) + t->dl.byte_offset; }

bool plan_space(const ct_tensor* const* ts, int n, Space& space, Operand* ops) {
  const int rank = ts[0]->dl.ndim;
  space = Space{};
  space.count = 1;
  for (int d = 0; d < rank; ++d) space.count *= ts[0]->dl.shape[d];
  for (int k = 0; k < n; ++k) {
    ops[k] = Operand{};
    ops[k].data = element0(ts[k]);
    ops[k].ty = ty_of(ts[k]->dl.dtype);
  }
  // Walk the dimensions outermost first, keeping those of extent > 1; a dimension merges
  // into the one kept before it when, for every operand, stepping the outer one equals
  // stepping the inner one across its whole extent.
  int kept = 0;
  for (int d = 0; d < rank; ++d) {
    const int64_t extent = ts[0]->dl.shape[d];
    if (extent == 1) continue;
    bool merge = kept > 0;
    for (int k = 0; k < n && merge; ++k)
      merge = ops[k].strides[kept - 1] == ts[k]->dl.strides[d] * extent;
    if (merge) {
      space.shape[kept - 1] *= extent;
      for (int k = 0; k < n; ++k) ops[k].strides[kept - 1] = ts[k]->dl.strides[d];
      continue;
    }
    if (kept == kMaxDims) return false;
    space.shape[kept] = extent;
    for (int k = 0; k < n; ++k) ops[k].strides[kept] = ts[k]->dl.strides[d];
    ++kept;
  }
  space.ndim = kept;
  return true;
}

bool plan_reduce(const ct_tensor* x, const ct_tensor* y, const bool* reduced, ReduceSpace& r) {
  r = ReduceSpace{};
  if (x->dl.ndim != y->dl.ndim || x->dl.ndim > kMaxDims) return false;
  r.x = element0(x), r.y = element0(y), r.ty = ty_of(x->dl.dtype);
  for (int d = 0; d < x->dl.ndim; ++d) {
    const int64_t extent = x->dl.shape[d];
    if (reduced[d]) {
      r.per_output *= extent;
      if (extent == 1) continue;
      r.red_shape[r.red_ndim] = extent;
      r.x_red_strides[r.red_ndim++] = x->dl.strides[d];
    } else {
      r.outputs *= extent;
      if (extent == 1) continue;
      r.kept_shape[r.kept_ndim] = extent;
      r.x_kept_strides[r.kept_ndim] = x->dl.strides[d];
      r.y_kept_strides[r.kept_ndim++] = y->dl.strides[d];
    }
  }
  return true;
}

MatrixLayout matrix_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  MatrixLayout m;
  // Row-major: columns adjacent, rows ld apart (ld >= cols; a single row needs nothing).
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= std::max<int64_t>(1, cols))) {
    m.usable = true;
    m.ld = rows == 1 ? std::max<int64_t>(1, cols) : rs;
    return m;
  }
  if ((rs == 1 || rows == 1) && (cols == 1 || cs >= std::max<int64_t>(1, rows))) {
    m.usable = true;
    m.col_major = true;
    m.ld = cols == 1 ? std::max<int64_t>(1, rows) : cs;
  }
  return m;
}

}  // namespace catena_cuda
