/*
 * Catena ABI v1 — the op description a backend is asked about and asked to run.
 *
 * An op is named and versioned ("core.add", v1) and carries typed attributes, so adding
 * an op never changes the ABI. What each core op means — its attributes, dtypes, layout
 * rules — is fixed in api/OPS.md, the op catalogue. Ops outside "core." are namespaced
 * ("acme.fused_gelu") and their plugin also ships a CPU kernel or a composition of core
 * ops, so the host can always fall back.
 */
#ifndef CATENA_CT_OP_H
#define CATENA_CT_OP_H

#include "ct_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_attr_type {
  CT_ATTR_INT = 1,    /* v.i */
  CT_ATTR_FLOAT = 2,  /* v.f (always double precision on the wire) */
  CT_ATTR_STRING = 3, /* v.s, NUL-terminated */
  CT_ATTR_INTS = 4,   /* v.ints, `count` values */
  CT_ATTR_FLOATS = 5, /* v.floats, `count` values */
  CT_ATTR_BOOL = 6,   /* v.i, 0 or 1 */
  CT_ATTR_DTYPE = 7   /* v.dtype */
} ct_attr_type;

/* One named attribute. Frozen layout. Every pointer in it is borrowed for the duration
 * of the call that received it. */
typedef struct ct_attr {
  const char* name;
  int32_t type;  /* a ct_attr_type */
  int32_t count; /* number of values for CT_ATTR_INTS / CT_ATTR_FLOATS, else 1 */
  union {
    int64_t i;
    double f;
    const char* s;
    const int64_t* ints;
    const double* floats;
    ct_dtype dtype;
  } v;
} ct_attr;

#if CT_ABI_64
CT_STATIC_ASSERT(sizeof(ct_attr) == 24, ct_attr_size);
CT_STATIC_ASSERT(offsetof(ct_attr, v) == 16, ct_attr_v_offset);
#endif

/* One op invocation. Built by the host; borrowed by the backend for the duration of the
 * supports_op or launch call that received it.
 *
 * Outputs are allocated by the host before launch (their shapes follow from the
 * catalogue), on the same device as the inputs; the kernel writes every element of
 * each output. Inputs are never written. Inputs and outputs do not overlap unless the
 * catalogue says so for that op. */
typedef struct ct_op {
  size_t struct_size;
  /* The op's name. Interned by the host: one name always arrives at the same address for
   * the life of the process, so a backend may cache its lookup by address. */
  const char* name;
  int32_t version; /* the catalogue version of the op's semantics, starting at 1 */
  int32_t num_inputs;
  int32_t num_outputs;
  int32_t num_attrs;
  const ct_tensor* const* inputs;
  const ct_tensor* const* outputs;
  const ct_attr* attrs;
} ct_op;

#if CT_ABI_64
CT_STATIC_ASSERT(offsetof(ct_op, attrs) == 48, ct_op_last_offset);
CT_STATIC_ASSERT(sizeof(ct_op) == 56, ct_op_size);
#endif

/* What supports_op answers. */
typedef enum ct_support {
  CT_UNSUPPORTED = 0, /* the host falls back to the CPU backend (or fails, if told to) */
  CT_SUPPORTED = 1,
  CT_PREFERRED = 2 /* supported, and the backend is a good place for it */
} ct_support;

#ifdef __cplusplus
}
#endif

#endif /* CATENA_CT_OP_H */
