// optim.*: one fused pass per parameter for each optimizer's update rule. The parameter and
// the optimizer's state are outputs the kernel reads and writes in place (api/OPS.md).
#include "kernels.hpp"
#include "scalar.hpp"
#include "threadpool.hpp"

#include <cmath>
#include <cstring>

namespace catena_cpu {

namespace {

bool dense(const ct_tensor* t) {
  int64_t expect = 1;
  for (int d = t->dl.ndim - 1; d >= 0; --d) {
    if (t->dl.shape[d] != 1 && t->dl.strides[d] != expect) return false;
    expect *= t->dl.shape[d];
  }
  return true;
}

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
  if (!dense(g)) return "needs a dense gradient";
  for (int i = 0; i < op.num_outputs; ++i) {
    const ct_tensor* o = op.outputs[i];
    if (ty_of(o->dl.dtype) != t || !same_shape(o, g)) return "parameter and state must match the gradient";
    if (!dense(o)) return "needs dense parameter and state";
  }
  return nullptr;
}

template <class T>
T* out(const ct_op& op, int i) {
  return reinterpret_cast<T*>(base_of(op.outputs[i]));
}

// Runs body(i) for every element; parameters are large, so split across threads.
template <class T, class Body>
void each(const ct_op& op, const Body& body) {
  parallel_for(numel(op.inputs[0]), 32768, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) body(i);
  });
}

template <class T>
void sgd(const ct_op& op) {
  const T* g = reinterpret_cast<const T*>(base_of(op.inputs[0]));
  T* p = out<T>(op, 0);
  const T lr = T(attr_float(op, "lr", 0.01));
  each<T>(op, [&](int64_t i) { p[i] -= lr * g[i]; });
}

template <class T>
void momentum_sgd(const ct_op& op) {
  const T* g = reinterpret_cast<const T*>(base_of(op.inputs[0]));
  T *p = out<T>(op, 0), *v = out<T>(op, 1);
  const T lr = T(attr_float(op, "lr", 0.01)), mu = T(attr_float(op, "momentum", 0.9));
  each<T>(op, [&](int64_t i) {
    T vi = v[i] * mu - lr * g[i];
    v[i] = vi;
    p[i] += vi;
  });
}

template <class T>
void nesterov_ag(const ct_op& op) {
  const T* g = reinterpret_cast<const T*>(base_of(op.inputs[0]));
  T *p = out<T>(op, 0), *v = out<T>(op, 1);
  const T lr = T(attr_float(op, "lr", 0.01)), mu = T(attr_float(op, "momentum", 0.9));
  each<T>(op, [&](int64_t i) {
    T vi = v[i] * mu - lr * g[i];
    v[i] = vi;
    p[i] += mu * mu * vi;
    p[i] -= (T(1) + mu) * lr * g[i];
  });
}

template <class T>
void adagrad(const ct_op& op) {
  const T* g = reinterpret_cast<const T*>(base_of(op.inputs[0]));
  T *p = out<T>(op, 0), *h = out<T>(op, 1);
  const T lr = T(attr_float(op, "lr", 0.001)), eps = T(attr_float(op, "eps", 1e-8));
  each<T>(op, [&](int64_t i) {
    T hi = h[i] + g[i] * g[i];
    h[i] = hi;
    p[i] -= lr * g[i] / (std::sqrt(hi) + eps);
  });
}

template <class T>
void rmsprop(const ct_op& op) {
  const T* g = reinterpret_cast<const T*>(base_of(op.inputs[0]));
  T *p = out<T>(op, 0), *ms = out<T>(op, 1);
  const T lr = T(attr_float(op, "lr", 0.01)), alpha = T(attr_float(op, "alpha", 0.99));
  const T eps = T(attr_float(op, "eps", 1e-8));
  const bool inside = attr_int(op, "eps_inside_sqrt", 0) != 0;
  each<T>(op, [&](int64_t i) {
    T m = ms[i] * alpha + (T(1) - alpha) * g[i] * g[i];
    ms[i] = m;
    T denom = inside ? std::sqrt(m + eps) : std::sqrt(m) + eps;
    p[i] -= lr * g[i] / denom;
  });
}

template <class T>
void adadelta(const ct_op& op) {
  const T* g = reinterpret_cast<const T*>(base_of(op.inputs[0]));
  T *p = out<T>(op, 0), *msg = out<T>(op, 1), *msdx = out<T>(op, 2);
  const T rho = T(attr_float(op, "rho", 0.95)), eps = T(attr_float(op, "eps", 1e-6));
  each<T>(op, [&](int64_t i) {
    T a = msg[i] * rho + (T(1) - rho) * g[i] * g[i];
    msg[i] = a;
    T dx = std::sqrt((msdx[i] + eps) / (a + eps)) * g[i];
    msdx[i] = msdx[i] * rho + (T(1) - rho) * dx * dx;
    p[i] -= dx;
  });
}

template <class T>
void adam(const ct_op& op) {
  const T* g = reinterpret_cast<const T*>(base_of(op.inputs[0]));
  T *p = out<T>(op, 0), *m = out<T>(op, 1), *v = out<T>(op, 2);
  const bool ams = attr_int(op, "amsgrad", 0) != 0;
  T* vhat = ams ? out<T>(op, 3) : nullptr;
  const T lr = T(attr_float(op, "lr", 0.001)), b1 = T(1) - T(attr_float(op, "beta1", 0.9));
  const T b2 = T(1) - T(attr_float(op, "beta2", 0.999)), eps = T(attr_float(op, "eps", 1e-8));
  const T eta = T(attr_float(op, "eta", 1.0)), wd = T(attr_float(op, "weight_decay_rate", 0.0));
  each<T>(op, [&](int64_t i) {
    T gi = g[i];
    T mi = m[i] + (gi - m[i]) * b1;
    T vi = v[i] + (gi * gi - v[i]) * b2;
    m[i] = mi;
    v[i] = vi;
    if (ams) {
      if (vi < vhat[i] || std::isnan(vhat[i])) vi = vhat[i];
      vhat[i] = vi;
    }
    T step = mi * lr / (std::sqrt(vi) + eps);
    if (wd != T(0)) step += p[i] * wd;
    p[i] -= step * eta;
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
