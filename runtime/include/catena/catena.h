/*
 * Catena's C host API, version 1: what an application embeds to load a trained model
 * and run it. C99; every name starts with catena_ / CATENA_.
 *
 *   catena_runtime* rt;  catena_model* m;  catena_tensor *x, *y;
 *   ct_status* s = catena_runtime_open(NULL, &rt);
 *   if (!s) s = catena_model_load(rt, "model.npz", "cpu", &m);
 *   if (!s) s = catena_tensor_new(rt, "cpu", f32, shape, 4, pixels, bytes, &x);
 *   if (!s) s = catena_model_forward(m, x, &y);
 *   if (s) { fprintf(stderr, "%s\n", catena_status_message(s)); catena_status_free(s); }
 *
 * VERSIONING: like the plugin ABI (ct_base.h). CATENA_API_MAJOR changes only for an
 * incompatible change; CATENA_API_MINOR grows when functions or struct fields are added
 * (at the end). catena_api_version() says what the library speaks; a program built with
 * a newer header checks it before calling what that minor added. Structs that cross the
 * API start with `size_t struct_size`, which the caller sets to sizeof(the struct) as it
 * was compiled: the library reads and writes only the fields inside it.
 *
 * ERRORS: a fallible function returns ct_status*: NULL is success; otherwise a status with
 * a code (ct_code) and a message that says what is wrong, which the caller frees with
 * catena_status_free. On error every out-parameter is set to NULL/0 (when the pointer to
 * it is not NULL itself). No function aborts, exits or lets a C++ exception out, whatever
 * it is given: a NULL where an object is needed, a wrong struct_size, a file that is not a
 * model, a device that does not exist, a tensor of the wrong shape or dtype.
 *
 * OWNERSHIP: whoever receives an object through an out-parameter owns it and frees it
 * with its own free function (catena_X_free for a catena_X, catena_string_free for text).
 * Every free function accepts NULL. Borrowed pointers say how long they live.
 *
 * THREADS: every function may be called from any thread. Objects are not locked unless a
 * function says so: one thread at a time per object, except that catena_model_forward may
 * run on one model from many threads at once (each call with its own input and output
 * tensors; the model is never changed by a forward), and a tensor may be read (shape,
 * dtype, catena_tensor_read, used as an input) from many threads at once. Free an object
 * only when no other call uses it.
 */
#ifndef CATENA_CATENA_H
#define CATENA_CATENA_H

#include <catena/ct_base.h>
#include <catena/dlpack.h>

#include <stddef.h>
#include <stdint.h>

#define CATENA_API_MAJOR 1
#define CATENA_API_MINOR 0

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define CATENA_API __declspec(dllimport)
#else
#define CATENA_API __attribute__((visibility("default")))
#endif

/* ---- Versions and status ---------------------------------------------------------- */

/* (CATENA_API_MAJOR << 16) | CATENA_API_MINOR of the library actually loaded. */
CATENA_API uint32_t catena_api_version(void);
/* libcatena's version, "0.1.0". Static storage. */
CATENA_API const char* catena_version(void);

/* The code of a status; CT_OK for NULL. */
CATENA_API ct_code catena_status_code(const ct_status* status);
/* The status's message; lives as long as the status. "" for NULL. */
CATENA_API const char* catena_status_message(const ct_status* status);
/* The name of a code, "INVALID_ARGUMENT". Static storage. */
CATENA_API const char* catena_code_name(ct_code code);
CATENA_API void catena_status_free(ct_status* status);

/* Text returned by the library (a report, an architecture), freed by this. */
CATENA_API void catena_string_free(char* text);

/* ---- The runtime -------------------------------------------------------------------
 * One per process underneath: every catena_runtime opened shares the plugins and devices
 * found by the first. Closing the last handle frees nothing the process could still
 * need (plugins stay loaded until exit, as dlclose of a GPU driver is unsafe). */
typedef struct catena_runtime catena_runtime;

