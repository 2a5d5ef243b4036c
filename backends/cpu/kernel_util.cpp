// Helpers shared by the kernel files.
#include "kernels.hpp"

#include <cstring>

namespace catena_cpu {

const ct_attr* find_attr(const ct_op& op, const char* name) {
  for (int i = 0; i < op.num_attrs; ++i)
    if (std::strcmp(op.attrs[i].name, name) == 0) return &op.attrs[i];
  return nullptr;
}

double attr_float(const ct_op& op, const char* name, double fallback) {
  const ct_attr* a = find_attr(op, name);
  if (!a) return fallback;
  if (a->type == CT_ATTR_FLOAT) return a->v.f;
  if (a->type == CT_ATTR_INT || a->type == CT_ATTR_BOOL) return static_cast<double>(a->v.i);
  return fallback;
}

int64_t attr_int(const ct_op& op, const char* name, int64_t fallback) {
  const ct_attr* a = find_attr(op, name);
  if (!a) return fallback;
  if (a->type == CT_ATTR_INT || a->type == CT_ATTR_BOOL) return a->v.i;
  if (a->type == CT_ATTR_FLOAT) return static_cast<int64_t>(a->v.f);
  return fallback;
}

std::vector<int64_t> attr_ints(const ct_op& op, const char* name) {
  const ct_attr* a = find_attr(op, name);
  if (!a) return {};
  if (a->type == CT_ATTR_INTS) return std::vector<int64_t>(a->v.ints, a->v.ints + a->count);
  if (a->type == CT_ATTR_INT) return {a->v.i};
  return {};
}

int64_t numel(const ct_tensor* t) {
  int64_t n = 1;
  for (int i = 0; i < t->dl.ndim; ++i) n *= t->dl.shape[i];
  return n;
}

bool is_dense(const ct_tensor* t) {
  int64_t expect = 1;
  for (int d = t->dl.ndim - 1; d >= 0; --d) {
    if (t->dl.shape[d] != 1 && t->dl.strides[d] != expect) return false;
    expect *= t->dl.shape[d];
  }
  return true;
}

bool same_shape(const ct_tensor* a, const ct_tensor* b) {
  if (a->dl.ndim != b->dl.ndim) return false;
  for (int i = 0; i < a->dl.ndim; ++i)
    if (a->dl.shape[i] != b->dl.shape[i]) return false;
  return true;
}

}  // namespace catena_cpu
