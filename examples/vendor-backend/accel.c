/* A backend template: the "accel" accelerator, libcatena-accel.so, device accel:0.
 *
 * Copy this folder, rename "accel", and replace the simulated device with yours. It is
 * built the way a vendor builds a backend: against an installed Catena only
 * (pkg-config catena-plugin, or CMake's Catena::plugin), exporting ct_plugin_entry and
 * nothing else. Check it with `catena conformance --device accel:0`.
 *
 * The simulated device: memory the host cannot address (buffer_data hands out a handle,
 * never an address; data moves only through the copy functions), work done before each
 * call returns (CT_DEVICE_SYNCHRONOUS), and kernels for a handful of ops on dense float32
 * tensors: core.fill, core.copy, core.add, core.mul, core.relu and core.gemm. Everything
 * else is declined with a reason, and Catena runs it on the cpu instead, counted. */
#include <catena/abi.h>
#include <catena/ct_sdk.h>

#include <stdlib.h>
#include <string.h>

static const ct_host* g_host;
static int g_context; /* accel keeps no state; a real backend's context holds its driver */

/* A buffer: the device's memory (here, host memory only the kernels touch). */
struct ct_buffer {
  unsigned char* bytes;
  uint64_t size;
};
struct ct_stream {
  int32_t device;
};
struct ct_event {
  int32_t unused;
};

static ct_status* fail(ct_code code, const char* message) { return g_host->status_new(code, message); }

/* ---- Lifetime and devices ------------------------------------------------------------ */

static ct_status* accel_init(ct_backend_ctx** out) {
  /* A real backend opens its driver here; when it is missing: return
   * fail(CT_UNAVAILABLE, "no accel driver: install accel-dkms"). */
  *out = (ct_backend_ctx*)&g_context;
  return NULL;
}

static int32_t accel_device_count(ct_backend_ctx* ctx) {
  (void)ctx;
  return 1;
}

static ct_status* accel_device_props(ct_backend_ctx* ctx, int32_t device, ct_device_props* p) {
  const size_t size = p->struct_size;
  (void)ctx;
  if (device != 0) return fail(CT_OUT_OF_RANGE, "accel has one device");
  memset(p, 0, size);
  p->struct_size = size;
  p->kind = "accel";
  p->name = "Example accelerator (simulated)";
  p->vendor = "Catena backend template";
  p->description = "device memory, synchronous; float32 fill, copy, add, mul, relu, gemm";
  p->dl_device_type = CT_DL_EXT_DEV;
  p->flags = CT_DEVICE_SYNCHRONOUS | CT_DEVICE_HAS_UUID;
  for (int i = 0; i < 16; ++i) p->uuid[i] = (uint8_t)(0xa0 + i);
  p->memory_total = (uint64_t)1 << 30;
  p->compute_units = 1;
  return NULL;
}

/* ---- Memory -------------------------------------------------------------------------- */

static ct_status* accel_buffer_alloc(ct_backend_ctx* ctx, int32_t device, uint64_t size, uint64_t alignment,
                                     ct_buffer** out) {
  (void)ctx, (void)device, (void)alignment;
  *out = NULL;
  ct_buffer* b = calloc(1, sizeof *b);
  if (!b) return fail(CT_RESOURCE_EXHAUSTED, "accel: out of host memory for a buffer record");
  b->size = size;
  b->bytes = size ? malloc(size) : NULL;
  if (size && !b->bytes) {
    free(b);
    return fail(CT_RESOURCE_EXHAUSTED, "accel:0 is out of memory");
  }
  *out = b;
  return NULL;
}

static void accel_buffer_free(ct_backend_ctx* ctx, ct_buffer* b) {
  (void)ctx;
  if (b) free(b->bytes);
  free(b);
}

/* What ct_dltensor.data holds: a handle, not an address the host may read. */
static void* accel_buffer_data(ct_backend_ctx* ctx, ct_buffer* b) {
  (void)ctx;
  return b;
}

/* ---- Streams and events: the work is done when each call returns ----------------------- */

