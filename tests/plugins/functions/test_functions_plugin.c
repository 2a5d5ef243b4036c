/*
 * A FunctionNode plugin written in C against api/ only (libcatena-testfns.so). Its
 * functions compute forward and backward with ops the host runs (ct_host.call), so they
 * work on any device and their backward is itself differentiable.
 *
 *   test.swish(x) = x * sigmoid(x)
 *   test.scale(x; factor) = factor * x
 *
 * tests/abi builds it a second time against the frozen ABI 1.0 headers, as
 * libcatena-frozenfns.so with the functions frozen.swish and frozen.scale.
 */
#include <catena/abi.h>

#include <stddef.h>
#include <string.h>

#ifndef TESTFNS_PLUGIN
#define TESTFNS_PLUGIN "testfns"
#endif
#ifndef TESTFNS_NS
#define TESTFNS_NS "test"
#endif

static const ct_host* H;

#define TRY(expr)                   \
  do {                              \
    ct_status* s_ = (expr);         \
    if (s_) return s_;              \
  } while (0)

/* A one-element constant of v's dtype. */
static ct_status* scalar_like(ct_call_ctx* cx, const ct_value* v, double value, ct_value** out) {
  ct_dtype d;
  int32_t ndim;
  const int64_t* shape;
  TRY(H->value_info(v, &d, &ndim, &shape));
  if (d.code == CT_DTYPE_FLOAT && d.bits == 32) {
    float f = (float)value;
    return H->value_from_host(cx, v, d, 0, NULL, &f, out);
  }
  if (d.code == CT_DTYPE_FLOAT && d.bits == 64) return H->value_from_host(cx, v, d, 0, NULL, &value, out);
  return H->status_new(CT_INVALID_ARGUMENT, "test functions take float32 or float64");
}

static ct_status* call2(ct_call_ctx* cx, const char* op, const ct_value* a, const ct_value* b, ct_value** out) {
  const ct_value* in[2];
  in[0] = a;
  in[1] = b;
  return H->call(cx, op, in, 2, NULL, 0, out, 1);
}

static ct_status* call1(ct_call_ctx* cx, const char* op, const ct_value* a, ct_value** out) {
  return H->call(cx, op, &a, 1, NULL, 0, out, 1);
}

static ct_status* swish_forward(ct_call_ctx* cx, const ct_value* const* in, const ct_attr* attrs, int32_t num_attrs,
                                ct_value** out) {
  ct_value* s = NULL;
  ct_status* st;
  (void)attrs;
  (void)num_attrs;
  TRY(call1(cx, "core.sigmoid", in[0], &s));
  st = call2(cx, "core.mul", in[0], s, &out[0]);
  H->value_release(s);
  return st;
}

/* d/dx x s(x) = s (1 + x (1 - s)) */
static ct_status* swish_backward(ct_call_ctx* cx, const ct_value* const* in, const ct_value* const* out,
                                 const ct_value* const* gy, const uint8_t* wanted, const ct_attr* attrs,
                                 int32_t num_attrs, ct_value** gx) {
  ct_value *s = NULL, *one = NULL, *t = NULL, *u = NULL, *v = NULL, *w = NULL;
  ct_status* st;
  (void)out;
  (void)attrs;
  (void)num_attrs;
  gx[0] = NULL;
  if (!wanted[0] || !gy[0]) return NULL;
  if ((st = call1(cx, "core.sigmoid", in[0], &s))) goto done;
  if ((st = scalar_like(cx, in[0], 1.0, &one))) goto done;
  if ((st = call2(cx, "core.sub", one, s, &t))) goto done;
  if ((st = call2(cx, "core.mul", in[0], t, &u))) goto done;
  if ((st = call2(cx, "core.add", one, u, &v))) goto done;
  if ((st = call2(cx, "core.mul", s, v, &w))) goto done;
  st = call2(cx, "core.mul", gy[0], w, &gx[0]);
done:
  H->value_release(s);
  H->value_release(one);
  H->value_release(t);
  H->value_release(u);
  H->value_release(v);
  H->value_release(w);
  return st;
}

static double factor_of(const ct_attr* attrs, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i)
    if (strcmp(attrs[i].name, "factor") == 0 && attrs[i].type == CT_ATTR_FLOAT) return attrs[i].v.f;
  return 1.0;
}

static ct_status* scale_forward(ct_call_ctx* cx, const ct_value* const* in, const ct_attr* attrs, int32_t num_attrs,
                                ct_value** out) {
  ct_value* k = NULL;
  ct_status* st;
  TRY(scalar_like(cx, in[0], factor_of(attrs, num_attrs), &k));
  st = call2(cx, "core.mul", in[0], k, &out[0]);
  H->value_release(k);
  return st;
}

static ct_status* scale_backward(ct_call_ctx* cx, const ct_value* const* in, const ct_value* const* out,
                                 const ct_value* const* gy, const uint8_t* wanted, const ct_attr* attrs,
                                 int32_t num_attrs, ct_value** gx) {
  ct_value* k = NULL;
  ct_status* st;
  (void)in;
  (void)out;
  gx[0] = NULL;
  if (!wanted[0] || !gy[0]) return NULL;
  TRY(scalar_like(cx, gy[0], factor_of(attrs, num_attrs), &k));
  st = call2(cx, "core.mul", gy[0], k, &gx[0]);
  H->value_release(k);
  return st;
}

static const ct_function k_swish = {
    /* .struct_size = */ sizeof(ct_function),
    /* .name        = */ TESTFNS_NS ".swish",
    /* .version     = */ 1,
    /* .num_inputs  = */ 1,
    /* .num_outputs = */ 1,
    /* .retain      = */ CT_RETAIN_INPUTS,
    /* .forward     = */ swish_forward,
    /* .backward    = */ swish_backward,
};

static const ct_function k_scale = {
    /* .struct_size = */ sizeof(ct_function),
    /* .name        = */ TESTFNS_NS ".scale",
    /* .version     = */ 1,
    /* .num_inputs  = */ 1,
    /* .num_outputs = */ 1,
    /* .retain      = */ 0,
    /* .forward     = */ scale_forward,
    /* .backward    = */ scale_backward,
};

static const ct_function* const k_functions[] = {&k_swish, &k_scale};

static const ct_function_library k_library = {
    /* .struct_size   = */ sizeof(ct_function_library),
    /* .num_functions = */ 2,
    /* .reserved0     = */ 0,
    /* .functions     = */ k_functions,
};

static const ct_plugin k_plugin = {
    /* .struct_size    = */ sizeof(ct_plugin),
    /* .abi_major      = */ CT_ABI_MAJOR,
    /* .abi_minor      = */ CT_ABI_MINOR,
    /* .min_host_minor = */ 0,
    /* .kind           = */ CT_PLUGIN_FUNCTIONS,
    /* .name           = */ TESTFNS_PLUGIN,
    /* .version        = */ "test",
    /* .backend        = */ NULL,
    /* .functions      = */ &k_library,
};

CT_EXPORT const ct_plugin* ct_plugin_entry(const ct_host* host) {
  if (host && host->abi_major == CT_ABI_MAJOR) H = host;
  return &k_plugin;
}
