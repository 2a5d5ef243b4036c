/*
 * Catena ABI v1 — the backend table: devices, buffers, copies, streams, events, ops.
 *
 * A backend plugin fills one ct_backend (designated initializers, one slot a line) and
 * returns it from its entry point (ct_plugin.h). The host calls init once, lazily, on
 * first use; every other call receives the context init produced.
 *
 * THREADS
 *   - init and shutdown are called once each, never concurrently with anything else.
 *   - device_count, device_props, supports_op and the buffer functions are thread-safe.
 *   - Calls on different streams may run concurrently. Calls on one stream are made by
 *     one thread at a time (the host serialises them).
 *   - Release callbacks (buffer_wrap's on_release) may run on any thread and must not
 *     call back into the runtime.
 *
 * ASYNCHRONY
 *   launch and the copies are asynchronous with respect to the host and ordered within
 *   their stream. A backend that runs everything inline (the CPU) sets
 *   CT_DEVICE_SYNCHRONOUS in its device flags. An error the backend detects while
 *   enqueuing is returned by the call; an error that happens later is remembered by the
 *   stream and returned by the next event_wait or stream_synchronize on it.
 */
#ifndef CATENA_CT_BACKEND_H
#define CATENA_CT_BACKEND_H

#include "ct_op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_backend_ctx ct_backend_ctx; /* the backend's state, made by init */
typedef struct ct_stream ct_stream;           /* an in-order queue on one device */
typedef struct ct_event ct_event;             /* a point in a stream */

/* Device flags (ct_device_props.flags). */
enum {
  CT_DEVICE_HOST_ADDRESSABLE = 1u << 0, /* buffer data pointers are host addresses */
  CT_DEVICE_SYNCHRONOUS = 1u << 1,      /* work completes before launch/copy return */
  CT_DEVICE_HAS_UUID = 1u << 2          /* uuid is filled in */
};

/* What a device is. Filled by device_props. String pointers live as long as the
 * backend's context. */
typedef struct ct_device_props {
  size_t struct_size;
  const char* kind;        /* the device-name prefix: "cpu", "cuda", "opencl", "xrt" */
  const char* name;        /* the product name, for people: "NVIDIA H100 80GB HBM3" */
  const char* vendor;      /* "NVIDIA", "Intel" */
  const char* description; /* (optional) one line of backend-specific detail, or NULL */
  int32_t dl_device_type;  /* CT_DL_*: what DLPack calls this memory */
  uint32_t flags;          /* CT_DEVICE_* */
  uint8_t uuid[16];        /* stable identity across backends and processes */
  const char* pci_bus_id;  /* (optional) "0000:65:00.0", or NULL */
  uint64_t memory_total;   /* bytes; 0 when unknown */
  uint64_t memory_free;    /* bytes at the time of the call; 0 when unknown */
  int32_t compute_units;   /* cores, SMs, CUs; 0 when unknown */
  int32_t reserved0;
} ct_device_props;

#if CT_ABI_64
CT_STATIC_ASSERT(offsetof(ct_device_props, reserved0) == 92, ct_device_props_last_offset);
CT_STATIC_ASSERT(sizeof(ct_device_props) == 96, ct_device_props_size);
#endif

/* Host-buffer semantics of a host-to-device copy. */
typedef enum ct_host_semantics {
  /* The backend has finished reading the host memory when the call returns. */
  CT_HOST_DURING_CALL = 0,
  /* The host keeps the memory unchanged until the stream is next synchronised. */
  CT_HOST_UNTIL_SYNC = 1
} ct_host_semantics;

