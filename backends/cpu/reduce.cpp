// Reductions: sum, mean, max, min over any set of axes, and argmax over one axis.
//
// Each output element accumulates its inputs in row-major order of the reduced index
// (floats in float64, integers in int64); a contiguous innermost run of a float sum is
// added in 8 interleaved lanes first (see sum_run). A full reduction of a large
// contiguous tensor sums fixed blocks of kBlock elements first and then the blocks in
// order. Neither order depends on the number of threads, so results are bit-for-bit
// reproducible on every run and every thread count.
#include "kernels.hpp"
#include "scalar.hpp"
#include "threadpool.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

namespace catena_cpu {

namespace {

constexpr int64_t kBlock = 65536;
enum class Red { sum, mean, max, min };

// The reduced sub-iteration, coalesced.
struct Sub {
  int ndim = 0;
  int64_t shape[16];
  int64_t stride[16];  // bytes
  int64_t count = 1;
};

template <class T, class F>
inline void walk(const Sub& sub, const char* base, const F& f) {
  if (sub.count == 0) return;
  if (sub.ndim == 0) {
    f(*reinterpret_cast<const T*>(base));
    return;
  }
  int64_t idx[16] = {};
  const int last = sub.ndim - 1;
  const int64_t n = sub.shape[last], s = sub.stride[last];
  const char* p = base;
  for (;;) {
    for (int64_t i = 0; i < n; ++i) f(*reinterpret_cast<const T*>(p + i * s));
    int d = last - 1;
    for (; d >= 0; --d) {
      p += sub.stride[d];
      if (++idx[d] < sub.shape[d]) break;
      p -= sub.stride[d] * sub.shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

struct Plan {
  Sub sub;
  int kept_ndim = 0;
  int64_t kept_shape[16];
  int64_t kept_in_stride[16];   // bytes, in x
  int64_t kept_out_stride[16];  // bytes, in y
  int64_t outputs = 1;
};

Plan make_plan(const ct_tensor* x, const ct_tensor* y, const std::vector<int64_t>& axes) {
  Plan P;
  int64_t xs = (x->dl.dtype.bits + 7) / 8, ys = (y->dl.dtype.bits + 7) / 8;
  for (int i = 0; i < x->dl.ndim; ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    int64_t n = x->dl.shape[i];
    if (reduced) {
      P.sub.count *= n;
      if (n == 1) continue;
      int j = P.sub.ndim;
      if (j > 0 && P.sub.stride[j - 1] == x->dl.strides[i] * xs * n) {
        P.sub.shape[j - 1] *= n;
        P.sub.stride[j - 1] = x->dl.strides[i] * xs;
      } else {
        P.sub.shape[j] = n;
        P.sub.stride[j] = x->dl.strides[i] * xs;
        ++P.sub.ndim;
      }
    } else {
      P.outputs *= n;
      int j = P.kept_ndim++;
      P.kept_shape[j] = n;
      P.kept_in_stride[j] = x->dl.strides[i] * xs;
      P.kept_out_stride[j] = y->dl.strides[i] * ys;
    }
  }
  return P;
}

// The sum of one contiguous run in 8 lanes (lane l takes elements l, l + 8, ...), then
// the lanes in order, then the tail: vectorisable, and fixed for a given run length.
template <class T, class Acc>
Acc sum_run(const T* p, int64_t n) {
  using CT = Compute<T>;
  Acc lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lane[l] += static_cast<Acc>(CT::load(p[i + l]));
  Acc s = 0;
  for (int l = 0; l < 8; ++l) s += lane[l];
  for (; i < n; ++i) s += static_cast<Acc>(CT::load(p[i]));
  return s;
}

// float32 runs are the common case (bias gradients): sum_run compiled for AVX-512 and
// AVX2 too. The lanes and their order are sum_run's, so the result does not depend on the
// clone that runs.
__attribute__((target_clones("avx512f", "avx2", "default"))) double sum_run_f32(const float* p, int64_t n) {
  return sum_run<float, double>(p, n);
}

template <class T, class Acc>
Acc run_sum(const T* p, int64_t n) {
  if constexpr (std::is_same_v<T, float> && std::is_same_v<Acc, double>)
    return sum_run_f32(p, n);
  else
    return sum_run<T, Acc>(p, n);
}

template <class T, class Acc>
Acc reduce_one(const Sub& sub, const char* base, Red red) {
  using CT = Compute<T>;
  if (red == Red::sum || red == Red::mean) {
    Acc acc = 0;
    const int last = sub.ndim - 1;
    if (std::is_floating_point_v<Acc> && sub.ndim > 0 && sub.stride[last] == int64_t(sizeof(T)) && sub.count > 0) {
      // Contiguous innermost runs: each summed by sum_run, the runs in row-major order.
      Sub outer = sub;
      const int64_t run = sub.shape[last];
      outer.ndim = last;
      outer.count = sub.count / run;
      if (outer.ndim == 0) return run_sum<T, Acc>(reinterpret_cast<const T*>(base), run);
      int64_t idx[16] = {};
      const char* p = base;
      for (;;) {
        acc += run_sum<T, Acc>(reinterpret_cast<const T*>(p), run);
        int d = outer.ndim - 1;
        for (; d >= 0; --d) {
          p += outer.stride[d];
          if (++idx[d] < outer.shape[d]) break;
          p -= outer.stride[d] * outer.shape[d];
          idx[d] = 0;
        }
        if (d < 0) return acc;
      }
    }
    walk<T>(sub, base, [&](T v) { acc += static_cast<Acc>(CT::load(v)); });
    return acc;
  }
  bool first = true, nan = false;
  Acc best = 0;
  walk<T>(sub, base, [&](T v) {
    Acc a = static_cast<Acc>(CT::load(v));
    if (a != a) nan = true;
    if (first || (red == Red::max ? a > best : a < best)) best = a;
    first = false;
  });
  return nan ? std::numeric_limits<Acc>::quiet_NaN() : best;
}

template <Red R>
void run_reduce(const ct_op& op) {
  const ct_tensor* x = op.inputs[0];
  const ct_tensor* y = op.outputs[0];
  std::vector<int64_t> axes = attr_ints(op, "axes");
  Plan P = make_plan(x, y, axes);
  const char* xb = base_of(x);
  char* yb = base_of(y);
  visit(ty_of(x->dl.dtype), [&](auto v) {
    using T = decltype(v);
    using CT = Compute<T>;
    using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
    auto finish = [&](Acc a) {
      if (R == Red::mean) return CT::store(static_cast<typename CT::type>(static_cast<double>(a) / P.sub.count));
      return CT::store(static_cast<typename CT::type>(a));
    };
    bool contiguous_full = P.kept_ndim == 0 && P.sub.ndim == 1 && P.sub.stride[0] == int64_t(sizeof(T)) &&
                           P.sub.count > 2 * kBlock && (R == Red::sum || R == Red::mean);
    if (contiguous_full) {
      int64_t blocks = (P.sub.count + kBlock - 1) / kBlock;
      std::vector<Acc> partial(blocks);
      parallel_for(blocks, 1, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          Sub s;
          s.ndim = 1;
          s.shape[0] = std::min(kBlock, P.sub.count - k * kBlock);
          s.stride[0] = sizeof(T);
          partial[k] = reduce_one<T, Acc>(s, xb + k * kBlock * sizeof(T), Red::sum);
        }
      });
      Acc total = 0;
      for (Acc p : partial) total += p;
      *reinterpret_cast<T*>(yb) = finish(total);
      return 0;
    }
    // Sums over leading axes of a dense array with dense outputs (a bias gradient): rows
    // are added one after another into float64 accumulators, vectorised across the
    // outputs — the same order as the general path, so the same bits.
    bool leading = (R == Red::sum || R == Red::mean) && std::is_floating_point_v<Acc> && P.kept_ndim == 1 &&
                   P.kept_in_stride[0] == int64_t(sizeof(T)) && P.kept_out_stride[0] == int64_t(sizeof(T)) &&
                   P.sub.ndim == 1 && P.sub.stride[0] == P.outputs * int64_t(sizeof(T)) && P.outputs >= 64;
    if (leading) {
      const int64_t K = P.outputs, rows = P.sub.count;
      const T* xs = reinterpret_cast<const T*>(xb);
      T* ys = reinterpret_cast<T*>(yb);
      parallel_for(K, 256, [&](int64_t k0, int64_t k1) {
        std::vector<Acc> acc(size_t(k1 - k0), Acc(0));
        for (int64_t r = 0; r < rows; ++r) {
          const T* row = xs + r * K + k0;
          for (int64_t k = 0; k < k1 - k0; ++k) acc[size_t(k)] += static_cast<Acc>(CT::load(row[k]));
        }
        for (int64_t k = k0; k < k1; ++k) ys[k] = finish(acc[size_t(k - k0)]);
      });
      return 0;
    }
    int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, P.sub.count));
    parallel_for(P.outputs, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const char* xp = xb;
        char* yp = yb;
        int64_t rem = o;
        for (int i = P.kept_ndim - 1; i >= 0; --i) {
          int64_t idx = rem % P.kept_shape[i];
          rem /= P.kept_shape[i];
          xp += idx * P.kept_in_stride[i];
          yp += idx * P.kept_out_stride[i];
        }
        *reinterpret_cast<T*>(yp) = finish(reduce_one<T, Acc>(P.sub, xp, R == Red::mean ? Red::sum : R));
      }
    });
    return 0;
  });
}

