/*
 * Catena ABI v1 — the plugin entry point, the optional probe and the host services.
 *
 * A plugin is a shared library named libcatena-<name>[-<variant>].so that exports
 * exactly one entry symbol and, optionally, a probe:
 *
 *   CT_EXPORT const ct_plugin* ct_plugin_entry(const ct_host* host);
 *   CT_EXPORT int32_t ct_plugin_probe(uint32_t host_abi_major, uint32_t host_abi_minor,
 *                                     const char** reason);
 *
 * Build it with hidden visibility and a linker version script that exports only those
 * two symbols. Example (a backend):
 *
 *   static const ct_backend k_backend = { .struct_size = sizeof(ct_backend),
 *                                         .init = my_init, ... };
 *   static const ct_plugin k_plugin = { .struct_size = sizeof(ct_plugin),
 *       .abi_major = CT_ABI_MAJOR, .abi_minor = CT_ABI_MINOR, .min_host_minor = 0,
 *       .kind = CT_PLUGIN_BACKEND, .name = "acme", .version = "1.2.0",
 *       .backend = &k_backend };
 *   CT_EXPORT const ct_plugin* ct_plugin_entry(const ct_host* host) {
 *     g_host = host;              // keep it: it lives for the whole process
 *     return &k_plugin;
 *   }
 *
 * LOADING ORDER (what the host does)
 *   1. dlopen the file (local symbol binding); missing entry symbol -> refused.
 *   2. Call the probe if present; 0 -> the variant is skipped, with the probe's reason.
 *   3. Call the entry; read abi_major first: another major -> refused (ABI mismatch).
 *   4. If abi_minor > host minor, require min_host_minor <= host minor, else refuse.
 *   5. Only then read the rest of the table (fields within struct_size only).
 *   6. The backend's init runs lazily, on first use of one of its devices.
 * The host never unloads a plugin at process exit.
 */
#ifndef CATENA_CT_PLUGIN_H
#define CATENA_CT_PLUGIN_H

#include "ct_backend.h"
#include "ct_function.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Host services ------------------------------------------------------------------
 * Passed to the entry point. The table and everything it points to live for the whole
 * process; the plugin may keep the pointer. Every function in it is thread-safe. */
typedef struct ct_host {
  size_t struct_size;
  uint32_t abi_major; /* frozen prefix: struct_size, abi_major, abi_minor never move */
  uint32_t abi_minor;
  const char* runtime_version; /* "0.1.0" */

  /* Write a message to the runtime's log, attributed to `plugin`. */
  void (*log)(int32_t level, const char* plugin, const char* message);

  /* Status objects. status_new copies `message`; the result is owned by the caller,
   * who returns it from an ABI function (the host then frees it) or frees it with
   * status_free. status_message's result lives as long as the status. */
  ct_status* (*status_new)(int32_t code, const char* message);
  void (*status_free)(ct_status* status);
  int32_t (*status_code)(const ct_status* status);
  const char* (*status_message)(const ct_status* status);

  /* ---- For function plugins (valid inside ct_function callbacks only) ---------- */
  /* Run a registered op or function on the device of the inputs. `outputs` receives
   * num_outputs owned handles. Differentiable when the host is recording a graph. */
  ct_status* (*call)(ct_call_ctx* cx, const char* op, const ct_value* const* inputs, int32_t num_inputs,
                     const ct_attr* attrs, int32_t num_attrs, ct_value** outputs, int32_t num_outputs);
  /* Describe a value: dtype and shape. *shape lives as long as the value. */
  ct_status* (*value_info)(const ct_value* value, ct_dtype* dtype, int32_t* ndim, const int64_t** shape);
  /* Make a constant on the device of `like` from contiguous host data. */
  ct_status* (*value_from_host)(ct_call_ctx* cx, const ct_value* like, ct_dtype dtype, int32_t ndim,
                                const int64_t* shape, const void* data, ct_value** out);
  /* Copy a value's elements to contiguous host memory of `size` bytes. */
  ct_status* (*value_to_host)(ct_call_ctx* cx, const ct_value* value, void* dst, uint64_t size);
  void (*value_release)(ct_value* value);
} ct_host;

#if CT_ABI_64
CT_STATIC_ASSERT(offsetof(ct_host, value_release) == 96, ct_host_last_offset);
CT_STATIC_ASSERT(sizeof(ct_host) == 104, ct_host_size);
#endif

/* ---- The plugin table ----------------------------------------------------------------- */
typedef enum ct_plugin_kind {
  CT_PLUGIN_BACKEND = 1,  /* devices and kernels: `backend` is set */
  CT_PLUGIN_FUNCTIONS = 2 /* differentiable functions: `functions` is set */
} ct_plugin_kind;

/* Returned by the entry point; lives as long as the library is loaded (i.e. for the
 * whole process). */
typedef struct ct_plugin {
  size_t struct_size;
  /* Frozen prefix, identical in every ABI major: the host reads these three first. */
  uint32_t abi_major;      /* CT_ABI_MAJOR the plugin was compiled with */
  uint32_t abi_minor;      /* CT_ABI_MINOR the plugin was compiled with */
  uint32_t min_host_minor; /* the oldest host minor the plugin works with (0 = any) */

  uint32_t kind;           /* a ct_plugin_kind */
  const char* name;        /* must equal the <name> of libcatena-<name>.so */
  const char* version;     /* the plugin's own version, for the load report */
  const ct_backend* backend;               /* CT_PLUGIN_BACKEND */
  const ct_function_library* functions;    /* CT_PLUGIN_FUNCTIONS */
} ct_plugin;

#if CT_ABI_64
CT_STATIC_ASSERT(offsetof(ct_plugin, abi_major) == 8, ct_plugin_abi_major_offset);
CT_STATIC_ASSERT(offsetof(ct_plugin, functions) == 48, ct_plugin_last_offset);
CT_STATIC_ASSERT(sizeof(ct_plugin) == 56, ct_plugin_size);
#endif

/* The entry point. May be called more than once; returns the same table each time, or
 * NULL if the plugin cannot run at all with this host (it should log why). It must not
 * initialise hardware: that is the backend's init, which the host calls lazily. */
typedef const ct_plugin* (*ct_plugin_entry_fn)(const ct_host* host);

/* The optional probe: side-effect free, cheap, callable before the entry. Returns a
 * score (0 = cannot run here; higher = better fit; used to pick among variants of one
 * plugin) and, when reason is not NULL, a static string saying why. */
typedef int32_t (*ct_plugin_probe_fn)(uint32_t host_abi_major, uint32_t host_abi_minor, const char** reason);

#ifdef __cplusplus
}
#endif

#endif /* CATENA_CT_PLUGIN_H */
