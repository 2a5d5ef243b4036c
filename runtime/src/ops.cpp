// The array-op front end: shape and dtype rules, argument checks, output allocation.
#include "internal.hpp"

#include <catena/ops.hpp>

#include <algorithm>

namespace catena {

Attrs::Attrs(const Attrs& other) : Attrs(other.data(), other.size()) {}

Attrs& Attrs::operator=(const Attrs& other) {
  if (this != &other) *this = Attrs(other);
  return *this;
}

Attrs::Attrs(const ct_attr* attrs, int count) {
  for (int k = 0; k < count; ++k) {
    ct_attr a = attrs[k];
    a.name = intern(a.name);  // the copy must not depend on the caller's strings
    switch (a.type) {
      case CT_ATTR_STRING: s(a.name, a.v.s); break;
      case CT_ATTR_INTS: ints(a.name, std::vector<int64_t>(a.v.ints, a.v.ints + a.count)); break;
      case CT_ATTR_FLOATS:
        throw Error(CT_UNIMPLEMENTED, std::string("attribute '") + a.name + "': FLOATS lists are not supported yet");
      default: attrs_.push_back(a); break;
    }
  }
}

Attrs& Attrs::i(const char* name, int64_t v) {
  ct_attr a{name, CT_ATTR_INT, 1, {}};
  a.v.i = v;
  attrs_.push_back(a);
  return *this;
}

Attrs& Attrs::f(const char* name, double v) {
  ct_attr a{name, CT_ATTR_FLOAT, 1, {}};
  a.v.f = v;
  attrs_.push_back(a);
  return *this;
}

Attrs& Attrs::b(const char* name, bool v) {
  ct_attr a{name, CT_ATTR_BOOL, 1, {}};
  a.v.i = v ? 1 : 0;
  attrs_.push_back(a);
  return *this;
}

Attrs& Attrs::s(const char* name, const std::string& v) {
  strings_.push_back(std::make_unique<std::string>(v));
  ct_attr a{name, CT_ATTR_STRING, 1, {}};
  a.v.s = strings_.back()->c_str();
  attrs_.push_back(a);
  return *this;
}

Attrs& Attrs::ints(const char* name, const std::vector<int64_t>& v) {
  int_arrays_.push_back(std::make_unique<std::vector<int64_t>>(v));
  ct_attr a{name, CT_ATTR_INTS, static_cast<int32_t>(v.size()), {}};
  a.v.ints = int_arrays_.back()->data();
  attrs_.push_back(a);
  return *this;
}

Attrs& Attrs::dtype(const char* name, Dtype v) {
  ct_attr a{name, CT_ATTR_DTYPE, 1, {}};
  a.v.dtype = v.raw;
  attrs_.push_back(a);
  return *this;
}

int normalize_axis(const std::string& fn, int axis, int ndim) {
  if (axis < -ndim || axis >= ndim)
    throw Error(CT_OUT_OF_RANGE, fn + ": axis " + std::to_string(axis) + " is out of range for an array of " +
                                     std::to_string(ndim) + " dimensions");
  return axis < 0 ? axis + ndim : axis;
}

std::vector<int> normalize_axes(const std::string& fn, const std::vector<int>& axes, int ndim) {
  std::vector<int> out;
  if (axes.empty()) {
    for (int i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int a : axes) {
    int n = normalize_axis(fn, a, ndim);
    if (std::find(out.begin(), out.end(), n) != out.end())
      throw Error(CT_INVALID_ARGUMENT, fn + ": axis " + std::to_string(a) + " is repeated");
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace ops {

namespace {

void require_defined(const char* fn, const Tensor& t, const char* arg) {
  if (!t.defined()) throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": " + arg + " is an undefined tensor");
}

void require_float(const char* fn, const Tensor& t) {
  if (!t.dtype().is_float())
    throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": expected a floating-point tensor, got " + t.dtype().name() +
                                         "; convert it with astype(float32)");
}

Tensor reduce(const char* fn, const char* op, const Tensor& x, const std::vector<int>& axes_in, bool keepdims,
              Dtype out_dtype) {
  require_defined(fn, x, "x");
  std::vector<int> axes = normalize_axes(fn, axes_in, x.ndim());
  Shape kept = x.shape();
  std::vector<int64_t> ax;
  for (int a : axes) {
    if (x.shape()[a] == 0 && std::string(op) != "core.sum")
      throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": cannot reduce over the empty axis " + std::to_string(a) +
                                           " of " + x.shape().str());
    kept[a] = 1;
    ax.push_back(a);
  }
  Tensor out = Tensor::empty(kept, out_dtype, x.device());
  dispatch_op(intern(op), {&x}, {&out}, Attrs().ints("axes", ax));
  if (keepdims) return out;
  Shape s;
  for (int i = 0; i < x.ndim(); ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) s.push_back(x.shape()[i]);
  return out.reshape(s);
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  int n = std::max(a.ndim(), b.ndim());
  Shape out;
  for (int i = 0; i < n; ++i) {
    int ia = i - (n - a.ndim()), ib = i - (n - b.ndim());
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw Error(CT_INVALID_ARGUMENT, "cannot broadcast shapes " + a.str() + " and " + b.str());
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

void fill(const Tensor& out, double value) {
  require_defined("fill", out, "out");
  static const char* name = intern("core.fill");
  dispatch_op(name, {}, {&out}, Attrs().f("value", value));
}

void copy(const Tensor& dst, const Tensor& src) {
  require_defined("copy", dst, "dst");
  require_defined("copy", src, "src");
  static const char* name = intern("core.copy");
  Tensor s = src.shape() == dst.shape() ? src : src.broadcast_to(dst.shape());
  if (&s.device() != &dst.device()) s = s.to(dst.device());
  dispatch_op(name, {&s}, {&dst});
}

Tensor unary(const char* op, const Tensor& x) {
  require_defined(op, x, "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_op(intern(op), {&x}, {&y});
  return y;
}

#define CATENA_FLOAT_UNARY(fn)                 \
  Tensor fn(const Tensor& x) {                 \
    require_defined(#fn, x, "x");              \
    require_float(#fn, x);                     \
    return unary("core." #fn, x);              \
  }
CATENA_FLOAT_UNARY(sqrt)
CATENA_FLOAT_UNARY(exp)
CATENA_FLOAT_UNARY(log)
CATENA_FLOAT_UNARY(sin)
CATENA_FLOAT_UNARY(cos)
CATENA_FLOAT_UNARY(tanh)
CATENA_FLOAT_UNARY(sigmoid)
#undef CATENA_FLOAT_UNARY

Tensor neg(const Tensor& x) { return unary("core.neg", x); }
Tensor abs(const Tensor& x) { return unary("core.abs", x); }
Tensor square(const Tensor& x) { return unary("core.square", x); }
Tensor relu(const Tensor& x) { return unary("core.relu", x); }

namespace {

// Check and broadcast two operands; returns the output shape.
Shape prepare_binary(const char* op, const Tensor& a, const Tensor& b, Tensor* ab, Tensor* bb) {
  require_defined(op, a, "a");
  require_defined(op, b, "b");
  if (a.dtype() != b.dtype())
    throw Error(CT_INVALID_ARGUMENT, std::string(op) + ": operands have different dtypes (" + a.dtype().name() + " and " +
                                         b.dtype().name() + "); convert one with astype()");
  if (&a.device() != &b.device())
    throw Error(CT_INVALID_ARGUMENT, std::string(op) + ": operands are on different devices (" + a.device().name() +
                                         " and " + b.device().name() + "); move one with .to(device)");
  if (a.shape() == b.shape()) {  // the common case: nothing to broadcast
    *ab = a;
    *bb = b;
    return a.shape();
  }
  Shape s;
  try {
    s = broadcast_shapes(a.shape(), b.shape());
  } catch (const Error& e) {
    throw Error(CT_INVALID_ARGUMENT, std::string(op) + ": " + e.what());
  }
  *ab = a.shape() == s ? a : a.broadcast_to(s);
  *bb = b.shape() == s ? b : b.broadcast_to(s);
  return s;
}

}  // namespace

namespace {
Tensor binary_interned(const char* op, const Tensor& a, const Tensor& b) {
  if (a.defined() && b.defined() && a.dtype() == b.dtype() && &a.device() == &b.device() && a.shape() == b.shape()) {
    Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());  // the common case: no broadcasting, no copies
    const Tensor* in[2] = {&a, &b};
    const Tensor* out[1] = {&y};
    dispatch(op, 1, in, 2, out, 1, nullptr, 0);
    return y;
  }
  Tensor ab, bb;
  Shape s = prepare_binary(op, a, b, &ab, &bb);
  Tensor y = Tensor::empty(s, a.dtype(), a.device());
  dispatch_op(op, {&ab, &bb}, {&y});
  return y;
}
}  // namespace

Tensor binary(const char* op, const Tensor& a, const Tensor& b) { return binary_interned(intern(op), a, b); }

namespace {
// Interned once: the hot paths skip the intern table.
const char* const k_add = intern("core.add");
const char* const k_sub = intern("core.sub");
const char* const k_mul = intern("core.mul");
const char* const k_div = intern("core.div");
const char* const k_maximum = intern("core.maximum");
const char* const k_minimum = intern("core.minimum");
const char* const k_pow = intern("core.pow");
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary_interned(k_add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_interned(k_sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_interned(k_mul, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary_interned(k_maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary_interned(k_minimum, a, b); }
Tensor div(const Tensor& a, const Tensor& b) {
  require_defined("div", a, "a");
  require_float("div", a);
  return binary_interned(k_div, a, b);
}
Tensor pow(const Tensor& a, const Tensor& b) {
  require_defined("pow", a, "a");
  require_float("pow", a);
  return binary_interned(k_pow, a, b);
}

Tensor compare(const char* op, const Tensor& a, const Tensor& b) {
  Tensor ab, bb;
  Shape s = prepare_binary(op, a, b, &ab, &bb);
  Tensor y = Tensor::empty(s, bool_, a.device());
  dispatch_op(intern(op), {&ab, &bb}, {&y});
  return y;
}

Tensor equal(const Tensor& a, const Tensor& b) { return compare("core.equal", a, b); }
Tensor less(const Tensor& a, const Tensor& b) { return compare("core.less", a, b); }
Tensor greater(const Tensor& a, const Tensor& b) { return compare("core.greater", a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  require_defined("where", cond, "cond");
  if (!cond.dtype().is_bool())
    throw Error(CT_INVALID_ARGUMENT, "where: cond must be bool, got " + cond.dtype().name());
  Tensor ab, bb;
  Shape s = prepare_binary("where", a, b, &ab, &bb);
  s = broadcast_shapes(s, cond.shape());
  Tensor c = cond.broadcast_to(s);
  ab = ab.broadcast_to(s);
  bb = bb.broadcast_to(s);
  Tensor y = Tensor::empty(s, a.dtype(), a.device());
  static const char* name = intern("core.where");
  dispatch_op(name, {&c, &ab, &bb}, {&y});
  return y;
}

Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return reduce("sum", "core.sum", x, axes, keepdims, x.dtype().is_bool() ? int64 : x.dtype());
}
Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  require_defined("mean", x, "x");
  require_float("mean", x);
  return reduce("mean", "core.mean", x, axes, keepdims, x.dtype());
}
Tensor max(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return reduce("max", "core.max", x, axes, keepdims, x.dtype());
}
Tensor min(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  return reduce("min", "core.min", x, axes, keepdims, x.dtype());
}

Tensor argmax(const Tensor& x, int axis, bool keepdims) {
  require_defined("argmax", x, "x");
  std::vector<int> axes = normalize_axes("argmax", {axis}, x.ndim());
  if (x.shape()[axes[0]] == 0) throw Error(CT_INVALID_ARGUMENT, "argmax: the axis is empty in " + x.shape().str());
  Shape kept = x.shape();
  kept[axes[0]] = 1;
  Tensor out = Tensor::empty(kept, int64, x.device());
  static const char* name = intern("core.argmax");
  dispatch_op(name, {&x}, {&out}, Attrs().i("axis", axes[0]));
  return keepdims ? out : out.squeeze(axes[0]);
}

Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha) {
  return gemm(a, b, Tensor(), trans_a, trans_b, alpha, 0.0);
}

Tensor gemm(const Tensor& a, const Tensor& b, const Tensor& c, bool trans_a, bool trans_b, double alpha, double beta) {
  require_defined("gemm", a, "a");
  require_defined("gemm", b, "b");
  if (a.dtype() != b.dtype())
    throw Error(CT_INVALID_ARGUMENT, "gemm: a is " + a.dtype().name() + " but b is " + b.dtype().name());
  if (a.ndim() != b.ndim() || a.ndim() < 2 || a.ndim() > 3)
    throw Error(CT_INVALID_ARGUMENT, "gemm: a " + a.shape().str() + " and b " + b.shape().str() +
                                         " must both have rank 2, or both rank 3 (batched)");
  int r = a.ndim();
  int64_t m = trans_a ? a.shape()[r - 1] : a.shape()[r - 2];
  int64_t ka = trans_a ? a.shape()[r - 2] : a.shape()[r - 1];
  int64_t kb = trans_b ? b.shape()[r - 1] : b.shape()[r - 2];
  int64_t n = trans_b ? b.shape()[r - 2] : b.shape()[r - 1];
  if (ka != kb)
    throw Error(CT_INVALID_ARGUMENT, "gemm: a" + std::string(trans_a ? "ᵀ" : "") + " " + a.shape().str() + " has " +
                                         std::to_string(ka) + " columns but b" + (trans_b ? "ᵀ" : "") + " " +
                                         b.shape().str() + " has " + std::to_string(kb) + " rows");
  Shape ys;
  Tensor ab = a, bb = b;
  if (r == 3) {
    int64_t batch = std::max(a.shape()[0], b.shape()[0]);
    if ((a.shape()[0] != batch && a.shape()[0] != 1) || (b.shape()[0] != batch && b.shape()[0] != 1))
      throw Error(CT_INVALID_ARGUMENT, "gemm: batch sizes " + std::to_string(a.shape()[0]) + " and " +
                                           std::to_string(b.shape()[0]) + " do not broadcast");
    ab = a.broadcast_to(Shape{batch, a.shape()[1], a.shape()[2]});
    bb = b.broadcast_to(Shape{batch, b.shape()[1], b.shape()[2]});
    ys = Shape{batch, m, n};
  } else {
    ys = Shape{m, n};
  }
  Tensor y = Tensor::empty(ys, a.dtype(), a.device());
  Attrs attrs;
  attrs.b("trans_a", trans_a).b("trans_b", trans_b).f("alpha", alpha).f("beta", beta);
  static const char* name = intern("core.gemm");
  if (c.defined() && beta != 0.0) {
    if (c.dtype() != a.dtype()) throw Error(CT_INVALID_ARGUMENT, "gemm: c is " + c.dtype().name() + ", not " + a.dtype().name());
    Tensor cb;
    try {
      cb = c.broadcast_to(ys);
    } catch (const Error&) {
      throw Error(CT_INVALID_ARGUMENT, "gemm: c " + c.shape().str() + " does not broadcast to the result " + ys.str());
    }
    dispatch_op(name, {&ab, &bb, &cb}, {&y}, attrs);
  } else {
    dispatch_op(name, {&ab, &bb}, {&y}, attrs);
  }
  return y;
}

Tensor matmul(const Tensor& a, const Tensor& b) { return gemm(a, b); }

}  // namespace ops
}  // namespace catena

namespace catena {
namespace ops {

namespace {

void require_index(const char* fn, const Tensor& idx) {
  if (!idx.defined()) throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": indices are undefined");
  if (idx.dtype() != int32 && idx.dtype() != int64)
    throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": indices must be int32 or int64, got " + idx.dtype().name());
}


Shape take_shape(const Shape& x, const Shape& idx, int axis) {
  Shape s;
  for (int i = 0; i < axis; ++i) s.push_back(x[i]);
  for (int i = 0; i < idx.ndim(); ++i) s.push_back(idx[i]);
  for (int i = axis + 1; i < x.ndim(); ++i) s.push_back(x[i]);
  return s;
}

void require_4d(const char* fn, const Tensor& t, const char* what) {
  if (!t.defined() || t.ndim() != 4)
    throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": " + what + " must be 4-D (N, C, H, W), got " +
                                         (t.defined() ? t.shape().str() : std::string("undefined")));
}

}  // namespace

Tensor take(const Tensor& x, const Tensor& indices, int axis) {
  require_index("take", indices);
  int a = normalize_axis("take", axis, x.ndim());
  Tensor y = Tensor::empty(take_shape(x.shape(), indices.shape(), a), x.dtype(), x.device());
  static const char* name = intern("core.take");
  dispatch_op(name, {&x, &indices}, {&y}, Attrs().i("axis", a));
  return y;
}

Tensor take_add(const Tensor& base, const Tensor& indices, const Tensor& updates, int axis) {
  require_index("take_add", indices);
  int a = normalize_axis("take_add", axis, base.ndim());
  if (updates.shape() != take_shape(base.shape(), indices.shape(), a))
    throw Error(CT_INVALID_ARGUMENT, "take_add: updates " + updates.shape().str() + " must have shape " +
                                         take_shape(base.shape(), indices.shape(), a).str());
  Tensor y = Tensor::empty(base.shape(), base.dtype(), base.device());
  static const char* name = intern("core.take_add");
  dispatch_op(name, {&base, &indices, &updates}, {&y}, Attrs().i("axis", a));
  return y;
}

Tensor random_uniform(const Shape& shape, Dtype dtype, Device& device, uint64_t seed, uint64_t offset, double low,
                      double high) {
  Tensor y = Tensor::empty(shape, dtype, device);
  static const char* name = intern("core.random_uniform");
  dispatch_op(name, {}, {&y},
              Attrs().i("seed", static_cast<int64_t>(seed)).i("offset", static_cast<int64_t>(offset)).f("low", low).f("high", high));
  return y;
}

Tensor random_normal(const Shape& shape, Dtype dtype, Device& device, uint64_t seed, uint64_t offset, double mean,
                     double stddev) {
  Tensor y = Tensor::empty(shape, dtype, device);
  static const char* name = intern("core.random_normal");
  dispatch_op(name, {}, {&y},
              Attrs().i("seed", static_cast<int64_t>(seed)).i("offset", static_cast<int64_t>(offset)).f("mean", mean).f("stddev", stddev));
  return y;
}

int64_t Conv2d::out_h(int64_t h, int64_t kh) const {
  int64_t dk = dy * (kh - 1) + 1;
  return cover_all ? (h + 2 * ph - dk + sy - 1) / sy + 1 : (h + 2 * ph - dk) / sy + 1;
}
int64_t Conv2d::out_w(int64_t w, int64_t kw) const {
  int64_t dk = dx * (kw - 1) + 1;
  return cover_all ? (w + 2 * pw - dk + sx - 1) / sx + 1 : (w + 2 * pw - dk) / sx + 1;
}
Attrs Conv2d::attrs() const {
  Attrs a;
  a.ints("stride", {sy, sx}).ints("pad", {ph, pw}).ints("dilation", {dy, dx}).i("groups", groups).b("cover_all", cover_all);
  return a;
}

Tensor conv2d(const Tensor& x, const Tensor& W, const Tensor& b, const Conv2d& g) {
  require_4d("convolution_2d", x, "x");
  require_4d("convolution_2d", W, "W");
  int64_t oh = g.out_h(x.shape()[2], W.shape()[2]), ow = g.out_w(x.shape()[3], W.shape()[3]);
  if (oh <= 0 || ow <= 0)
    throw Error(CT_INVALID_ARGUMENT, "convolution_2d: the filter " + W.shape().str() + " does not fit the input " +
                                         x.shape().str() + " with this stride, pad and dilation");
  Tensor y = Tensor::empty(Shape{x.shape()[0], W.shape()[0], oh, ow}, x.dtype(), x.device());
  static const char* name = intern("core.conv2d");
  if (b.defined()) dispatch_op(name, {&x, &W, &b}, {&y}, g.attrs());
  else dispatch_op(name, {&x, &W}, {&y}, g.attrs());
  return y;
}

Tensor conv2d_grad_input(const Tensor& gy, const Tensor& W, const Shape& x_shape, const Conv2d& g) {
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), gy.device());
  static const char* name = intern("core.conv2d_grad_input");
  dispatch_op(name, {&gy, &W}, {&gx}, g.attrs());
  return gx;
}

Tensor conv2d_grad_weight(const Tensor& x, const Tensor& gy, const Shape& w_shape, const Conv2d& g) {
  Tensor gw = Tensor::empty(w_shape, x.dtype(), x.device());
  static const char* name = intern("core.conv2d_grad_weight");
  dispatch_op(name, {&x, &gy}, {&gw}, g.attrs());
  return gw;
}

int64_t Pool2d::out_h(int64_t h) const {
  return cover_all ? (h + 2 * ph - kh + sy - 1) / sy + 1 : (h + 2 * ph - kh) / sy + 1;
}
int64_t Pool2d::out_w(int64_t w) const {
  return cover_all ? (w + 2 * pw - kw + sx - 1) / sx + 1 : (w + 2 * pw - kw) / sx + 1;
}
Attrs Pool2d::attrs() const {
  Attrs a;
  a.ints("ksize", {kh, kw}).ints("stride", {sy, sx}).ints("pad", {ph, pw}).b("cover_all", cover_all);
  return a;
}

namespace {
Shape pooled_shape(const char* fn, const Tensor& x, const Pool2d& p) {
  require_4d(fn, x, "x");
  int64_t oh = p.out_h(x.shape()[2]), ow = p.out_w(x.shape()[3]);
  if (oh <= 0 || ow <= 0 || p.kh <= 0 || p.kw <= 0 || p.sy <= 0 || p.sx <= 0)
    throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": the window does not fit the input " + x.shape().str());
  return Shape{x.shape()[0], x.shape()[1], oh, ow};
}
}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const Pool2d& p) {
  Shape s = pooled_shape("max_pooling_2d", x, p);
  Tensor y = Tensor::empty(s, x.dtype(), x.device()), idx = Tensor::empty(s, int32, x.device());
  static const char* name = intern("core.max_pool2d");
  dispatch_op(name, {&x}, {&y, &idx}, p.attrs());
  return {y, idx};
}

Tensor max_pool2d_grad(const Tensor& gy, const Tensor& indexes, const Shape& x_shape, const Pool2d& p) {
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), gy.device());
  static const char* name = intern("core.max_pool2d_grad");
  dispatch_op(name, {&gy, &indexes}, {&gx}, p.attrs());
  return gx;
}

Tensor max_pool2d_gather(const Tensor& x, const Tensor& indexes, const Pool2d& p) {
  Tensor y = Tensor::empty(indexes.shape(), x.dtype(), x.device());
  static const char* name = intern("core.max_pool2d_gather");
  dispatch_op(name, {&x, &indexes}, {&y}, p.attrs());
  return y;
}

Tensor avg_pool2d(const Tensor& x, const Pool2d& p) {
  Tensor y = Tensor::empty(pooled_shape("average_pooling_2d", x, p), x.dtype(), x.device());
  static const char* name = intern("core.avg_pool2d");
  dispatch_op(name, {&x}, {&y}, p.attrs());
  return y;
}

Tensor avg_pool2d_grad(const Tensor& gy, const Shape& x_shape, const Pool2d& p) {
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), gy.device());
  static const char* name = intern("core.avg_pool2d_grad");
  dispatch_op(name, {&gy}, {&gx}, p.attrs());
  return gx;
}

}  // namespace ops
}  // namespace catena