void run_argmax(const ct_op& op) {
  const ct_tensor* x = op.inputs[0];
  const ct_tensor* y = op.outputs[0];
  int64_t axis = attr_int(op, "axis", 0);
  Plan P = make_plan(x, y, {axis});
  const char* xb = base_of(x);
  char* yb = base_of(y);
  int64_t n = x->dl.shape[axis];
  int64_t stride = x->dl.strides[axis] * ((x->dl.dtype.bits + 7) / 8);
  visit(ty_of(x->dl.dtype), [&](auto v) {
    using T = decltype(v);
    using CT = Compute<T>;
    parallel_for(P.outputs, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const char* xp = xb;
        char* yp = yb;
        int64_t rem = o;
        for (int i = P.kept_ndim - 1; i >= 0; --i) {
          int64_t idx = rem % P.kept_shape[i];
          rem /= P.kept_shape[i];
          xp += idx * P.kept_in_stride[i];
          yp += idx * P.kept_out_stride[i];
        }
        int64_t best = 0;
        auto bv = CT::load(*reinterpret_cast<const T*>(xp));
        for (int64_t i = 1; i < n && bv == bv; ++i) {  // the first NaN wins, as in numpy
          auto c = CT::load(*reinterpret_cast<const T*>(xp + i * stride));
          if (c > bv || c != c) bv = c, best = i;
        }
        *reinterpret_cast<int64_t*>(yp) = best;
      }
    });
    return 0;
  });
}

