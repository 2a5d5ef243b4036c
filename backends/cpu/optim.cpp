// optim.*: one fused pass per parameter for each optimizer's update rule. The parameter and
// the optimizer's state are outputs the kernel reads and writes in place (api/OPS.md).
#include "kernels.hpp"
#include "scalar.hpp"
#include "threadpool.hpp"

#include <cmath>
#include <cstring>
#include <type_traits>

namespace catena_cpu {

namespace {

// The number of state outputs after the parameter, per rule.
int state_count(const ct_op& op) {
  const char* n = op.name + 6;  // after "optim."
  if (!std::strcmp(n, "sgd")) return 0;
  if (!std::strcmp(n, "adam")) return attr_int(op, "amsgrad", 0) ? 3 : 2;
  if (!std::strcmp(n, "adadelta")) return 2;
  return 1;  // momentum_sgd, nesterov_ag, adagrad, rmsprop
}

const char* support_optim(const ct_op& op) {
  if (op.num_inputs != 1) return "takes one input (the gradient)";
  if (op.num_outputs != 1 + state_count(op)) return "wrong number of outputs (the parameter, then its state)";
  const ct_tensor* g = op.inputs[0];
  Ty t = ty_of(g->dl.dtype);
  if (t != Ty::f32 && t != Ty::f64) return "float32 and float64 only";
  if (!is_dense(g)) return "needs a dense gradient";
  for (int i = 0; i < op.num_outputs; ++i) {
    const ct_tensor* o = op.outputs[i];
    if (ty_of(o->dl.dtype) != t || !same_shape(o, g)) return "parameter and state must match the gradient";
    if (!is_dense(o)) return "needs dense parameter and state";
  }
  return nullptr;
}

template <class T>
T* out(const ct_op& op, int i) {
  return reinterpret_cast<T*>(base_of(op.outputs[i]));
}

template <class T>
const T* grad(const ct_op& op) {
  return reinterpret_cast<const T*>(base_of(op.inputs[0]));
}

// Runs body(begin, end) over the elements, split across threads. The bodies are plain
// loops over restrict pointers with their constants in registers, so they vectorise.
template <class Body>
void each(const ct_op& op, const Body& body) {
  parallel_for(numel(op.inputs[0]), 32768, body);
}

#define CATENA_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))

template <class T>
void sgd(const ct_op& op) {
  const T* __restrict g = grad<T>(op);
  T* __restrict p = out<T>(op, 0);
  const T lr = T(attr_float(op, "lr", 0.01));
  each(op, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] -= lr * g[i];
  });
}

template <class T>
void momentum_sgd(const ct_op& op) {
  const T* __restrict g = grad<T>(op);
  T* __restrict p = out<T>(op, 0);
  T* __restrict v = out<T>(op, 1);
  const T lr = T(attr_float(op, "lr", 0.01)), mu = T(attr_float(op, "momentum", 0.9));
  each(op, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T vi = v[i] * mu - lr * g[i];
      v[i] = vi;
      p[i] += vi;
    }
  });
}

template <class T>
void nesterov_ag(const ct_op& op) {
  const T* __restrict g = grad<T>(op);
  T* __restrict p = out<T>(op, 0);
  T* __restrict v = out<T>(op, 1);
  const T lr = T(attr_float(op, "lr", 0.01)), mu = T(attr_float(op, "momentum", 0.9));
  each(op, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T vi = v[i] * mu - lr * g[i];
      v[i] = vi;
      T pi = p[i] + mu * mu * vi;
      p[i] = pi - (T(1) + mu) * lr * g[i];
    }
  });
}

template <class T>
void adagrad(const ct_op& op) {
  const T* __restrict g = grad<T>(op);
  T* __restrict p = out<T>(op, 0);
  T* __restrict h = out<T>(op, 1);
  const T lr = T(attr_float(op, "lr", 0.001)), eps = T(attr_float(op, "eps", 1e-8));
  each(op, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T hi = h[i] + g[i] * g[i];
      h[i] = hi;
      p[i] -= lr * g[i] / (std::sqrt(hi) + eps);
    }
  });
}

template <class T>
void rmsprop(const ct_op& op) {
  const T* __restrict g = grad<T>(op);
  T* __restrict p = out<T>(op, 0);
  T* __restrict ms = out<T>(op, 1);
  const T lr = T(attr_float(op, "lr", 0.01)), alpha = T(attr_float(op, "alpha", 0.99));
  const T eps = T(attr_float(op, "eps", 1e-8));
  const bool inside = attr_int(op, "eps_inside_sqrt", 0) != 0;
  each(op, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T m = ms[i] * alpha + (T(1) - alpha) * g[i] * g[i];
      ms[i] = m;
      T denom = inside ? std::sqrt(m + eps) : std::sqrt(m) + eps;
      p[i] -= lr * g[i] / denom;
    }
  });
}

