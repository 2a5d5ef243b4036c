// The op cases of the conformance kit, family by family, as api/OPS.md defines the ops.
#include "cases.hpp"

#include <cmath>
#include <cstdint>

namespace catena {
namespace conformance {

namespace {

const std::vector<Dtype> kFloats = {float32, float64, float16, bfloat16};
const std::vector<Dtype> kInts = {int8, int32, int64, uint8};

std::vector<Dtype> operator+(std::vector<Dtype> a, const std::vector<Dtype>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Per element, relative to 1 + |reference|: a few units in the last place of the dtype.
double tol_of(Dtype d) {
  if (d == float64) return 1e-10;
  if (d == float32) return 1e-5;
  if (d == float16) return 2e-3;
  if (d == bfloat16) return 1.6e-2;
  return 0;  // integers and bool: exact
}

// The value range an op's operands are drawn from, for dtype d.
struct Range {
  double lo, hi;
};
Range range_for(Dtype d, Range floats) {
  if (d == uint8) return {0, 100};
  if (d == int8) return {-10, 10};
  if (d.is_integer()) return {-50, 50};
  return floats;
}

std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string s;
  for (const Shape& sh : shapes) s += (s.empty() ? "" : "x") + sh.str();
  return s;
}

// Elementwise cases over the edge sizes: empty and one element (contiguous only), an odd
// shape (every layout), and a large one (float32, contiguous).
void elementwise(std::vector<OpCase>& out, const std::string& op, const std::vector<Dtype>& in_dtypes, Dtype out_dtype,
                 Range r, bool large, const std::string& label = "", bool whole = false) {
  std::vector<Shape> sizes = {Shape{0, 5}, Shape{1}, Shape{3, 5, 7}};
  if (large && in_dtypes[0] == float32 && (out_dtype == float32 || out_dtype == bool_)) sizes.push_back(Shape{1024, 1031});
  for (const Shape& s : sizes) {
    OpCase c;
    c.op = op;
    c.dtype = label.empty() ? in_dtypes[0].name() : label;
    c.what = s.str();
    std::vector<Range> ranges;
    for (Dtype d : in_dtypes) ranges.push_back(range_for(d, r));
    c.make = [s, in_dtypes, ranges, whole](uint32_t seed) {
      std::vector<Tensor> v;
      for (size_t i = 0; i < in_dtypes.size(); ++i)
        v.push_back(values(s, in_dtypes[i], seed + uint32_t(i), ranges[i].lo, ranges[i].hi, whole));
      return v;
    };
    c.outputs = {{s, out_dtype}};
    c.tol = std::max(tol_of(in_dtypes.back()), tol_of(out_dtype));
    c.layouts = s.ndim() == 3;
    out.push_back(c);
  }
}

void unary_ops(std::vector<OpCase>& out, bool large) {
  for (const char* op : {"core.neg", "core.abs", "core.square", "core.relu"})
    for (Dtype d : kFloats + kInts) elementwise(out, op, {d}, d, {-2, 2}, large);
  for (const char* op : {"core.exp", "core.sin", "core.cos", "core.tanh", "core.sigmoid"})
    for (Dtype d : kFloats) elementwise(out, op, {d}, d, {-3, 3}, large);
  for (const char* op : {"core.sqrt", "core.log"})
    for (Dtype d : kFloats) elementwise(out, op, {d}, d, {0.05, 4}, large);
}

void binary_ops(std::vector<OpCase>& out, bool large) {
  for (const char* op : {"core.add", "core.sub", "core.mul", "core.maximum", "core.minimum"})
    for (Dtype d : kFloats + kInts) elementwise(out, op, {d, d}, d, {-2, 2}, large);
  for (Dtype d : kFloats) {
    elementwise(out, "core.div", {d, d}, d, {0.25, 3}, large);
    elementwise(out, "core.pow", {d, d}, d, {0.25, 2}, large);
    elementwise(out, "core.relu_grad", {d, d}, d, {-2, 2}, large);
  }
  for (const char* op : {"core.equal", "core.not_equal", "core.less", "core.less_equal", "core.greater",
                         "core.greater_equal"})
    // Integer-valued floats, so that equal elements occur.
    for (Dtype d : kFloats + kInts + std::vector<Dtype>{bool_})
      elementwise(out, op, {d, d}, bool_, {-3, 3}, large, "", true);
  for (Dtype d : kFloats + kInts) elementwise(out, "core.where", {bool_, d, d}, d, {-2, 2}, large, d.name());
}

void movement_ops(std::vector<OpCase>& out, bool large) {
  const std::vector<Dtype> all = kFloats + kInts + std::vector<Dtype>{bool_};
  for (Dtype from : all)
    for (Dtype to : all)
      elementwise(out, "core.copy", {from}, to, {-120, 120}, large && from == to, from.name() + "->" + to.name());
  for (Dtype d : all) {
    for (double v : {-3.75, 0.0, 200.5}) {
      OpCase c;
      c.op = "core.fill";
      c.dtype = d.name();
      c.what = "(4, 6) value " + std::to_string(v).substr(0, 6);
      c.make = [](uint32_t) { return std::vector<Tensor>{}; };
      c.outputs = {{Shape{4, 6}, d}};
      c.attrs.f("value", v);
      c.layouts = false;
      out.push_back(c);
    }
  }
}

void reduction_ops(std::vector<OpCase>& out, bool large) {
  struct Variant {
    Shape in;
    std::vector<int64_t> axes;
  };
  std::vector<Variant> variants = {{Shape{4, 6, 5}, {1}}, {Shape{4, 6, 5}, {0, 2}}, {Shape{4, 6, 5}, {0, 1, 2}},
                                   {Shape{4, 6, 5}, {}}, {Shape{7}, {0}}, {Shape{3, 0, 5}, {1}}};
  for (const char* op : {"core.sum", "core.mean", "core.max", "core.min"}) {
    const bool floats_only = std::string(op) == "core.mean";
    const bool empty_ok = std::string(op) == "core.sum" || std::string(op) == "core.mean";
    for (Dtype d : floats_only ? kFloats : kFloats + kInts) {
      std::vector<Variant> vs = variants;
      if (large && d == float32) vs.push_back({Shape{1024, 1031}, {1}});
      for (const Variant& v : vs) {
        if (v.in.numel() == 0 && !empty_ok) continue;
        Shape y = v.in;
        for (int64_t a : v.axes) y[int(a)] = 1;
        OpCase c;
        c.op = op;
        c.dtype = d.name();
        std::string axes;
        for (int64_t a : v.axes) axes += (axes.empty() ? "" : ", ") + std::to_string(a);
        c.what = v.in.str() + " axes [" + axes + "]";
        const Range r = range_for(d, {-2, 2});
        const Shape in = v.in;
        c.make = [in, d, r](uint32_t seed) { return std::vector<Tensor>{values(in, d, seed, r.lo, r.hi)}; };
        c.outputs = {{y, d}};
        c.attrs.ints("axes", v.axes);
        // Summation order is the backend's: allow for the rounding of long sums.
        c.tol = tol_of(d) * (v.in.numel() > 10000 ? 100 : 10);
        c.layouts = v.in.numel() > 0 && v.in.numel() < 10000;
        out.push_back(c);
      }
    }
  }
  for (Dtype d : kFloats + kInts)
    for (int axis : {0, 1, 2}) {
      Shape y{4, 6, 5};
      y[axis] = 1;
      OpCase c;
      c.op = "core.argmax";
      c.dtype = d.name();
      c.what = "(4, 6, 5) axis " + std::to_string(axis);
      const Range r = d.is_integer() ? range_for(d, {}) : Range{-2, 2};
      c.make = [d, r](uint32_t seed) { return std::vector<Tensor>{values(Shape{4, 6, 5}, d, seed, r.lo, r.hi)}; };
      c.outputs = {{y, int64}};
      c.attrs.i("axis", axis);
      out.push_back(c);
    }
}

void gemm_ops(std::vector<OpCase>& out, bool large) {
  struct Variant {
    int64_t batch, m, k, n;
    bool ta, tb, with_c;
  };
  std::vector<Variant> variants;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) variants.push_back({0, 5, 7, 3, ta, tb, false});
  variants.push_back({0, 5, 7, 3, false, false, true});
  variants.push_back({0, 1, 1, 1, false, false, false});
  variants.push_back({0, 4, 0, 3, false, false, true});  // K = 0: beta C
  variants.push_back({3, 4, 6, 5, false, true, true});
  if (large) variants.push_back({0, 256, 512, 384, false, false, false});
  for (Dtype d : kFloats + std::vector<Dtype>{int32, int64}) {
    for (const Variant& v : variants) {
      if (v.m * v.n > 10000 && d != float32) continue;
      auto with_batch = [&](Shape s) {
        if (!v.batch) return s;
        Shape b{v.batch};
        for (int64_t e : s) b.push_back(e);
        return b;
      };
      const Shape a = with_batch(v.ta ? Shape{v.k, v.m} : Shape{v.m, v.k});
      const Shape b = with_batch(v.tb ? Shape{v.n, v.k} : Shape{v.k, v.n});
      const Shape y = with_batch(Shape{v.m, v.n});
      OpCase c;
      c.op = "core.gemm";
      c.dtype = d.name();
      c.what = shapes_text({a, b}) + (v.ta ? " trans_a" : "") + (v.tb ? " trans_b" : "") + (v.with_c ? " +C" : "");
      const Range r = range_for(d, {-1, 1});
      const bool with_c = v.with_c;
      c.make = [a, b, y, d, r, with_c](uint32_t seed) {
        std::vector<Tensor> in = {values(a, d, seed, r.lo, r.hi), values(b, d, seed + 1, r.lo, r.hi)};
        if (with_c) in.push_back(values(y, d, seed + 2, r.lo, r.hi));
        return in;
      };
      c.outputs = {{y, d}};
      c.attrs.b("trans_a", v.ta).b("trans_b", v.tb).f("alpha", d.is_integer() ? 2.0 : 1.5);
      if (v.with_c) c.attrs.f("beta", d.is_integer() ? 3.0 : 0.5);
      c.tol = tol_of(d) * std::max<double>(4, double(v.k));
      c.layouts = v.m * v.n <= 10000 && v.k > 0;
      out.push_back(c);
    }
  }
}

void indexing_ops(std::vector<OpCase>& out) {
  const Shape x{5, 4, 3};
  for (Dtype d : kFloats + kInts + std::vector<Dtype>{bool_})
    for (Dtype id : {int32, int64})
      for (int axis : {0, 1, 2}) {
        const int64_t n = x[axis];
        const Shape idx{2, 3};
        Shape y;
        for (int i = 0; i < axis; ++i) y.push_back(x[i]);
        for (int64_t e : idx) y.push_back(e);
        for (int i = axis + 1; i < 3; ++i) y.push_back(x[i]);
        const Range r = range_for(d, {-2, 2});
        OpCase take;
        take.op = "core.take";
        take.dtype = d.name() + "[" + id.name() + "]";
        take.what = x.str() + " axis " + std::to_string(axis) + " indices " + idx.str();
        take.make = [x, idx, d, id, r, n](uint32_t seed) {
          // Negative indices count from the end.
          return std::vector<Tensor>{values(x, d, seed, r.lo, r.hi), values(idx, id, seed + 1, double(-n), double(n))};
        };
        take.outputs = {{y, d}};
        take.attrs.i("axis", axis);
        out.push_back(take);
        if (d == bool_) continue;
        OpCase add = take;
        add.op = "core.take_add";
        add.make = [x, idx, y, d, id, r, n](uint32_t seed) {
          // Indices in [0, n): repeated ones accumulate.
          return std::vector<Tensor>{values(x, d, seed, r.lo, r.hi), values(idx, id, seed + 1, 0, double(n)),
                                     values(y, d, seed + 2, r.lo, r.hi)};
        };
        add.outputs = {{x, d}};
        add.tol = tol_of(d) * 4;
        out.push_back(add);
      }
}

void random_ops(std::vector<OpCase>& out, bool large) {
  std::vector<Shape> sizes = {Shape{0}, Shape{1}, Shape{3, 5, 7}};
  if (large) sizes.push_back(Shape{1024, 1031});
  for (const char* op : {"core.random_uniform", "core.random_normal"})
    for (Dtype d : kFloats)
      for (const Shape& s : sizes) {
        if (s.numel() > 10000 && d != float32) continue;
        OpCase c;
        c.op = op;
        c.dtype = d.name();
        c.what = s.str() + " seed 77 offset 5";
        c.make = [](uint32_t) { return std::vector<Tensor>{}; };
        c.outputs = {{s, d}};
        c.attrs.i("seed", 77).i("offset", 5);
        if (std::string(op) == "core.random_uniform") {
          c.attrs.f("low", -2).f("high", 3);
          c.tol = 0;  // bit for bit on every device
        } else {
          c.attrs.f("mean", 1).f("stddev", 2);
          c.tol = tol_of(d) * 10;  // up to the device's log, sqrt and cos
        }
        c.layouts = false;
        out.push_back(c);
      }
}

void conv_ops(std::vector<OpCase>& out) {
  struct Variant {
    Shape x;
    int64_t oc, kh, kw;
    ops::Conv2d g;
    bool bias;
  };
  auto geom = [](int64_t s, int64_t p, int64_t d, int64_t groups, bool cover_all) {
    ops::Conv2d g;
    g.sy = g.sx = s, g.ph = g.pw = p, g.dy = g.dx = d, g.groups = groups, g.cover_all = cover_all;
    return g;
  };
  std::vector<Variant> variants = {{Shape{2, 4, 7, 6}, 6, 3, 3, geom(1, 1, 1, 1, false), true},
                                   {Shape{2, 4, 7, 6}, 6, 3, 3, geom(1, 1, 1, 1, false), false},
                                   {Shape{2, 4, 9, 8}, 6, 3, 2, geom(2, 0, 2, 1, false), true},
                                   {Shape{1, 4, 7, 6}, 6, 3, 3, geom(2, 1, 1, 2, true), true},
                                   {Shape{1, 1, 1, 1}, 1, 1, 1, geom(1, 0, 1, 1, false), false}};
  for (Dtype d : kFloats)
    for (const Variant& v : variants) {
      const Shape w{v.oc, v.x[1] / v.g.groups, v.kh, v.kw};
      const Shape y{v.x[0], v.oc, v.g.out_h(v.x[2], v.kh), v.g.out_w(v.x[3], v.kw)};
      const std::string what = shapes_text({v.x, w}) + " stride " + std::to_string(v.g.sy) + " pad " +
                               std::to_string(v.g.ph) + " dilation " + std::to_string(v.g.dy) + " groups " +
                               std::to_string(v.g.groups) + (v.g.cover_all ? " cover_all" : "");
      const double tol = tol_of(d) * 20;
      OpCase f;
      f.op = "core.conv2d";
      f.dtype = d.name();
      f.what = what + (v.bias ? " +b" : "");
      const Shape xs = v.x;
      const bool bias = v.bias;
      const int64_t oc = v.oc;
      f.make = [xs, w, d, bias, oc](uint32_t seed) {
        std::vector<Tensor> in = {values(xs, d, seed, -1, 1), values(w, d, seed + 1, -1, 1)};
        if (bias) in.push_back(values(Shape{oc}, d, seed + 2, -1, 1));
        return in;
      };
      f.outputs = {{y, d}};
      f.attrs = v.g.attrs();
      f.tol = tol;
      out.push_back(f);
      if (bias) continue;
      OpCase gi = f;
      gi.op = "core.conv2d_grad_input";
      gi.make = [y, w, d](uint32_t seed) { return std::vector<Tensor>{values(y, d, seed, -1, 1), values(w, d, seed + 1, -1, 1)}; };
      gi.outputs = {{xs, d}};
      out.push_back(gi);
      OpCase gw = f;
      gw.op = "core.conv2d_grad_weight";
      gw.make = [xs, y, d](uint32_t seed) { return std::vector<Tensor>{values(xs, d, seed, -1, 1), values(y, d, seed + 1, -1, 1)}; };
      gw.outputs = {{w, d}};
      out.push_back(gw);
    }
}

void pool_ops(std::vector<OpCase>& out) {
  auto geom = [](int64_t k, int64_t s, int64_t p, bool cover_all) {
    ops::Pool2d g;
    g.kh = g.kw = k, g.sy = g.sx = s, g.ph = g.pw = p, g.cover_all = cover_all;
    return g;
  };
  const std::vector<std::pair<Shape, ops::Pool2d>> variants = {{Shape{2, 3, 7, 6}, geom(3, 2, 1, false)},
                                                               {Shape{2, 3, 7, 6}, geom(3, 2, 1, true)},
                                                               {Shape{1, 2, 4, 4}, geom(2, 2, 0, false)},
                                                               {Shape{1, 1, 1, 1}, geom(1, 1, 0, false)}};
  for (Dtype d : kFloats)
    for (const auto& [x, g] : variants) {
      const Shape y{x[0], x[1], g.out_h(x[2]), g.out_w(x[3])};
      const std::string what = x.str() + " ksize " + std::to_string(g.kh) + " stride " + std::to_string(g.sy) +
                               " pad " + std::to_string(g.ph) + (g.cover_all ? " cover_all" : "");
      const ops::Pool2d pg = g;
      const Shape xs = x;
      auto base = [&](const char* op, std::function<std::vector<Tensor>(uint32_t)> make,
                      std::vector<std::pair<Shape, Dtype>> outs) {
        OpCase c;
        c.op = op;
        c.dtype = d.name();
        c.what = what;
        c.make = std::move(make);
        c.outputs = std::move(outs);
        c.attrs = pg.attrs();
        c.tol = tol_of(d) * 10;
        out.push_back(c);
      };
      // The recorded positions come from the cpu's own max pooling of the same values.
      auto indexes = [xs, pg, d](uint32_t seed) { return ops::max_pool2d(values(xs, d, seed + 7, -1, 1), pg).second; };
      base("core.max_pool2d", [xs, d](uint32_t seed) { return std::vector<Tensor>{values(xs, d, seed, -1, 1)}; },
           {{y, d}, {y, int32}});
      base("core.max_pool2d_grad",
           [y, d, indexes](uint32_t seed) { return std::vector<Tensor>{values(y, d, seed, -1, 1), indexes(seed)}; },
           {{xs, d}});
      base("core.max_pool2d_gather",
           [xs, d, indexes](uint32_t seed) { return std::vector<Tensor>{values(xs, d, seed, -1, 1), indexes(seed)}; },
           {{y, d}});
      base("core.avg_pool2d", [xs, d](uint32_t seed) { return std::vector<Tensor>{values(xs, d, seed, -1, 1)}; },
           {{y, d}});
      base("core.avg_pool2d_grad", [y, d](uint32_t seed) { return std::vector<Tensor>{values(y, d, seed, -1, 1)}; },
           {{xs, d}});
    }
}

void optimizer_ops(std::vector<OpCase>& out, bool large) {
  struct Update {
    const char* op;
    int state;  // outputs after the parameter
    Attrs attrs;
    std::string label = "";
  };
  const std::vector<Update> updates = {
      {"optim.sgd", 0, Attrs().f("lr", 0.1)},
      {"optim.momentum_sgd", 1, Attrs().f("lr", 0.1).f("momentum", 0.9)},
      {"optim.nesterov_ag", 1, Attrs().f("lr", 0.1).f("momentum", 0.9)},
      {"optim.adagrad", 1, Attrs().f("lr", 0.1).f("eps", 1e-8)},
      {"optim.rmsprop", 1, Attrs().f("lr", 0.1).f("alpha", 0.99).f("eps", 1e-8).b("eps_inside_sqrt", false)},
      {"optim.rmsprop", 1, Attrs().f("lr", 0.1).f("alpha", 0.99).f("eps", 1e-8).b("eps_inside_sqrt", true), " eps_inside_sqrt"},
      {"optim.adadelta", 2, Attrs().f("rho", 0.95).f("eps", 1e-6)},
      {"optim.adam", 2,
       Attrs().f("lr", 0.01).f("beta1", 0.9).f("beta2", 0.999).f("eps", 1e-8).f("eta", 1).f("weight_decay_rate", 0.01)},
      {"optim.adam", 3,
       Attrs().f("lr", 0.01).f("beta1", 0.9).f("beta2", 0.999).f("eps", 1e-8).f("eta", 1).f("weight_decay_rate", 0).b(
           "amsgrad", true),
       " amsgrad"},
  };
  std::vector<Shape> sizes = {Shape{0}, Shape{1}, Shape{3, 5, 7}};
  if (large) sizes.push_back(Shape{1024, 1031});
  for (const Update& u : updates)
    for (Dtype d : {float32, float64})
      for (const Shape& s : sizes) {
        if (s.numel() > 10000 && d != float32) continue;
        OpCase c;
        c.op = u.op;
        c.dtype = d.name();
        c.what = s.str() + u.label;
        c.make = [s, d](uint32_t seed) { return std::vector<Tensor>{values(s, d, seed, -1, 1)}; };
        const int n = 1 + u.state;
        c.preset = [s, d, n](uint32_t seed) {
          // The parameter any sign; the state positive (squared averages).
          std::vector<Tensor> v = {values(s, d, seed + 10, -1, 1)};
          for (int i = 1; i < n; ++i) v.push_back(values(s, d, seed + 10 + uint32_t(i), 0.01, 1));
          return v;
        };
        for (int i = 0; i < n; ++i) c.outputs.push_back({s, d});
        c.attrs = u.attrs;
        c.tol = tol_of(d) * 10;
        c.layouts = s.ndim() == 3;
        out.push_back(c);
      }
}

// The int8 ops: quantize and dequantize over every layout (inputs that round to ties,
// saturate, and NaN), and the int8 product exact (int32) and scaled, from tiny to the
// layers of an MLP at batch 1 and 100.
void int8_ops(std::vector<OpCase>& out, bool large) {
  for (Dtype from : kFloats)
    for (Dtype to : {int8, uint8})
      for (const Shape& s : {Shape{0, 4}, Shape{1}, Shape{3, 5, 7}}) {
        OpCase c;
        c.op = "core.quantize";
        c.dtype = from.name() + "->" + to.name();
        c.what = s.str() + (to == uint8 ? " zero_point 128" : "");
        c.make = [s, from](uint32_t seed) {
          // Halves (ties), values beyond the range and a NaN.
          Tensor x = values(s, from, seed, -300, 300, true);
          if (s.numel() > 2) {
            std::vector<double> v = x.astype(float64).to_vector<double>();
            v[0] = std::nan(""), v[1] = 2.5, v[2] = -3.5;
            x = Tensor::from_vector(v, s, runtime().cpu()).astype(from);
          }
          // inv_scale in {0, 0.5, 1, 1.5}: ties at every odd x times 0.5, and 0 (NaN times 0).
          std::vector<double> inv = values(s, float64, seed + 1, 0, 4, true).to_vector<double>();
          for (double& e : inv) e *= 0.5;
          if (s.numel() > 2) inv[1] = inv[2] = 1;
          return std::vector<Tensor>{x, Tensor::from_vector(inv, s, runtime().cpu()).astype(float32)};
        };
        c.outputs = {{s, to}};
        if (to == uint8) c.attrs.i("zero_point", 128);
        c.layouts = s.ndim() == 3;
        out.push_back(c);
      }
  for (Dtype from : {int8, uint8, int32})
    for (Dtype to : kFloats) {
      const Shape s{3, 5, 7};
      OpCase c;
      c.op = "core.dequantize";
      c.dtype = from.name() + "->" + to.name();
      c.what = s.str() + " zero_point 3";
      c.make = [s, from](uint32_t seed) {
        const Range r = range_for(from, {});
        return std::vector<Tensor>{values(s, from, seed, from == int8 ? -128 : r.lo, from == int8 ? 128 : r.hi),
                                   values(s, float32, seed + 1, 0.001, 0.1)};
      };
      c.outputs = {{s, to}};
      c.attrs.i("zero_point", 3);
      c.tol = tol_of(to);
      out.push_back(c);
    }
  struct Variant {
    int64_t m, k, n;
    bool scaled, bias;
  };
  std::vector<Variant> variants = {{1, 1, 1, false, false}, {5, 7, 3, false, false}, {4, 0, 3, false, false},
                                   {9, 130, 6, false, false}, {5, 7, 3, true, false},  {9, 130, 6, true, true},
                                   {3, 64, 5, true, true}};
  if (large) {
    variants.push_back({1, 784, 1000, true, true});
    variants.push_back({100, 784, 1000, false, false});
    variants.push_back({100, 1000, 10, true, true});
  }
  for (const Variant& v : variants) {
    OpCase c;
    c.op = "core.gemm_i8";
    c.dtype = v.scaled ? "int8->float32" : "int8->int32";
    c.what = shapes_text({Shape{v.m, v.k}, Shape{v.n, v.k}}) + (v.scaled ? " scaled" : "") + (v.bias ? " +bias" : "");
    const Variant w = v;
    c.make = [w](uint32_t seed) {
      // The whole int8 range, -128 included.
      std::vector<Tensor> in = {values(Shape{w.m, w.k}, int8, seed, -128, 128),
                                values(Shape{w.n, w.k}, int8, seed + 1, -128, 128)};
      if (w.scaled) {
        in.push_back(values(Shape{w.m}, float32, seed + 2, 1e-3, 1e-2));
        in.push_back(values(Shape{w.n}, float32, seed + 3, 1e-3, 1e-2));
      }
      if (w.bias) in.push_back(values(Shape{w.n}, float32, seed + 4, -1, 1));
      return in;
    };
    c.outputs = {{Shape{v.m, v.n}, v.scaled ? float32 : int32}};
    c.tol = v.scaled ? 1e-6 : 0;  // the integers exact; float32 products to the last bits
    c.layouts = v.m * v.n <= 10000;
    out.push_back(c);
  }
}

}  // namespace

Tensor values(const Shape& shape, Dtype dtype, uint32_t seed, double lo, double hi, bool whole) {
  std::vector<double> v(static_cast<size_t>(shape.numel()));
  uint64_t state = 0x9E3779B97F4A7C15ull ^ (uint64_t(seed) * 0xBF58476D1CE4E5B9ull);
  for (double& x : v) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const double u = double(state >> 11) * (1.0 / 9007199254740992.0);
    x = lo + (hi - lo) * u;
    if (dtype.is_integer() || whole) x = std::floor(x);
    if (dtype.is_bool()) x = u < 0.5 ? 0 : 1;
  }
  return Tensor::from_vector(v, shape, runtime().cpu()).astype(dtype);
}

std::vector<OpCase> op_cases(bool large) {
  std::vector<OpCase> c;
  movement_ops(c, large);
  unary_ops(c, large);
  binary_ops(c, large);
  reduction_ops(c, large);
  gemm_ops(c, large);
  indexing_ops(c);
  random_ops(c, large);
  conv_ops(c);
  pool_ops(c);
  optimizer_ops(c, large);
  int8_ops(c, large);
  return c;
}

}  // namespace conformance
}  // namespace catena