typedef struct catena_runtime_options {
  size_t struct_size; /* sizeof(catena_runtime_options) */
  /* Plugin files or folders searched before everything else (absolute paths), read only
   * when the process's runtime has not started yet (the first open); otherwise giving
   * any is an error (CT_FAILED_PRECONDITION). NULL/0 for none. */
  const char* const* plugin_paths;
  size_t plugin_path_count;
} catena_runtime_options;

/* options may be NULL (the defaults: discovery as `catena plugins` shows). */
CATENA_API ct_status* catena_runtime_open(const catena_runtime_options* options, catena_runtime** out);
CATENA_API void catena_runtime_close(catena_runtime* runtime);

/* The load report: one entry per plugin file the runtime considered. */
typedef struct catena_report catena_report;

typedef struct catena_plugin_record {
  size_t struct_size;      /* the caller sets sizeof(catena_plugin_record) */
  const char* path;        /* every string lives as long as the report */
  const char* name;        /* "cpu", from libcatena-<name>.so */
  const char* kind;        /* "backend", "functions", or "" when the table was not read */
  const char* found_by;    /* "explicit", "CATENA_PLUGIN_PATH", "user folder", "beside libcatena" */
  const char* result;      /* "loaded", "shadowed", "disabled", "dlopen_failed", ... */
  const char* message;     /* what happened, in words */
  const char* hint;        /* what to do about it ("" when nothing) */
  int32_t loaded;          /* 1 when the plugin is in use */
  int32_t initialised;     /* 1 when its init ran and succeeded */
} catena_plugin_record;

/* With initialise = 1, every loaded backend is initialised first, so init failures are
 * in the report too. The report is a snapshot, owned by the caller. */
CATENA_API ct_status* catena_runtime_report(catena_runtime* runtime, int initialise, catena_report** out);
CATENA_API size_t catena_report_count(const catena_report* report);
CATENA_API ct_status* catena_report_entry(const catena_report* report, size_t index, catena_plugin_record* out);
/* The whole report as text, as `catena plugins` prints it. */
CATENA_API ct_status* catena_report_text(const catena_report* report, char** out);
CATENA_API void catena_report_free(catena_report* report);

/* ---- Devices ----------------------------------------------------------------------- */
typedef struct catena_device_info {
  size_t struct_size;        /* the caller sets sizeof(catena_device_info) */
  const char* name;          /* "cpu", "opencl:0"; every string lives as long as the process */
  const char* kind;          /* "cpu", "opencl" */
  const char* product;       /* the device's product name */
  const char* vendor;
  const char* description;
  const char* backend;       /* the plugin that provides it */
  uint64_t memory_bytes;     /* 0 when unknown */
  int32_t compute_units;     /* 0 when unknown */
  int32_t host_addressable;  /* 1 when the host can read its memory directly */
} catena_device_info;

/* Every device of every ready backend (initialising them all). */
CATENA_API ct_status* catena_device_count(catena_runtime* runtime, size_t* out);
CATENA_API ct_status* catena_device_get(catena_runtime* runtime, size_t index, catena_device_info* out);
/* By name ("cpu", "opencl:0"); NULL or "" is the default device (CATENA_DEVICE, else cpu).
 * An unknown name is CT_NOT_FOUND, listing the devices there are. */
CATENA_API ct_status* catena_device_find(catena_runtime* runtime, const char* name, catena_device_info* out);

/* ---- Tensors -----------------------------------------------------------------------
 * A dense array on one device. Shapes have at most 8 dimensions. */
typedef struct catena_tensor catena_tensor;

/* A new tensor on `device` (NULL or "": the default device) holding a copy of `bytes`
 * bytes at `data`, which must be exactly the shape's element count times the dtype's
 * size, in C (row-major) order. data may be NULL only when bytes is 0. */