template <class T>
void adadelta(const ct_op& op) {
  const T* __restrict g = grad<T>(op);
  T* __restrict p = out<T>(op, 0);
  T* __restrict msg = out<T>(op, 1);
  T* __restrict msdx = out<T>(op, 2);
  const T rho = T(attr_float(op, "rho", 0.95)), eps = T(attr_float(op, "eps", 1e-6));
  each(op, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T a = msg[i] * rho + (T(1) - rho) * g[i] * g[i];
      msg[i] = a;
      T dx = std::sqrt((msdx[i] + eps) / (a + eps)) * g[i];
      msdx[i] = msdx[i] * rho + (T(1) - rho) * dx * dx;
      p[i] -= dx;
    }
  });
}

// Adam's element loop, compiled for AVX-512, AVX2 and the baseline (chosen at load).
template <class T>
inline void adam_loop(int64_t b, int64_t e, T* __restrict p, T* __restrict m, T* __restrict v, T* __restrict vhat,
                      const T* __restrict g, T lr, T b1, T b2, T eps, T eta, T wd) {
  for (int64_t i = b; i < e; ++i) {
    T gi = g[i];
    T mi = m[i] + (gi - m[i]) * b1;
    T vi = v[i] + (gi * gi - v[i]) * b2;
    m[i] = mi;
    v[i] = vi;
    if (vhat) {  // hoisted out of the loop by the compiler: vhat does not change
      T h = vhat[i];
      T r = h < vi ? vi : h;  // numpy.maximum: a NaN on either side wins
      r = vi != vi ? vi : r;
      vhat[i] = r;
      vi = r;
    }
    p[i] -= (mi * lr / (std::sqrt(vi) + eps) + p[i] * wd) * eta;
  }
}

CATENA_SIMD void adam_f32(int64_t b, int64_t e, float* p, float* m, float* v, float* vhat, const float* g, float lr,
                          float b1, float b2, float eps, float eta, float wd) {
  adam_loop<float>(b, e, p, m, v, vhat, g, lr, b1, b2, eps, eta, wd);
}

void adam_f64(int64_t b, int64_t e, double* p, double* m, double* v, double* vhat, const double* g, double lr,
              double b1, double b2, double eps, double eta, double wd) {
  adam_loop<double>(b, e, p, m, v, vhat, g, lr, b1, b2, eps, eta, wd);
}

template <class T>
void adam(const ct_op& op) {
  const T* g = grad<T>(op);
  T *p = out<T>(op, 0), *m = out<T>(op, 1), *v = out<T>(op, 2);
  T* vhat = attr_int(op, "amsgrad", 0) != 0 ? out<T>(op, 3) : nullptr;
  const T lr = T(attr_float(op, "lr", 0.001)), b1 = T(1) - T(attr_float(op, "beta1", 0.9));
  const T b2 = T(1) - T(attr_float(op, "beta2", 0.999)), eps = T(attr_float(op, "eps", 1e-8));
  const T eta = T(attr_float(op, "eta", 1.0)), wd = T(attr_float(op, "weight_decay_rate", 0.0));
  each(op, [=](int64_t b, int64_t e) {
    if constexpr (std::is_same_v<T, float>)
      adam_f32(b, e, p, m, v, vhat, g, lr, b1, b2, eps, eta, wd);
    else
      adam_f64(b, e, p, m, v, vhat, g, lr, b1, b2, eps, eta, wd);
  });
}

template <template <class> class K>
void run(const ct_op& op) {
  if (ty_of(op.inputs[0]->dl.dtype) == Ty::f32)
    K<float>{}(op);
  else
    K<double>{}(op);
}

#define CATENA_RULE(fn)                                \
  template <class T>                                   \
  struct fn##_k {                                      \
    void operator()(const ct_op& op) { fn<T>(op); }    \
  };
CATENA_RULE(sgd)
CATENA_RULE(momentum_sgd)
CATENA_RULE(nesterov_ag)
CATENA_RULE(adagrad)
CATENA_RULE(rmsprop)
CATENA_RULE(adadelta)
CATENA_RULE(adam)
#undef CATENA_RULE

}  // namespace

void add_optim_kernels(std::vector<KernelDef>& k) {
  k.push_back({"optim.sgd", 1, support_optim, run<sgd_k>});
  k.push_back({"optim.momentum_sgd", 1, support_optim, run<momentum_sgd_k>});
  k.push_back({"optim.nesterov_ag", 1, support_optim, run<nesterov_ag_k>});
  k.push_back({"optim.adagrad", 1, support_optim, run<adagrad_k>});
  k.push_back({"optim.rmsprop", 1, support_optim, run<rmsprop_k>});
  k.push_back({"optim.adadelta", 1, support_optim, run<adadelta_k>});
  k.push_back({"optim.adam", 1, support_optim, run<adam_k>});
}

}  // namespace catena_cpu
