/*
 * The plugin zoo: one small C backend, compiled once per way a real plugin breaks.
 * Being C99, it also proves a vendor can write a backend in C against api/ alone.
 *
 *   ZOO_NAME            plugin name in the table
 *   ZOO_ABI_MAJOR       claim another ABI major
 *   ZOO_ABI_MINOR       claim a newer minor ...
 *   ZOO_MIN_HOST_MINOR  ... and the oldest host minor it accepts
 *   ZOO_NEWER_FIELDS    append fields a v1.0 host does not know (as a newer minor would)
 *   ZOO_OLDER_LAYOUT    report a shorter backend table (as an older minor would)
 *   ZOO_NO_ENTRY        export no entry symbol
 *   ZOO_INIT_FAILS      init returns an error status
 *   ZOO_PROBE           export a probe returning this score
 *   ZOO_NEEDS_STUB      call into a library that will be missing at run time
 *
 * When it loads, it is a working backend with one host-memory device that runs no ops,
 * so everything on it goes through CPU fallback.
 */
#include <catena/abi.h>

#include <stdlib.h>
#include <string.h>

#ifndef ZOO_NAME
#error "ZOO_NAME must be defined"
#endif
#ifndef ZOO_ABI_MAJOR
#define ZOO_ABI_MAJOR CT_ABI_MAJOR
#endif
#ifndef ZOO_ABI_MINOR
#define ZOO_ABI_MINOR CT_ABI_MINOR
#endif
#ifndef ZOO_MIN_HOST_MINOR
#define ZOO_MIN_HOST_MINOR 0
#endif

#ifdef ZOO_NEEDS_STUB
int zoo_stub_function(void);
#endif

struct ct_buffer {
  unsigned char* data;
  uint64_t size;
};
struct ct_stream {
  int unused;
};
struct ct_event {
  int unused;
};

static const ct_host* g_host;

static ct_status* zoo_init(ct_backend_ctx** out) {
  static int ctx_token;
  *out = NULL;
  (void)ctx_token;
#ifdef ZOO_INIT_FAILS
  return g_host->status_new(CT_FAILED_PRECONDITION,
                            "the Zoo accelerator's firmware is not loaded: run `zoo-firmware load` and retry");
#else
#ifdef ZOO_NEEDS_STUB
  if (zoo_stub_function() != 42) return g_host->status_new(CT_INTERNAL, "stub misbehaved");
#endif
  *out = (ct_backend_ctx*)&ctx_token;
  return NULL;
#endif
}

static int32_t zoo_device_count(ct_backend_ctx* c) {
  (void)c;
  return 1;
}

static ct_status* zoo_device_props(ct_backend_ctx* c, int32_t device, ct_device_props* p) {
  size_t size = p->struct_size;
  (void)c;
  (void)device;
  memset(p, 0, size);
  p->struct_size = size;
  p->kind = ZOO_NAME;
  p->name = "Zoo test device (" ZOO_NAME ")";
  p->vendor = "Catena tests";
  p->dl_device_type = CT_DL_EXT_DEV;
  p->flags = CT_DEVICE_SYNCHRONOUS;
  return NULL;
}

static ct_status* zoo_buffer_alloc(ct_backend_ctx* c, int32_t device, uint64_t size, uint64_t alignment,
                                   ct_buffer** out) {
  ct_buffer* b = (ct_buffer*)malloc(sizeof(ct_buffer));
  (void)c;
  (void)device;
  (void)alignment;
  *out = NULL;
  if (!b) return g_host->status_new(CT_RESOURCE_EXHAUSTED, "out of memory");
  b->data = (unsigned char*)malloc(size ? size : 1);
  b->size = size;
  if (!b->data) {
    free(b);
    return g_host->status_new(CT_RESOURCE_EXHAUSTED, "out of memory");
  }
  *out = b;
  return NULL;
}

static void zoo_buffer_free(ct_backend_ctx* c, ct_buffer* b) {
  (void)c;
  free(b->data);
  free(b);
}

static void* zoo_buffer_data(ct_backend_ctx* c, ct_buffer* b) {
  (void)c;
  return b->data;
}

static ct_status* zoo_stream_create(ct_backend_ctx* c, int32_t device, ct_stream** out) {
  static ct_stream s;
  (void)c;
  (void)device;
  *out = &s;
  return NULL;
}

static void zoo_stream_destroy(ct_backend_ctx* c, ct_stream* s) {
  (void)c;
  (void)s;
}

static ct_status* zoo_stream_synchronize(ct_backend_ctx* c, ct_stream* s) {
  (void)c;
  (void)s;
  return NULL;
}

static ct_status* zoo_copy_from_host(ct_backend_ctx* c, ct_stream* s, const void* src, ct_buffer* dst, uint64_t off,
                                     uint64_t size, int32_t semantics) {
  (void)c;
  (void)s;
  (void)semantics;
  if (off + size > dst->size) return g_host->status_new(CT_OUT_OF_RANGE, "copy past the end of a buffer");
  memcpy(dst->data + off, src, size);
  return NULL;
}

