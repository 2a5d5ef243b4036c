/*
 * Catena ABI v1 — FunctionNode plugins: differentiable functions defined outside Catena.
 *
 * A function plugin defines forward and backward in terms of ops it asks the host to
 * run (ct_host.call). Because every op goes through the host, the function runs on any
 * device the host can dispatch to, and its backward is itself differentiable (double
 * backprop) when written with differentiable ops.
 */
#ifndef CATENA_CT_FUNCTION_H
#define CATENA_CT_FUNCTION_H

#include "ct_op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A host-owned reference to an array (a Variable's data, or a gradient). Handles the
 * host passes into a callback are borrowed for the duration of the callback. Handles a
 * callback receives from ct_host.call or ct_host.value_from_host are owned by the
 * plugin, which hands them back through its out-parameters or releases them with
 * ct_host.value_release. */
typedef struct ct_value ct_value;

/* The host's context for one callback; borrowed for its duration. */
typedef struct ct_call_ctx ct_call_ctx;

/* Which arrays backward needs. The host frees the others as soon as forward returns. */
enum { CT_RETAIN_INPUTS = 1u << 0, CT_RETAIN_OUTPUTS = 1u << 1 };

typedef struct ct_function {
  size_t struct_size;
  const char* name; /* namespaced: "acme.swish". Lives as long as the plugin. */
  int32_t version;
  int32_t num_inputs;
  int32_t num_outputs;
  uint32_t retain; /* CT_RETAIN_* */
  /* Compute outputs[0..num_outputs) from inputs with ct_host.call. The callback stores
   * one owned handle in each output slot; on error it stores none. */
  ct_status* (*forward)(ct_call_ctx* cx, const ct_value* const* inputs, const ct_attr* attrs, int32_t num_attrs,
                        ct_value** outputs);
  /* Compute the gradients of the inputs listed in `wanted` (num_inputs flags, 1 =
   * wanted) from grad_outputs (an entry may be NULL: a zero gradient). inputs/outputs
   * are NULL unless retained. Stores an owned handle, or NULL for "no gradient", in
   * each wanted slot of grad_inputs. Ops called here are recorded for double backprop
   * when the host is building a graph. */
  ct_status* (*backward)(ct_call_ctx* cx, const ct_value* const* inputs, const ct_value* const* outputs,
                         const ct_value* const* grad_outputs, const uint8_t* wanted, const ct_attr* attrs,
                         int32_t num_attrs, ct_value** grad_inputs);
} ct_function;

#if CT_ABI_64
CT_STATIC_ASSERT(offsetof(ct_function, backward) == 40, ct_function_last_offset);
CT_STATIC_ASSERT(sizeof(ct_function) == 48, ct_function_size);
#endif

/* What a function plugin returns: its functions, which live as long as the plugin. */
typedef struct ct_function_library {
  size_t struct_size;
  int32_t num_functions;
  int32_t reserved0;
  const ct_function* const* functions;
} ct_function_library;

#if CT_ABI_64
CT_STATIC_ASSERT(offsetof(ct_function_library, functions) == 16, ct_function_library_last_offset);
CT_STATIC_ASSERT(sizeof(ct_function_library) == 24, ct_function_library_size);
#endif

#ifdef __cplusplus
}
#endif

#endif /* CATENA_CT_FUNCTION_H */