const char* support_reduce(const ct_op& op) {
  if (op.num_inputs != 1 || op.num_outputs != 1) return "takes one input and one output";
  const ct_tensor* x = op.inputs[0];
  const ct_tensor* y = op.outputs[0];
  Ty t = ty_of(x->dl.dtype);
  if (t == Ty::unknown || t == Ty::boolean) return "unsupported dtype";
  if (ty_of(y->dl.dtype) != t) return "output dtype must equal the input's";
  if (x->dl.ndim != y->dl.ndim || x->dl.ndim > 16) return "output must have the input's rank";
  std::vector<int64_t> axes = attr_ints(op, "axes");
  for (int64_t a : axes)
    if (a < 0 || a >= x->dl.ndim) return "axis out of range";
  for (int i = 0; i < x->dl.ndim; ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (y->dl.shape[i] != (reduced ? 1 : x->dl.shape[i])) return "output extent must be 1 on reduced axes";
  }
  return nullptr;
}

const char* support_sum(const ct_op& op) {
  if (op.num_inputs == 1 && op.num_outputs == 1 && ty_of(op.inputs[0]->dl.dtype) == Ty::boolean)
    return "sum of bool: convert to int64 first";
  return support_reduce(op);
}

const char* support_float_reduce(const ct_op& op) {
  if (op.num_inputs == 1 && !is_float(ty_of(op.inputs[0]->dl.dtype))) return "needs a floating-point dtype";
  return support_reduce(op);
}

const char* support_argmax(const ct_op& op) {
  if (op.num_inputs != 1 || op.num_outputs != 1) return "takes one input and one output";
  const ct_tensor* x = op.inputs[0];
  const ct_tensor* y = op.outputs[0];
  Ty t = ty_of(x->dl.dtype);
  if (t == Ty::unknown || t == Ty::boolean) return "unsupported dtype";
  if (ty_of(y->dl.dtype) != Ty::i64) return "output must be int64";
  int64_t axis = attr_int(op, "axis", -1);
  if (axis < 0 || axis >= x->dl.ndim || x->dl.ndim != y->dl.ndim) return "axis out of range";
  if (x->dl.shape[axis] == 0) return "empty axis";
  for (int i = 0; i < x->dl.ndim; ++i)
    if (y->dl.shape[i] != (i == axis ? 1 : x->dl.shape[i])) return "output extent must be 1 on the axis";
  return nullptr;
}

}  // namespace

void add_reduce_kernels(std::vector<KernelDef>& k) {
  k.push_back({"core.sum", 1, support_sum, run_reduce<Red::sum>});
  k.push_back({"core.mean", 1, support_float_reduce, run_reduce<Red::mean>});
  k.push_back({"core.max", 1, support_reduce, run_reduce<Red::max>});
  k.push_back({"core.min", 1, support_reduce, run_reduce<Red::min>});
  k.push_back({"core.argmax", 1, support_argmax, run_argmax});
}

}  // namespace catena_cpu
