/*
 * Catena ABI v1 — base definitions: versions, status objects, dtypes, layout checks.
 *
 * This header and its siblings in api/catena/ are the only thing a backend or a
 * function plugin compiles against. They are C99, depend on <stddef.h> and <stdint.h>
 * only, and every name starts with ct_ / CT_.
 *
 * VERSIONING RULES (they govern every struct in api/catena/)
 *   - CT_ABI_MAJOR changes only for an incompatible change. The host checks the major
 *     before it reads any other field of a plugin's table; a plugin of another major is
 *     refused.
 *   - CT_ABI_MINOR grows with append-only changes: new fields and new function slots
 *     are added at the end of a struct, never in the middle, never removed or retyped.
 *   - Every extensible struct starts with `size_t struct_size`, set by whoever fills
 *     the struct to sizeof() of the struct as *it* was compiled. A reader uses a field
 *     only when it lies entirely within struct_size (CT_HAS_FIELD). A slot beyond the
 *     writer's struct_size, or a NULL optional slot, means "not provided", and the
 *     documented default applies.
 *   - A plugin built against an older minor keeps loading in a newer host.
 *   - A plugin built against a newer minor loads when the oldest host minor it states
 *     (ct_plugin.min_host_minor) is <= the host's minor; the host then reads only the
 *     fields it knows. Otherwise it is refused with a message naming both versions.
 *   - The fixed-layout value types (ct_dtype, ct_dltensor, ct_attr) have no
 *     struct_size: they are used in arrays and are frozen for the whole major.
 *   - ABI 1.0 is frozen: tests/abi/v1.0 keeps a copy of these headers, and every CI run
 *     builds plugins against it and checks that they still load and work.
 *
 * OWNERSHIP RULES
 *   - Whoever creates an object through an out-parameter owns it and destroys it with
 *     the destroy/free function of the table that created it. Nothing is freed across
 *     tables.
 *   - Status objects are always created by the host (ct_host.status_new) and freed by
 *     the host, so no status ever crosses an allocator.
 *   - Borrowed pointers state their lifetime next to the field ("lives as long as ...").
 *   - No C++ exception, longjmp, abort() or exit() may cross or happen at this boundary.
 */
#ifndef CATENA_CT_BASE_H
#define CATENA_CT_BASE_H

#include <stddef.h>
#include <stdint.h>

#define CT_ABI_MAJOR 1
#define CT_ABI_MINOR 0

/* The symbol a plugin exports (see ct_plugin.h). */
#define CT_PLUGIN_ENTRY_SYMBOL "ct_plugin_entry"
#define CT_PLUGIN_PROBE_SYMBOL "ct_plugin_probe"

#ifdef __cplusplus
#define CT_EXTERN_C extern "C"
#else
#define CT_EXTERN_C
#endif

#if defined(_WIN32)
#define CT_EXPORT CT_EXTERN_C __declspec(dllexport)
#else
#define CT_EXPORT CT_EXTERN_C __attribute__((visibility("default")))
#endif

/* True when the struct pointed to by `p` was written by someone who knew `field`. */
#define CT_HAS_FIELD(p, type, field) \
  ((p)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

/* Size of a struct up to and including its last field (PJRT's convention). */
#define CT_STRUCT_SIZE(type, last_field) (offsetof(type, last_field) + sizeof(((type*)0)->last_field))

/* Compile-time layout checks that work in C99 and C++. */
#ifdef __cplusplus
#define CT_STATIC_ASSERT(cond, name) static_assert(cond, #name)
#else
#define CT_STATIC_ASSERT_CAT2(a, b) a##b
#define CT_STATIC_ASSERT_CAT(a, b) CT_STATIC_ASSERT_CAT2(a, b)
#define CT_STATIC_ASSERT(cond, name) typedef char CT_STATIC_ASSERT_CAT(ct_static_assert_, name)[(cond) ? 1 : -1]
#endif

/* The layout checks below are written for the 64-bit ABIs Catena ships on (LP64/LLP64). */
#define CT_ABI_64 (UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu)

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status ------------------------------------------------------------------------
 * A fallible function returns `ct_status*`: NULL means success. A non-NULL status
 * carries a code and a message and is owned by whoever received it, who frees it with
 * ct_host.status_free (plugins) or the runtime (host). Out-parameters are NULL/zero when
 * a function returns a status. */
typedef struct ct_status ct_status; /* opaque; created only by the host */

typedef enum ct_code {
  CT_OK = 0,
  CT_CANCELLED = 1,
  CT_UNKNOWN = 2,
  CT_INVALID_ARGUMENT = 3,
  CT_DEADLINE_EXCEEDED = 4,
  CT_NOT_FOUND = 5,
  CT_ALREADY_EXISTS = 6,
  CT_PERMISSION_DENIED = 7,
  CT_RESOURCE_EXHAUSTED = 8, /* out of device memory, among others */
  CT_FAILED_PRECONDITION = 9,
  CT_ABORTED = 10,
  CT_OUT_OF_RANGE = 11,
  CT_UNIMPLEMENTED = 12, /* the op or feature is not provided: the host may fall back */
  CT_INTERNAL = 13,
  CT_UNAVAILABLE = 14, /* the device or its driver is not there */
  CT_DATA_LOSS = 15,
  CT_UNAUTHENTICATED = 16,
  CT_ABI_MISMATCH = 100
} ct_code;

/* ---- Data types --------------------------------------------------------------------
 * Same encoding as DLPack's DLDataType, so a ct_dtype can be copied into a DLTensor as
 * is. float16 is IEEE binary16 stored in 16 bits. Frozen layout. */
typedef enum ct_dtype_code {
  CT_DTYPE_INT = 0,
  CT_DTYPE_UINT = 1,
  CT_DTYPE_FLOAT = 2,
  CT_DTYPE_BFLOAT = 4,
  CT_DTYPE_BOOL = 6
} ct_dtype_code;

typedef struct ct_dtype {
  uint8_t code;   /* a ct_dtype_code */
  uint8_t bits;   /* 8, 16, 32, 64 */
  uint16_t lanes; /* always 1 in ABI v1 */
} ct_dtype;

CT_STATIC_ASSERT(sizeof(ct_dtype) == 4, ct_dtype_size);
CT_STATIC_ASSERT(offsetof(ct_dtype, lanes) == 2, ct_dtype_lanes_offset);

/* Severity for ct_host.log. */
typedef enum ct_log_level { CT_LOG_DEBUG = 0, CT_LOG_INFO = 1, CT_LOG_WARNING = 2, CT_LOG_ERROR = 3 } ct_log_level;

#ifdef __cplusplus
}
#endif

#endif /* CATENA_CT_BASE_H */