CATENA_API ct_status* catena_tensor_new(catena_runtime* runtime, const char* device, ct_dtype dtype,
                                        const int64_t* shape, int32_t ndim, const void* data, size_t bytes,
                                        catena_tensor** out);
CATENA_API void catena_tensor_free(catena_tensor* tensor);
CATENA_API int32_t catena_tensor_ndim(const catena_tensor* tensor);   /* -1 for NULL */
/* Copies min(ndim, capacity) extents into shape. */
CATENA_API ct_status* catena_tensor_shape(const catena_tensor* tensor, int64_t* shape, int32_t capacity);
CATENA_API ct_status* catena_tensor_dtype(const catena_tensor* tensor, ct_dtype* out);
CATENA_API int64_t catena_tensor_numel(const catena_tensor* tensor);  /* -1 for NULL */
/* The device's name; lives as long as the process. "" for NULL. */
CATENA_API const char* catena_tensor_device(const catena_tensor* tensor);
/* Copies the values (C order) to host memory; bytes must be numel * dtype size.
 * Waits for the work that computes them; an error of that work is returned here. */
CATENA_API ct_status* catena_tensor_read(const catena_tensor* tensor, void* dst, size_t bytes);

/* DLPack, both ways (catena/dlpack.h; numpy, PyTorch, CuPy, JAX speak it).
 * Import takes the managed tensor over: its deleter is called exactly once, on any thread,
 * when the last Catena tensor using the memory is freed. Host memory (kDLCPU, kDLCUDAHost)
 * becomes a cpu tensor without a copy, strides kept; a read-only tensor (DLPack 1.0's flag),
 * or one not aligned to its element size, is copied and its deleter called before the
 * function returns. On error the caller still owns `managed`. */
CATENA_API ct_status* catena_tensor_from_dlpack(catena_runtime* runtime, catena_dlpack_managed* managed,
                                                catena_tensor** out);
CATENA_API ct_status* catena_tensor_from_dlpack_versioned(catena_runtime* runtime, catena_dlpack_versioned* managed,
                                                          catena_tensor** out);
/* Export: the tensor's memory itself, no copy, valid until the consumer calls the deleter
 * (the catena_tensor may be freed before that). The device is synchronised first. Writes
 * through either side are seen by the other. */
CATENA_API ct_status* catena_tensor_to_dlpack(const catena_tensor* tensor, catena_dlpack_managed** out);
CATENA_API ct_status* catena_tensor_to_dlpack_versioned(const catena_tensor* tensor, catena_dlpack_versioned** out);

/* ---- Models ------------------------------------------------------------------------
 * A whole-model file, as `catena train` writes it (model.npz, or .h5 / .hdf5), rebuilt
 * from the file alone on a device. The file is read once, checked (a damaged file is
 * CT_DATA_LOSS naming the file and key), and not kept open. */
typedef struct catena_model catena_model;

/* device: "cpu", "opencl:0", ...; NULL or "": the default device. */
CATENA_API ct_status* catena_model_load(catena_runtime* runtime, const char* path, const char* device,
                                        catena_model** out);
CATENA_API void catena_model_free(catena_model* model);
/* The model's architecture, as indented text (the file's JSON tree, described). */
CATENA_API ct_status* catena_model_describe(const catena_model* model, char** out);
/* The device the model lives on; lives as long as the process. "" for NULL. */
CATENA_API const char* catena_model_device(const catena_model* model);

/* The model's prediction for a batch: for a classifier saved whole, its predictor's output
 * (the scores before the loss). Runs in inference mode (no graph, dropout off, batch
 * normalization with its running statistics). The input is copied to the model's device
 * when it lives elsewhere. A wrong shape or dtype is CT_INVALID_ARGUMENT saying what was
 * expected. Safe to call from many threads at once on one model. */
CATENA_API ct_status* catena_model_forward(const catena_model* model, const catena_tensor* input,
                                           catena_tensor** out);

#ifdef __cplusplus
}
#endif

#endif /* CATENA_CATENA_H */
