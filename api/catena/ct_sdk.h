/*
 * Catena plugin SDK — what every backend reads out of api/OPS.md, written once: attributes
 * by name and type with the catalogue's defaults, element counts and layout classes, the
 * geometry of the convolution and pooling ops.
 *
 * Header-only (static inline, no library to link), C99 and C++; not part of the ABI: it
 * may grow with every Catena release, and a backend built against an older copy keeps
 * working, as it only reads ABI structs. Names start with ct_sdk_.
 */
#ifndef CATENA_CT_SDK_H
#define CATENA_CT_SDK_H

#include <catena/ct_op.h>
#include <catena/ct_tensor.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Attributes --------------------------------------------------------------------- */

/* The attribute `name`, or NULL when the op has none of that name. */
static inline const ct_attr* ct_sdk_attr(const ct_op* op, const char* name) {
  int32_t i;
  for (i = 0; i < op->num_attrs; ++i)
    if (strcmp(op->attrs[i].name, name) == 0) return &op->attrs[i];
  return NULL;
}

/* An INT or BOOL attribute (a FLOAT one truncated); `fallback` when absent or of
 * another type. */
static inline int64_t ct_sdk_int(const ct_op* op, const char* name, int64_t fallback) {
  const ct_attr* a = ct_sdk_attr(op, name);
  if (!a) return fallback;
  if (a->type == CT_ATTR_INT || a->type == CT_ATTR_BOOL) return a->v.i;
  if (a->type == CT_ATTR_FLOAT) return (int64_t)a->v.f;
  return fallback;
}

/* A FLOAT attribute (an INT or BOOL one converted); `fallback` when absent or of
 * another type. */
static inline double ct_sdk_float(const ct_op* op, const char* name, double fallback) {
  const ct_attr* a = ct_sdk_attr(op, name);
  if (!a) return fallback;
  if (a->type == CT_ATTR_FLOAT) return a->v.f;
  if (a->type == CT_ATTR_INT || a->type == CT_ATTR_BOOL) return (double)a->v.i;
  return fallback;
}

/* Whether an INT or BOOL attribute is present (its value in *out). */
static inline int ct_sdk_has_int(const ct_op* op, const char* name, int64_t* out) {
  const ct_attr* a = ct_sdk_attr(op, name);
  if (!a || (a->type != CT_ATTR_INT && a->type != CT_ATTR_BOOL)) return 0;
  *out = a->v.i;
  return 1;
}

/* An INTS attribute's values (an INT one as one value): their count, and up to
 * `capacity` of them in out; -1 when absent or of another type. */
static inline int32_t ct_sdk_ints(const ct_op* op, const char* name, int64_t* out, int32_t capacity) {
  const ct_attr* a = ct_sdk_attr(op, name);
  int32_t i;
  if (!a) return -1;
  if (a->type == CT_ATTR_INT) {
    if (capacity > 0) out[0] = a->v.i;
    return 1;
  }
  if (a->type != CT_ATTR_INTS || a->count < 0) return -1;
  for (i = 0; i < a->count && i < capacity; ++i) out[i] = a->v.ints[i];
  return a->count;
}

/* A [y, x] pair (`stride`, `pad`, `ksize`): an INTS of two, or one value for both (an
 * INTS of one, or an INT). Absent: both `fallback`, and 1 unless `required`. Returns 0 for
 * anything else. */
static inline int ct_sdk_pair(const ct_op* op, const char* name, int64_t fallback, int required, int64_t* y,
                              int64_t* x) {
  int64_t v[2] = {fallback, fallback};
  const int32_t n = ct_sdk_ints(op, name, v, 2);
  if (n < 0 && ct_sdk_attr(op, name)) return 0; /* present, of a wrong type */
  if (n < 0) {
    *y = *x = fallback;
    return !required;
  }
  if (n < 1 || n > 2) return 0;
  *y = v[0];
  *x = v[n - 1];
  return 1;
}

/* ---- Tensors ------------------------------------------------------------------------ */

