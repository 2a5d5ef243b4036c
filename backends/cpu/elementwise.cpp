// Elementwise kernels: fill, copy/cast, unary and binary math, comparisons, where.
#include "kernels.hpp"
#include "scalar.hpp"
#include "strided.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace catena_cpu {

namespace {

constexpr int64_t kGrain = 32768;  // elements per thread below which we stay serial

template <class T>
inline T& at(char* p, int64_t i, int64_t s) {
  return *reinterpret_cast<T*>(p + i * s);
}

// ---- casts -------------------------------------------------------------------------

template <class To, class From>
inline To cast_value(From v, bool to_bool) {
  using CF = Compute<From>;
  using CT = Compute<To>;
  auto x = CF::load(v);
  if (to_bool) return CT::store(static_cast<typename CT::type>(x != decltype(x)(0)));
  using XT = decltype(x);
  using TT = typename CT::type;
  if constexpr (std::is_floating_point_v<XT> && std::is_integral_v<TT>) {
    // Float to integer: truncate toward zero, NaN to 0, saturate out of range.
    if (std::isnan(x)) return CT::store(TT(0));
    double d = std::trunc(static_cast<double>(x));
    if (d <= static_cast<double>(std::numeric_limits<TT>::min())) return CT::store(std::numeric_limits<TT>::min());
    if (d >= static_cast<double>(std::numeric_limits<TT>::max())) return CT::store(std::numeric_limits<TT>::max());
    return CT::store(static_cast<TT>(d));
  } else {
    return CT::store(static_cast<TT>(x));
  }
}

void run_copy(const ct_op& op) {
  const ct_tensor* t[2] = {op.inputs[0], op.outputs[0]};
  Ty from = ty_of(t[0]->dl.dtype), to = ty_of(t[1]->dl.dtype);
  bool to_bool = to == Ty::boolean;
  Loop<2> L = make_loop<2>(t);
  visit(from, [&](auto f) {
    using From = decltype(f);
    visit(to, [&](auto g) {
      using To = decltype(g);
      run_loop(L, kGrain, [&](int64_t n, char* const* p, const int64_t* s) {
        if (s[0] == sizeof(From) && s[1] == sizeof(To)) {
          const From* x = reinterpret_cast<const From*>(p[0]);
          To* y = reinterpret_cast<To*>(p[1]);
          if constexpr (std::is_same_v<From, To>) {
            if (!to_bool) {
              std::copy(x, x + n, y);
              return;
            }
          }
          for (int64_t i = 0; i < n; ++i) y[i] = cast_value<To>(x[i], to_bool);
        } else {
          for (int64_t i = 0; i < n; ++i) at<To>(p[1], i, s[1]) = cast_value<To>(at<From>(p[0], i, s[0]), to_bool);
        }
      });
      return 0;
    });
    return 0;
  });
}

void run_fill(const ct_op& op) {
  const ct_tensor* t[1] = {op.outputs[0]};
  double value = attr_float(op, "value", 0.0);
  Ty to = ty_of(t[0]->dl.dtype);
  bool to_bool = to == Ty::boolean;
  Loop<1> L = make_loop<1>(t);
  visit(to, [&](auto g) {
    using To = decltype(g);
    To v = cast_value<To>(value, to_bool);
    run_loop(L, kGrain, [&](int64_t n, char* const* p, const int64_t* s) {
      if (s[0] == sizeof(To)) std::fill(reinterpret_cast<To*>(p[0]), reinterpret_cast<To*>(p[0]) + n, v);
      else for (int64_t i = 0; i < n; ++i) at<To>(p[0], i, s[0]) = v;
    });
    return 0;
  });
}

// ---- unary -------------------------------------------------------------------------

#define CATENA_UNARY(Name, expr)             \
  struct Name {                              \
    template <class C>                       \
    static C f(C x) {                        \
      return expr;                           \
    }                                        \
  };
CATENA_UNARY(Neg, -x)
CATENA_UNARY(Abs, x < C(0) ? C(-x) : x)
CATENA_UNARY(Square, x * x)
CATENA_UNARY(Relu, x > C(0) ? x : (x != x ? x : C(0)))
CATENA_UNARY(Sqrt, std::sqrt(x))
CATENA_UNARY(Exp, std::exp(x))
CATENA_UNARY(Log, std::log(x))
CATENA_UNARY(Sin, std::sin(x))
CATENA_UNARY(Cos, std::cos(x))
CATENA_UNARY(Tanh, std::tanh(x))
CATENA_UNARY(Sigmoid, C(0.5) * std::tanh(C(0.5) * x) + C(0.5))
#undef CATENA_UNARY

template <class Op, bool FloatOnly>
void run_unary(const ct_op& op) {
  const ct_tensor* t[2] = {op.inputs[0], op.outputs[0]};
  Loop<2> L = make_loop<2>(t);
  visit(ty_of(t[0]->dl.dtype), [&](auto v) {
    using T = decltype(v);
    using CT = Compute<T>;
    if constexpr (!FloatOnly || !std::is_integral_v<T>) {
      run_loop(L, kGrain, [&](int64_t n, char* const* p, const int64_t* s) {
        if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
          const T* x = reinterpret_cast<const T*>(p[0]);
          T* y = reinterpret_cast<T*>(p[1]);
          for (int64_t i = 0; i < n; ++i) y[i] = CT::store(Op::f(CT::load(x[i])));
        } else {
          for (int64_t i = 0; i < n; ++i) at<T>(p[1], i, s[1]) = CT::store(Op::f(CT::load(at<T>(p[0], i, s[0]))));
        }
      });
    }
    return 0;
  });
}