static ct_status* accel_stream_create(ct_backend_ctx* ctx, int32_t device, ct_stream** out) {
  (void)ctx;
  *out = calloc(1, sizeof **out);
  if (!*out) return fail(CT_RESOURCE_EXHAUSTED, "accel: out of host memory for a stream");
  (*out)->device = device;
  return NULL;
}
static void accel_stream_destroy(ct_backend_ctx* ctx, ct_stream* s) {
  (void)ctx;
  free(s);
}
static ct_status* accel_stream_synchronize(ct_backend_ctx* ctx, ct_stream* s) {
  (void)ctx, (void)s;
  return NULL;
}
static ct_status* accel_event_record(ct_backend_ctx* ctx, ct_stream* s, ct_event** out) {
  (void)ctx, (void)s;
  *out = calloc(1, sizeof **out);
  return *out ? NULL : fail(CT_RESOURCE_EXHAUSTED, "accel: out of host memory for an event");
}
static ct_status* accel_event_wait(ct_backend_ctx* ctx, ct_event* e) {
  (void)ctx, (void)e;
  return NULL;
}
static ct_status* accel_stream_wait_event(ct_backend_ctx* ctx, ct_stream* s, ct_event* e) {
  (void)ctx, (void)s, (void)e;
  return NULL;
}
static void accel_event_destroy(ct_backend_ctx* ctx, ct_event* e) {
  (void)ctx;
  free(e);
}

/* ---- Copies ---------------------------------------------------------------------------- */

static ct_status* accel_copy_from_host(ct_backend_ctx* ctx, ct_stream* s, const void* src, ct_buffer* dst,
                                       uint64_t offset, uint64_t size, int32_t semantics) {
  (void)ctx, (void)s, (void)semantics;
  if (offset + size > dst->size) return fail(CT_OUT_OF_RANGE, "accel: copy past the end of a buffer");
  if (size) memcpy(dst->bytes + offset, src, size);
  return NULL;
}
static ct_status* accel_copy_to_host(ct_backend_ctx* ctx, ct_stream* s, ct_buffer* src, uint64_t offset, void* dst,
                                     uint64_t size) {
  (void)ctx, (void)s;
  if (offset + size > src->size) return fail(CT_OUT_OF_RANGE, "accel: copy past the end of a buffer");
  if (size) memcpy(dst, src->bytes + offset, size);
  return NULL;
}
static ct_status* accel_copy_device(ct_backend_ctx* ctx, ct_stream* s, ct_buffer* src, uint64_t src_offset,
                                    ct_buffer* dst, uint64_t dst_offset, uint64_t size) {
  (void)ctx, (void)s;
  if (src_offset + size > src->size || dst_offset + size > dst->size)
    return fail(CT_OUT_OF_RANGE, "accel: copy past the end of a buffer");
  if (size) memcpy(dst->bytes + dst_offset, src->bytes + src_offset, size);
  return NULL;
}

/* ---- Op planning: what accel runs ----------------------------------------------------- */

static int is_dense_f32(const ct_tensor* t) {
  return t->dl.dtype.code == CT_DTYPE_FLOAT && t->dl.dtype.bits == 32 && ct_sdk_layout_of(t) == CT_SDK_DENSE;
}

static int32_t accel_supports_op(ct_backend_ctx* ctx, int32_t device, const ct_op* op, const char** reason) {
  const char* n = op->name;
  int32_t i;
  (void)ctx, (void)device;
#define DECLINE(why)            \
  do {                          \
    if (reason) *reason = why;  \
    return CT_UNSUPPORTED;      \
  } while (0)
  if (op->version != 1) DECLINE("only version 1 of each op");
  if (strcmp(n, "core.fill") && strcmp(n, "core.copy") && strcmp(n, "core.add") && strcmp(n, "core.mul") &&
      strcmp(n, "core.relu") && strcmp(n, "core.gemm"))
    DECLINE("accel has no kernel for this op");
  for (i = 0; i < op->num_inputs; ++i)
    if (!is_dense_f32(op->inputs[i])) DECLINE("accel takes dense float32 tensors only");
  for (i = 0; i < op->num_outputs; ++i)
    if (!is_dense_f32(op->outputs[i])) DECLINE("accel takes dense float32 tensors only");
  if (strcmp(n, "core.gemm") == 0) {
    if (op->outputs[0]->dl.ndim != 2) DECLINE("accel's GEMM is 2-D only");
  } else if (strcmp(n, "core.fill") != 0) {
    /* Elementwise: every operand of the output's shape (no broadcasting here). */
    for (i = 0; i < op->num_inputs; ++i)
      if (!ct_sdk_same_shape(op->inputs[i], op->outputs[0])) DECLINE("accel's elementwise kernels do not broadcast");
  }
  return CT_SUPPORTED;
#undef DECLINE
}

/* ---- Kernels ------------------------------------------------------------------------- */

static float* at(const ct_tensor* t) { return (float*)(t->buffer->bytes + t->dl.byte_offset); }