static inline int64_t ct_sdk_numel(const ct_tensor* t) {
  int64_t n = 1;
  int32_t i;
  for (i = 0; i < t->dl.ndim; ++i) n *= t->dl.shape[i];
  return n;
}

/* Bytes per element (bool is one byte). */
static inline size_t ct_sdk_elem_size(const ct_tensor* t) { return t->dl.dtype.bits <= 8 ? 1 : t->dl.dtype.bits / 8; }

static inline int ct_sdk_same_dtype(const ct_tensor* a, const ct_tensor* b) {
  return a->dl.dtype.code == b->dl.dtype.code && a->dl.dtype.bits == b->dl.dtype.bits &&
         a->dl.dtype.lanes == b->dl.dtype.lanes;
}

static inline int ct_sdk_same_shape(const ct_tensor* a, const ct_tensor* b) {
  int32_t i;
  if (a->dl.ndim != b->dl.ndim) return 0;
  for (i = 0; i < a->dl.ndim; ++i)
    if (a->dl.shape[i] != b->dl.shape[i]) return 0;
  return 1;
}

/* The view's offset from its buffer's start, in elements. */
static inline int64_t ct_sdk_offset(const ct_tensor* t) { return (int64_t)(t->dl.byte_offset / ct_sdk_elem_size(t)); }

/* The dtypes of api/OPS.md, as a switch-friendly tag (in this order in every release). */
typedef enum ct_sdk_type {
  CT_SDK_F16 = 0,
  CT_SDK_BF16,
  CT_SDK_F32,
  CT_SDK_F64,
  CT_SDK_I8,
  CT_SDK_I32,
  CT_SDK_I64,
  CT_SDK_U8,
  CT_SDK_BOOL,
  CT_SDK_UNKNOWN /* not a dtype of the catalogue (other widths, vector lanes) */
} ct_sdk_type;

static inline ct_sdk_type ct_sdk_type_of(ct_dtype d) {
  if (d.lanes != 1) return CT_SDK_UNKNOWN;
  switch (d.code) {
    case CT_DTYPE_FLOAT: return d.bits == 16 ? CT_SDK_F16 : d.bits == 32 ? CT_SDK_F32 : d.bits == 64 ? CT_SDK_F64 : CT_SDK_UNKNOWN;
    case CT_DTYPE_BFLOAT: return d.bits == 16 ? CT_SDK_BF16 : CT_SDK_UNKNOWN;
    case CT_DTYPE_INT: return d.bits == 8 ? CT_SDK_I8 : d.bits == 32 ? CT_SDK_I32 : d.bits == 64 ? CT_SDK_I64 : CT_SDK_UNKNOWN;
    case CT_DTYPE_UINT: return d.bits == 8 ? CT_SDK_U8 : CT_SDK_UNKNOWN;
    case CT_DTYPE_BOOL: return d.bits == 8 ? CT_SDK_BOOL : CT_SDK_UNKNOWN;
    default: return CT_SDK_UNKNOWN;
  }
}

/* Layout classes, as the host's dispatch sees them. */
typedef enum ct_sdk_layout {
  CT_SDK_DENSE = 0,    /* row-major contiguous (extents of 1 may have any stride) */
  CT_SDK_STRIDED = 1,  /* positive strides, not dense */
  CT_SDK_IRREGULAR = 2 /* some stride is zero (broadcast) or negative */
} ct_sdk_layout;

static inline ct_sdk_layout ct_sdk_layout_of(const ct_tensor* t) {
  int64_t expect = 1;
  int dense = 1;
  int32_t d;
  for (d = t->dl.ndim - 1; d >= 0; --d) {
    if (t->dl.shape[d] != 1 && t->dl.strides[d] <= 0) return CT_SDK_IRREGULAR;
    if (t->dl.shape[d] != 1 && t->dl.strides[d] != expect) dense = 0;
    expect *= t->dl.shape[d];
  }
  return dense ? CT_SDK_DENSE : CT_SDK_STRIDED;
}

/* ---- Indexing ----------------------------------------------------------------------- */

/* core.take's shapes: `y` (or take_add's `updates`) is x.shape[:axis] + indices.shape +
 * x.shape[axis+1:]. NULL when they are, else what is wrong. */