typedef struct ct_backend {
  size_t struct_size;

  /* ---- Lifetime ---------------------------------------------------------------- */
  /* Set up the backend: find devices, load libraries. Called once, lazily, on first use.
   * A backend whose hardware or driver is missing returns CT_UNAVAILABLE with a message
   * a user can act on ("no CUDA driver: install nvidia-driver"). */
  ct_status* (*init)(ct_backend_ctx** out_ctx);
  /* Release everything; join the backend's threads. The host calls it at most once,
   * after all the backend's objects were destroyed. (optional; default: nothing) */
  void (*shutdown)(ct_backend_ctx* ctx);

  /* ---- Devices ----------------------------------------------------------------- */
  int32_t (*device_count)(ct_backend_ctx* ctx);
  /* Fill *out (whose struct_size the host has set) for device `device`. */
  ct_status* (*device_props)(ct_backend_ctx* ctx, int32_t device, ct_device_props* out);

  /* ---- Buffers ----------------------------------------------------------------- */
  /* Allocate `size` bytes aligned to at least `alignment` (a power of two <= 4096).
   * size 0 is valid and returns a buffer with no storage. Out of memory is
   * CT_RESOURCE_EXHAUSTED. The caller frees it with buffer_free. */
  ct_status* (*buffer_alloc)(ct_backend_ctx* ctx, int32_t device, uint64_t size, uint64_t alignment,
                             ct_buffer** out);
  /* Free a buffer. Deferred-safe: the backend reclaims the memory after the work
   * already enqueued on it has completed, so the host never synchronises to free. */
  void (*buffer_free)(ct_backend_ctx* ctx, ct_buffer* buffer);
  /* The value that goes into ct_dltensor.data for this buffer: an address for
   * host-addressable devices, an opaque handle otherwise. Lives as long as the buffer. */
  void* (*buffer_data)(ct_backend_ctx* ctx, ct_buffer* buffer);
  /* Wrap memory the backend did not allocate (a host pointer for the CPU, a device
   * pointer for CUDA) without copying. The backend calls on_release(user_data) exactly
   * once, on any thread, when the buffer is freed and its work has completed.
   * (optional; default: the host copies instead of wrapping) */
  ct_status* (*buffer_wrap)(ct_backend_ctx* ctx, int32_t device, void* foreign, uint64_t size,
                            void (*on_release)(void* user_data), void* user_data, ct_buffer** out);

  /* ---- Streams and events ------------------------------------------------------ */
  /* An in-order queue on `device`. Destroyed with stream_destroy after the host has
   * synchronised it. */
  ct_status* (*stream_create)(ct_backend_ctx* ctx, int32_t device, ct_stream** out);
  void (*stream_destroy)(ct_backend_ctx* ctx, ct_stream* stream);
  /* Block until all work on the stream has completed. Returns the first asynchronous
   * error recorded on the stream since the last synchronisation, and clears it. */
  ct_status* (*stream_synchronize)(ct_backend_ctx* ctx, ct_stream* stream);
  /* Record the stream's current position. The caller destroys the event. */
  ct_status* (*event_record)(ct_backend_ctx* ctx, ct_stream* stream, ct_event** out);
  /* Block the host until the event has completed; returns the first asynchronous error
   * the stream met before it (the error stays on the stream for its synchronisation). */
  ct_status* (*event_wait)(ct_backend_ctx* ctx, ct_event* event);
  /* Make `stream` wait for `event` (of the same backend) without blocking the host. */
  ct_status* (*stream_wait_event)(ct_backend_ctx* ctx, ct_stream* stream, ct_event* event);
  void (*event_destroy)(ct_backend_ctx* ctx, ct_event* event);

  /* ---- Copies (byte ranges; strided copies are the op core.copy) ------------------ */
  /* host -> device. `semantics` says how long the host memory must stay unchanged. */
  ct_status* (*copy_from_host)(ct_backend_ctx* ctx, ct_stream* stream, const void* src, ct_buffer* dst,
                               uint64_t dst_offset, uint64_t size, int32_t semantics);
  /* device -> host. The host memory is written by the time the stream is synchronised;
   * the caller keeps it valid until then. */
  ct_status* (*copy_to_host)(ct_backend_ctx* ctx, ct_stream* stream, ct_buffer* src, uint64_t src_offset,
                             void* dst, uint64_t size);
  /* device -> device, both buffers of this backend (possibly different devices of it).
   * The caller guarantees the regions do not overlap. */
  ct_status* (*copy_device)(ct_backend_ctx* ctx, ct_stream* stream, ct_buffer* src, uint64_t src_offset,
                            ct_buffer* dst, uint64_t dst_offset, uint64_t size);

  /* ---- Ops ---------------------------------------------------------------------- */
  /* Can this device run `op` as described (name, version, dtypes, shapes, strides,
   * attributes)? Pure, fast and thread-safe: the host caches the answer per (op,
   * dtypes, ranks, layout class, attribute names and non-float values), so the answer
   * must not depend on extents or on FLOAT/FLOATS attribute values. Layout classes:
   * contiguous; strided; with zero or negative strides. When the answer is CT_UNSUPPORTED,
   * *reason (if reason is not NULL) is set to a short static string saying why
   * ("float64 not supported", "non-contiguous input"). */
  int32_t (*supports_op)(ct_backend_ctx* ctx, int32_t device, const ct_op* op, const char** reason);
  /* Enqueue `op` on `stream`. Only called for ops supports_op accepted. The tensors'
   * buffers belong to this backend and the stream's device. */
  ct_status* (*launch)(ct_backend_ctx* ctx, ct_stream* stream, const ct_op* op);

  /* ---- Optional extras (append new slots below this line only) ------------------ */
  /* The native handle of a stream (cudaStream_t, cl_command_queue) for interop.
   * (optional; default: none) */
  void* (*stream_native_handle)(ct_backend_ctx* ctx, ct_stream* stream);
} ct_backend;

#if CT_ABI_64
CT_STATIC_ASSERT(offsetof(ct_backend, stream_native_handle) == 168, ct_backend_last_offset);
CT_STATIC_ASSERT(sizeof(ct_backend) == 176, ct_backend_size);
#endif

#ifdef __cplusplus
}
#endif

#endif /* CATENA_CT_BACKEND_H */