// ---- binary ------------------------------------------------------------------------

#define CATENA_BINARY(Name, expr)            \
  struct Name {                              \
    template <class C>                       \
    static C f(C a, C b) {                   \
      return expr;                           \
    }                                        \
  };
CATENA_BINARY(Add, a + b)
CATENA_BINARY(Sub, a - b)
CATENA_BINARY(Mul, a * b)
CATENA_BINARY(Div, a / b)
CATENA_BINARY(Maximum, (a != a || b != b) ? C(a + b) : (a > b ? a : b))  // NaN propagates, as in numpy
CATENA_BINARY(Minimum, (a != a || b != b) ? C(a + b) : (a < b ? a : b))
CATENA_BINARY(Pow, std::pow(a, b))
CATENA_BINARY(ReluGrad, a > C(0) ? b : C(0))
#undef CATENA_BINARY

#define CATENA_COMPARE(Name, expr)           \
  struct Name {                              \
    template <class C>                       \
    static bool f(C a, C b) {                \
      return expr;                           \
    }                                        \
  };
CATENA_COMPARE(Equal, a == b)
CATENA_COMPARE(NotEqual, a != b)
CATENA_COMPARE(Less, a < b)
CATENA_COMPARE(LessEqual, a <= b)
CATENA_COMPARE(Greater, a > b)
CATENA_COMPARE(GreaterEqual, a >= b)
#undef CATENA_COMPARE

template <class Op, bool FloatOnly>
void run_binary(const ct_op& op) {
  const ct_tensor* t[3] = {op.inputs[0], op.inputs[1], op.outputs[0]};
  Loop<3> L = make_loop<3>(t);
  visit(ty_of(t[0]->dl.dtype), [&](auto v) {
    using T = decltype(v);
    using CT = Compute<T>;
    if constexpr (!FloatOnly || !std::is_integral_v<T>) {
      run_loop(L, kGrain, [&](int64_t n, char* const* p, const int64_t* s) {
        constexpr int64_t z = sizeof(T);
        if (s[0] == z && s[1] == z && s[2] == z) {
          const T* a = reinterpret_cast<const T*>(p[0]);
          const T* b = reinterpret_cast<const T*>(p[1]);
          T* y = reinterpret_cast<T*>(p[2]);
          for (int64_t i = 0; i < n; ++i) y[i] = CT::store(Op::f(CT::load(a[i]), CT::load(b[i])));
        } else if (s[0] == z && s[1] == 0 && s[2] == z) {  // tensor op scalar
          const T* a = reinterpret_cast<const T*>(p[0]);
          auto b = CT::load(*reinterpret_cast<const T*>(p[1]));
          T* y = reinterpret_cast<T*>(p[2]);
          for (int64_t i = 0; i < n; ++i) y[i] = CT::store(Op::f(CT::load(a[i]), b));
        } else {
          for (int64_t i = 0; i < n; ++i)
            at<T>(p[2], i, s[2]) = CT::store(Op::f(CT::load(at<T>(p[0], i, s[0])), CT::load(at<T>(p[1], i, s[1]))));
        }
      });
    }
    return 0;
  });
}