static inline const char* ct_sdk_take_shapes(const ct_tensor* x, const ct_tensor* idx, const ct_tensor* y, int64_t axis) {
  int32_t i, d = 0;
  if (axis < 0 || axis >= x->dl.ndim) return "axis out of range";
  if (y->dl.ndim != x->dl.ndim - 1 + idx->dl.ndim) return "result rank must be x.ndim - 1 + indices.ndim";
  for (i = 0; i < axis; ++i)
    if (y->dl.shape[d++] != x->dl.shape[i]) return "result shape mismatch";
  for (i = 0; i < idx->dl.ndim; ++i)
    if (y->dl.shape[d++] != idx->dl.shape[i]) return "result shape mismatch";
  for (i = (int32_t)axis + 1; i < x->dl.ndim; ++i)
    if (y->dl.shape[d++] != x->dl.shape[i]) return "result shape mismatch";
  return NULL;
}

/* Indices of core.take and take_add: int32 or int64. */
static inline int ct_sdk_is_index(ct_dtype d) {
  return d.code == CT_DTYPE_INT && (d.bits == 32 || d.bits == 64) && d.lanes == 1;
}

/* ---- Convolution and pooling (NCHW) ------------------------------------------------- */

/* An output extent of convolution (dilation d) or pooling (d = 1), per OPS.md. */
static inline int64_t ct_sdk_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, int cover_all) {
  const int64_t dk = d * (k - 1) + 1;
  return cover_all ? (in + 2 * p - dk + s - 1) / s + 1 : (in + 2 * p - dk) / s + 1;
}

/* The geometry of core.conv2d, core.conv2d_grad_input and core.conv2d_grad_weight, with
 * the operands in their roles: `big` is x (or gx), `filter` W (or gW), `small` y (or gy),
 * `bias` b (conv2d with three inputs, else NULL). */
typedef struct ct_sdk_conv2d {
  int64_t n, c, h, w;  /* big */
  int64_t oc, kh, kw;  /* filter */
  int64_t oh, ow;      /* small */
  int64_t sy, sx, ph, pw, dy, dx, groups;
  int cover_all;
  const ct_tensor *big, *filter, *small, *bias;
} ct_sdk_conv2d;

/* 1 and g filled for a well-formed convolution op; 0 with *why saying what is wrong. */
static inline int ct_sdk_conv2d_geometry(const ct_op* op, ct_sdk_conv2d* g, const char** why) {
  const char* n = op->name;
  memset(g, 0, sizeof *g);
  if (strcmp(n, "core.conv2d") == 0 && op->num_inputs >= 2 && op->num_outputs >= 1) {
    g->big = op->inputs[0], g->filter = op->inputs[1], g->small = op->outputs[0];
    g->bias = op->num_inputs >= 3 ? op->inputs[2] : NULL;
  } else if (strcmp(n, "core.conv2d_grad_input") == 0 && op->num_inputs >= 2 && op->num_outputs >= 1) {
    g->big = op->outputs[0], g->filter = op->inputs[1], g->small = op->inputs[0];
  } else if (strcmp(n, "core.conv2d_grad_weight") == 0 && op->num_inputs >= 2 && op->num_outputs >= 1) {
    g->big = op->inputs[0], g->filter = op->outputs[0], g->small = op->inputs[1];
  } else {
    *why = "not a convolution op with its operands";
    return 0;
  }
  if (g->big->dl.ndim != 4 || g->filter->dl.ndim != 4 || g->small->dl.ndim != 4 || (g->bias && g->bias->dl.ndim != 1)) {
    *why = "operands not 4-D (NCHW), or a bias not 1-D";
    return 0;
  }
  if (!ct_sdk_pair(op, "stride", 1, 0, &g->sy, &g->sx) || !ct_sdk_pair(op, "pad", 0, 0, &g->ph, &g->pw) ||
      !ct_sdk_pair(op, "dilation", 1, 0, &g->dy, &g->dx)) {
    *why = "stride, pad and dilation are INTS of one or two values";
    return 0;
  }
  g->groups = ct_sdk_int(op, "groups", 1);
  g->cover_all = ct_sdk_int(op, "cover_all", 0) != 0;
  g->n = g->big->dl.shape[0], g->c = g->big->dl.shape[1], g->h = g->big->dl.shape[2], g->w = g->big->dl.shape[3];
  g->oc = g->filter->dl.shape[0], g->kh = g->filter->dl.shape[2], g->kw = g->filter->dl.shape[3];
  g->oh = g->small->dl.shape[2], g->ow = g->small->dl.shape[3];
  if (g->sy <= 0 || g->sx <= 0 || g->ph < 0 || g->pw < 0 || g->dy <= 0 || g->dx <= 0 || g->groups <= 0 ||
      g->c % g->groups != 0 || g->oc % g->groups != 0) {
    *why = "stride and dilation must be positive, pad not negative, groups positive and dividing C and OC";
    return 0;
  }
  return 1;
}