/* Y = alpha op(A) op(B) + beta C, row by row: each row of Y accumulates rows of op(B)
 * (a transposed B is copied to rows first), so the inner loop is contiguous. */
static ct_status* gemm(const ct_op* op) {
  const ct_tensor *A = op->inputs[0], *B = op->inputs[1], *Y = op->outputs[0];
  const ct_tensor* C = op->num_inputs > 2 ? op->inputs[2] : NULL;
  const int ta = ct_sdk_int(op, "trans_a", 0) != 0, tb = ct_sdk_int(op, "trans_b", 0) != 0;
  const float alpha = (float)ct_sdk_float(op, "alpha", 1), beta = C ? (float)ct_sdk_float(op, "beta", 0) : 0;
  const int64_t M = Y->dl.shape[0], N = Y->dl.shape[1], K = ta ? A->dl.shape[0] : A->dl.shape[1];
  const float *a = at(A), *b = at(B), *c = C ? at(C) : NULL;
  float* y = at(Y);
  float* rows = NULL;
  int64_t m, k, j;
  if (tb && K > 0 && N > 0) {
    rows = malloc((size_t)(K * N) * sizeof(float));
    if (!rows) return fail(CT_RESOURCE_EXHAUSTED, "accel: out of memory for a transposed GEMM operand");
    for (k = 0; k < K; ++k)
      for (j = 0; j < N; ++j) rows[k * N + j] = b[j * K + k];
    b = rows;
  }
  for (m = 0; m < M; ++m) {
    float* yr = y + m * N;
    for (j = 0; j < N; ++j) yr[j] = 0;
    for (k = 0; k < K; ++k) {
      const float av = ta ? a[k * M + m] : a[m * K + k];
      const float* br = b + k * N;
      for (j = 0; j < N; ++j) yr[j] += av * br[j];
    }
    for (j = 0; j < N; ++j) yr[j] = alpha * yr[j] + (c ? beta * c[m * N + j] : 0.0f);
  }
  free(rows);
  return NULL;
}

static ct_status* accel_launch(ct_backend_ctx* ctx, ct_stream* s, const ct_op* op) {
  const char* n = op->name;
  const int64_t count = ct_sdk_numel(op->outputs[0]);
  float* y = at(op->outputs[0]);
  int64_t i;
  (void)ctx, (void)s;
  if (strcmp(n, "core.gemm") == 0) {
    return gemm(op);
  } else if (strcmp(n, "core.fill") == 0) {
    const float v = (float)ct_sdk_float(op, "value", 0);
    for (i = 0; i < count; ++i) y[i] = v;
  } else {
    const float* a = at(op->inputs[0]);
    const float* b = op->num_inputs > 1 ? at(op->inputs[1]) : NULL;
    if (strcmp(n, "core.copy") == 0) memmove(y, a, (size_t)count * sizeof(float));
    else if (strcmp(n, "core.add") == 0) for (i = 0; i < count; ++i) y[i] = a[i] + b[i];
    else if (strcmp(n, "core.mul") == 0) for (i = 0; i < count; ++i) y[i] = a[i] * b[i];
    else for (i = 0; i < count; ++i) y[i] = a[i] > 0 ? a[i] : (a[i] != a[i] ? a[i] : 0.0f); /* relu; NaN stays */
  }
  return NULL;
}

/* ---- The plugin ------------------------------------------------------------------------ */

static const ct_backend k_backend = {
    sizeof(ct_backend),
    accel_init,
    NULL, /* shutdown: nothing to release */
    accel_device_count,
    accel_device_props,
    accel_buffer_alloc,
    accel_buffer_free,
    accel_buffer_data,
    NULL, /* buffer_wrap: foreign memory is copied in instead */
    accel_stream_create,
    accel_stream_destroy,
    accel_stream_synchronize,
    accel_event_record,
    accel_event_wait,
    accel_stream_wait_event,
    accel_event_destroy,
    accel_copy_from_host,
    accel_copy_to_host,
    accel_copy_device,
    accel_supports_op,
    accel_launch,
    NULL, /* stream_native_handle */
};

static const ct_plugin k_plugin = {
    sizeof(ct_plugin), CT_ABI_MAJOR, CT_ABI_MINOR, 0, CT_PLUGIN_BACKEND, "accel", "1.0", &k_backend, NULL,
};

CT_EXPORT const ct_plugin* ct_plugin_entry(const ct_host* host) {
  g_host = host;
  return &k_plugin;
}