template <class Op>
void run_compare(const ct_op& op) {
  const ct_tensor* t[3] = {op.inputs[0], op.inputs[1], op.outputs[0]};
  Loop<3> L = make_loop<3>(t);
  visit(ty_of(t[0]->dl.dtype), [&](auto v) {
    using T = decltype(v);
    using CT = Compute<T>;
    run_loop(L, kGrain, [&](int64_t n, char* const* p, const int64_t* s) {
      for (int64_t i = 0; i < n; ++i)
        at<uint8_t>(p[2], i, s[2]) = Op::f(CT::load(at<T>(p[0], i, s[0])), CT::load(at<T>(p[1], i, s[1])));
    });
    return 0;
  });
}

void run_where(const ct_op& op) {
  const ct_tensor* t[4] = {op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]};
  Loop<4> L = make_loop<4>(t);
  visit(ty_of(t[1]->dl.dtype), [&](auto v) {
    using T = decltype(v);
    run_loop(L, kGrain, [&](int64_t n, char* const* p, const int64_t* s) {
      for (int64_t i = 0; i < n; ++i)
        at<T>(p[3], i, s[3]) = at<uint8_t>(p[0], i, s[0]) ? at<T>(p[1], i, s[1]) : at<T>(p[2], i, s[2]);
    });
    return 0;
  });
}

// ---- support checks ----------------------------------------------------------------

const char* check_shapes(const ct_op& op) {
  const ct_tensor* out = op.outputs[0];
  for (int i = 0; i < op.num_inputs; ++i)
    if (!same_shape(op.inputs[i], out)) return "inputs must have the output's shape (broadcast with zero strides)";
  if (out->dl.ndim > kMaxLoopDims) return "too many dimensions";
  return nullptr;
}

const char* support_fill(const ct_op& op) {
  if (op.num_inputs != 0 || op.num_outputs != 1) return "fill takes no input and one output";
  if (ty_of(op.outputs[0]->dl.dtype) == Ty::unknown) return "unsupported dtype";
  if (!find_attr(op, "value")) return "missing attribute 'value'";
  return op.outputs[0]->dl.ndim > kMaxLoopDims ? "too many dimensions" : nullptr;
}

const char* support_copy(const ct_op& op) {
  if (op.num_inputs != 1 || op.num_outputs != 1) return "copy takes one input and one output";
  if (ty_of(op.inputs[0]->dl.dtype) == Ty::unknown || ty_of(op.outputs[0]->dl.dtype) == Ty::unknown)
    return "unsupported dtype";
  return check_shapes(op);
}

template <bool FloatOnly>
const char* support_unary(const ct_op& op) {
  if (op.num_inputs != 1 || op.num_outputs != 1) return "takes one input and one output";
  Ty t = ty_of(op.inputs[0]->dl.dtype);
  if (t == Ty::unknown || t == Ty::boolean) return "unsupported dtype";
  if (FloatOnly && !is_float(t)) return "needs a floating-point dtype";
  if (ty_of(op.outputs[0]->dl.dtype) != t) return "output dtype must equal the input's";
  return check_shapes(op);
}