/* The geometry of the pooling ops: `big` x (or gx), `small` y (or gy), `indexes` the
 * argmax positions (max pooling's ops, else NULL). */
typedef struct ct_sdk_pool2d {
  int64_t n, c, h, w;  /* big */
  int64_t oh, ow;      /* small */
  int64_t kh, kw, sy, sx, ph, pw;
  int cover_all;
  const ct_tensor *big, *small, *indexes;
} ct_sdk_pool2d;

static inline int ct_sdk_pool2d_geometry(const ct_op* op, ct_sdk_pool2d* g, const char** why) {
  const char* n = op->name;
  memset(g, 0, sizeof *g);
  if (strcmp(n, "core.max_pool2d") == 0 && op->num_inputs >= 1 && op->num_outputs >= 2)
    g->big = op->inputs[0], g->small = op->outputs[0], g->indexes = op->outputs[1];
  else if (strcmp(n, "core.max_pool2d_grad") == 0 && op->num_inputs >= 2 && op->num_outputs >= 1)
    g->small = op->inputs[0], g->indexes = op->inputs[1], g->big = op->outputs[0];
  else if (strcmp(n, "core.max_pool2d_gather") == 0 && op->num_inputs >= 2 && op->num_outputs >= 1)
    g->big = op->inputs[0], g->indexes = op->inputs[1], g->small = op->outputs[0];
  else if (strcmp(n, "core.avg_pool2d") == 0 && op->num_inputs >= 1 && op->num_outputs >= 1)
    g->big = op->inputs[0], g->small = op->outputs[0];
  else if (strcmp(n, "core.avg_pool2d_grad") == 0 && op->num_inputs >= 1 && op->num_outputs >= 1)
    g->big = op->outputs[0], g->small = op->inputs[0];
  else {
    *why = "not a pooling op with its operands";
    return 0;
  }
  if (g->big->dl.ndim != 4 || g->small->dl.ndim != 4 || (g->indexes && g->indexes->dl.ndim != 4)) {
    *why = "operands not 4-D (NCHW)";
    return 0;
  }
  if (!ct_sdk_pair(op, "ksize", 0, 1, &g->kh, &g->kw) || !ct_sdk_pair(op, "stride", 0, 1, &g->sy, &g->sx) ||
      !ct_sdk_pair(op, "pad", 0, 1, &g->ph, &g->pw)) {
    *why = "ksize, stride and pad (INTS) are required";
    return 0;
  }
  g->cover_all = ct_sdk_int(op, "cover_all", 0) != 0;
  g->n = g->big->dl.shape[0], g->c = g->big->dl.shape[1], g->h = g->big->dl.shape[2], g->w = g->big->dl.shape[3];
  g->oh = g->small->dl.shape[2], g->ow = g->small->dl.shape[3];
  if (g->kh <= 0 || g->kw <= 0 || g->sy <= 0 || g->sx <= 0 || g->ph < 0 || g->pw < 0) {
    *why = "ksize and stride must be positive, pad not negative";
    return 0;
  }
  return 1;
}

#ifdef __cplusplus
}
#endif

#endif /* CATENA_CT_SDK_H */