static ct_status* zoo_copy_to_host(ct_backend_ctx* c, ct_stream* s, ct_buffer* src, uint64_t off, void* dst,
                                   uint64_t size) {
  (void)c;
  (void)s;
  if (off + size > src->size) return g_host->status_new(CT_OUT_OF_RANGE, "copy past the end of a buffer");
  memcpy(dst, src->data + off, size);
  return NULL;
}

static int32_t zoo_supports_op(ct_backend_ctx* c, int32_t device, const ct_op* op, const char** reason) {
  (void)c;
  (void)device;
  (void)op;
  if (reason) *reason = "zoo devices run no ops";
  return CT_UNSUPPORTED;
}

static ct_status* zoo_launch(ct_backend_ctx* c, ct_stream* s, const ct_op* op) {
  (void)c;
  (void)s;
  return g_host->status_new(CT_UNIMPLEMENTED, op->name);
}

#ifdef ZOO_NEWER_FIELDS
/* What a table looks like when built against a newer minor that appended slots. */
typedef struct zoo_backend_next {
  ct_backend base;
  void* (*future_slot)(ct_backend_ctx* ctx);
} zoo_backend_next;
static void* zoo_future(ct_backend_ctx* c) {
  (void)c;
  return NULL;
}
static const zoo_backend_next k_backend_next = {
    {
        /* .struct_size          = */ sizeof(zoo_backend_next),
#else
static const ct_backend k_backend = {
#endif
#ifdef ZOO_OLDER_LAYOUT
        /* .struct_size          = */ CT_STRUCT_SIZE(ct_backend, launch),
#elif !defined(ZOO_NEWER_FIELDS)
    /* .struct_size          = */ sizeof(ct_backend),
#endif
    /* .init                 = */ zoo_init,
    /* .shutdown             = */ NULL,
    /* .device_count         = */ zoo_device_count,
    /* .device_props         = */ zoo_device_props,
    /* .buffer_alloc         = */ zoo_buffer_alloc,
    /* .buffer_free          = */ zoo_buffer_free,
    /* .buffer_data          = */ zoo_buffer_data,
    /* .buffer_wrap          = */ NULL,
    /* .stream_create        = */ zoo_stream_create,
    /* .stream_destroy       = */ zoo_stream_destroy,
    /* .stream_synchronize   = */ zoo_stream_synchronize,
    /* .event_record         = */ NULL,
    /* .event_wait           = */ NULL,
    /* .stream_wait_event    = */ NULL,
    /* .event_destroy        = */ NULL,
    /* .copy_from_host       = */ zoo_copy_from_host,
    /* .copy_to_host         = */ zoo_copy_to_host,
    /* .copy_device          = */ NULL,
    /* .supports_op          = */ zoo_supports_op,
    /* .launch               = */ zoo_launch,
    /* .stream_native_handle = */ NULL,
#ifdef ZOO_NEWER_FIELDS
    },
    /* .future_slot          = */ zoo_future,
};
#define ZOO_BACKEND (&k_backend_next.base)
#else
};
#define ZOO_BACKEND (&k_backend)
#endif

#ifdef ZOO_NEWER_FIELDS
typedef struct zoo_plugin_next {
  ct_plugin base;
  const char* future_field;
} zoo_plugin_next;
static const zoo_plugin_next k_plugin_next = {
    {sizeof(zoo_plugin_next), ZOO_ABI_MAJOR, ZOO_ABI_MINOR, ZOO_MIN_HOST_MINOR, CT_PLUGIN_BACKEND, ZOO_NAME, "zoo",
     ZOO_BACKEND, NULL},
    "a field this host does not know",
};
#define ZOO_PLUGIN (&k_plugin_next.base)
#else
static const ct_plugin k_plugin = {
    /* .struct_size    = */ sizeof(ct_plugin),
    /* .abi_major      = */ ZOO_ABI_MAJOR,
    /* .abi_minor      = */ ZOO_ABI_MINOR,
    /* .min_host_minor = */ ZOO_MIN_HOST_MINOR,
    /* .kind           = */ CT_PLUGIN_BACKEND,
    /* .name           = */ ZOO_NAME,
    /* .version        = */ "zoo",
    /* .backend        = */ ZOO_BACKEND,
    /* .functions      = */ NULL,
};
#define ZOO_PLUGIN (&k_plugin)
#endif

#ifndef ZOO_NO_ENTRY
CT_EXPORT const ct_plugin* ct_plugin_entry(const ct_host* host) {
  g_host = host;
  return ZOO_PLUGIN;
}
#else
/* Exports something, just not the entry: a library that is not a Catena plugin. */
CT_EXPORT int ct_plugin_entry_misspelled(void) { return (int)sizeof(*ZOO_PLUGIN); }
#endif

#ifdef ZOO_PROBE
CT_EXPORT int32_t ct_plugin_probe(uint32_t host_abi_major, uint32_t host_abi_minor, const char** reason) {
  (void)host_abi_major;
  (void)host_abi_minor;
  if (reason) *reason = ZOO_PROBE == 0 ? "no Zoo X1 card on the PCI bus" : "Zoo card found";
  return ZOO_PROBE;
}
#endif