template <bool FloatOnly>
const char* support_binary(const ct_op& op) {
  if (op.num_inputs != 2 || op.num_outputs != 1) return "takes two inputs and one output";
  Ty t = ty_of(op.inputs[0]->dl.dtype);
  if (t == Ty::unknown || t == Ty::boolean) return "unsupported dtype";
  if (FloatOnly && !is_float(t)) return "needs a floating-point dtype";
  if (ty_of(op.inputs[1]->dl.dtype) != t || ty_of(op.outputs[0]->dl.dtype) != t)
    return "inputs and output must share one dtype";
  return check_shapes(op);
}

const char* support_compare(const ct_op& op) {
  if (op.num_inputs != 2 || op.num_outputs != 1) return "takes two inputs and one output";
  Ty t = ty_of(op.inputs[0]->dl.dtype);
  if (t == Ty::unknown) return "unsupported dtype";
  if (ty_of(op.inputs[1]->dl.dtype) != t) return "inputs must share one dtype";
  if (ty_of(op.outputs[0]->dl.dtype) != Ty::boolean) return "output must be bool";
  return check_shapes(op);
}

const char* support_where(const ct_op& op) {
  if (op.num_inputs != 3 || op.num_outputs != 1) return "takes three inputs and one output";
  if (ty_of(op.inputs[0]->dl.dtype) != Ty::boolean) return "cond must be bool";
  Ty t = ty_of(op.inputs[1]->dl.dtype);
  if (t == Ty::unknown) return "unsupported dtype";
  if (ty_of(op.inputs[2]->dl.dtype) != t || ty_of(op.outputs[0]->dl.dtype) != t) return "a, b and out must share one dtype";
  return check_shapes(op);
}

}  // namespace

void add_elementwise_kernels(std::vector<KernelDef>& k) {
  k.push_back({"core.fill", 1, support_fill, run_fill});
  k.push_back({"core.copy", 1, support_copy, run_copy});
  k.push_back({"core.neg", 1, support_unary<false>, run_unary<Neg, false>});
  k.push_back({"core.abs", 1, support_unary<false>, run_unary<Abs, false>});
  k.push_back({"core.square", 1, support_unary<false>, run_unary<Square, false>});
  k.push_back({"core.relu", 1, support_unary<false>, run_unary<Relu, false>});
  k.push_back({"core.sqrt", 1, support_unary<true>, run_unary<Sqrt, true>});
  k.push_back({"core.exp", 1, support_unary<true>, run_unary<Exp, true>});
  k.push_back({"core.log", 1, support_unary<true>, run_unary<Log, true>});
  k.push_back({"core.sin", 1, support_unary<true>, run_unary<Sin, true>});
  k.push_back({"core.cos", 1, support_unary<true>, run_unary<Cos, true>});
  k.push_back({"core.tanh", 1, support_unary<true>, run_unary<Tanh, true>});
  k.push_back({"core.sigmoid", 1, support_unary<true>, run_unary<Sigmoid, true>});
  k.push_back({"core.add", 1, support_binary<false>, run_binary<Add, false>});
  k.push_back({"core.sub", 1, support_binary<false>, run_binary<Sub, false>});
  k.push_back({"core.mul", 1, support_binary<false>, run_binary<Mul, false>});
  k.push_back({"core.div", 1, support_binary<true>, run_binary<Div, true>});
  k.push_back({"core.maximum", 1, support_binary<false>, run_binary<Maximum, false>});
  k.push_back({"core.minimum", 1, support_binary<false>, run_binary<Minimum, false>});
  k.push_back({"core.pow", 1, support_binary<true>, run_binary<Pow, true>});
  k.push_back({"core.relu_grad", 1, support_binary<true>, run_binary<ReluGrad, true>});
  k.push_back({"core.equal", 1, support_compare, run_compare<Equal>});
  k.push_back({"core.not_equal", 1, support_compare, run_compare<NotEqual>});
  k.push_back({"core.less", 1, support_compare, run_compare<Less>});
  k.push_back({"core.less_equal", 1, support_compare, run_compare<LessEqual>});
  k.push_back({"core.greater", 1, support_compare, run_compare<Greater>});
  k.push_back({"core.greater_equal", 1, support_compare, run_compare<GreaterEqual>});
  k.push_back({"core.where", 1, support_where, run_where});
}

}  // namespace catena_cpu
