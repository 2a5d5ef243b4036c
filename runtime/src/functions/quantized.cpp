// Layers computed in int8: the activations quantized (per row at run time, or with a
// calibrated scale), the product in int8 with exact int32 sums (core.gemm_i8), the
// result rescaled to float32 with the bias added in the same op.
#include <catena/function_node.hpp>
#include <catena/functions.hpp>
#include <catena/ops.hpp>
#include <catena/runtime.hpp>

#include <limits>
#include <map>
#include <mutex>
#include <tuple>

namespace catena {
namespace F {

namespace {

Tensor scalar(double v, Device& d) { return Tensor::full(Shape{}, v, float32, d); }

// x (M, K) as int8 with its scales (M): symmetric, the largest |x| of a row maps to 127.
std::pair<Tensor, Tensor> quantize_rows(const Tensor& x) {
  Device& d = x.device();
  Tensor absmax = ops::max(ops::abs(x), {1}, true);                 // (M, 1)
  Tensor inv = ops::div(scalar(127.0, d), absmax);                   // inf for a zero row: q = 0
  Tensor scale = ops::mul(absmax, scalar(1.0 / 127.0, d));
  return {ops::quantize(x, inv), scale.reshape(Shape{x.shape()[0]})};
}

}  // namespace

namespace {

// W (out, ...) seen as (out, rest) in float32.
Tensor rows_of(const Tensor& w) {
  const int64_t out = w.ndim() ? w.shape()[0] : 1;
  return w.astype(float32).reshape(Shape{out, w.numel() / std::max<int64_t>(1, out)});
}

// The forward computes the quantized weights; the backward passes the gradient through.
class FakeQuantize : public FunctionNode {
 public:
  explicit FakeQuantize(std::string scheme) : scheme_(std::move(scheme)) {}
  std::string label() const override { return "fake_quantize"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    const Tensor& w = in[0];
    const Tensor r = rows_of(w);
    Device& d = w.device();
    Tensor y;
    if (scheme_ == "binary") {
      const Tensor alpha = ops::mean(ops::abs(r), {1}, true);
      const Tensor positive = ops::compare("core.greater_equal", r, scalar(0.0, d));
      y = ops::where(positive, alpha.broadcast_to(r.shape()), ops::neg(alpha).broadcast_to(r.shape()));
    } else {
      const Tensor absmax = ops::max(ops::abs(r), {1}, true);
      // An all-zero row keeps scale 1 (its weights quantize to 0 either way).
      const Tensor zero = ops::compare("core.equal", absmax, scalar(0.0, d));
      const Tensor scale = ops::where(zero, scalar(1.0 / 127.0, d).broadcast_to(absmax.shape()),
                                      ops::mul(absmax, scalar(1.0 / 127.0, d)));
      const Tensor inv = ops::div(scalar(1.0, d), scale);
      y = ops::dequantize(ops::quantize(r, inv), scale);
    }
    return {y.reshape(w.shape()).astype(w.dtype())};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override { return {gy[0]}; }

 private:
  std::string scheme_;
};

}  // namespace

Variable fake_quantize(const Variable& W, const std::string& scheme) {
  if (scheme != "int8" && scheme != "binary")
    throw Error(CT_INVALID_ARGUMENT, "fake_quantize: the scheme must be int8 or binary, got '" + scheme + "'");
  if (!W.array().dtype().is_float()) throw Error(CT_INVALID_ARGUMENT, "fake_quantize: W must be floating point");
  if (FunctionNode::would_record({W})) return std::make_shared<FakeQuantize>(scheme)->apply({W})[0];
  FakeQuantize fn(scheme);
  return fn.apply({W})[0];
}

Variable linear_int8(const Variable& x, const Tensor& q, const Tensor& scale, const Tensor& input_scale,
                     const Variable& b, int n_batch_axes) {
  if (!q.defined() || q.dtype() != int8 || q.ndim() != 2)
    throw Error(CT_INVALID_ARGUMENT, "linear_int8: the weights must be an int8 matrix (out_size, in_size)");
  Tensor a = x.array();
  if (!a.dtype().is_float())
    throw Error(CT_INVALID_ARGUMENT, "linear_int8: x must be floating point, got " + a.dtype().name());
  if (n_batch_axes < 1 || n_batch_axes > a.ndim())
    throw Error(CT_INVALID_ARGUMENT, "linear_int8: n_batch_axes " + std::to_string(n_batch_axes) + " for x of " +
                                         a.shape().str());
  Shape batch;
  int64_t rows = 1;
  for (int i = 0; i < n_batch_axes; ++i) batch.push_back(a.shape()[i]), rows *= a.shape()[i];
  const int64_t in = rows ? a.numel() / rows : 0;
  if (in != q.shape()[1])
    throw Error(CT_INVALID_ARGUMENT, "linear_int8: x " + a.shape().str() + " has " + std::to_string(in) +
                                         " features per row; the layer takes " + std::to_string(q.shape()[1]));
  Tensor x2 = a.reshape(Shape{rows, in});
  Tensor xq, xs;
  if (input_scale.defined()) {
    xq = ops::quantize(x2, ops::div(scalar(1.0, a.device()), input_scale));
    xs = input_scale;
  } else {
    std::tie(xq, xs) = quantize_rows(x2);
  }
  Tensor y = ops::gemm_i8(xq, q, xs, scale, b.defined() ? b.array().astype(float32) : Tensor());
  batch.push_back(q.shape()[0]);
  y = y.reshape(batch);
  return Variable(a.dtype() == float32 ? y : y.astype(a.dtype()), false);
}

namespace {

// For each output position (oh, ow) and filter row and column (kh, kw), the pixel of the
// padded channels-last image (H + 2ph, W + 2pw, C) it reads, flattened: gathering those
// pixels' C channels gives the product's columns in (kh, kw, c) order, a run of C bytes per
// gather. Made once per geometry and device, and kept (a few shapes per model).
Tensor pixel_indices(int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t oh, int64_t ow, const ops::Conv2d& g,
                     Device& device) {
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                         Device*>;
  static std::mutex mutex;
  static std::map<Key, Tensor> cache;
  const Key key{h, w, kh, kw, g.sy, g.sx, g.ph, g.pw, g.dy, g.dx, &device};
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const int64_t wp = w + 2 * g.pw;
  std::vector<int32_t> idx;
  idx.reserve(size_t(oh * ow * kh * kw));
  for (int64_t y = 0; y < oh; ++y)
    for (int64_t x = 0; x < ow; ++x)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) idx.push_back(int32_t((y * g.sy + i * g.dy) * wp + x * g.sx + j * g.dx));
  Tensor t = Tensor::from_vector(idx, Shape{int64_t(idx.size())}, runtime().cpu()).to(device);
  if (cache.size() > 64) cache.clear();
  cache.emplace(key, t);
  return t;
}

}  // namespace

Tensor int8_conv_filters(const Tensor& q) {
  if (!q.defined() || q.dtype() != int8 || q.ndim() != 4)
    throw Error(CT_INVALID_ARGUMENT, "int8_conv_filters: the filters must be int8 (OC, C, KH, KW)");
  const int64_t oc = q.shape()[0], taps = q.numel() / std::max<int64_t>(1, oc);
  if (q.shape()[1] == 1) return q.contiguous().reshape(Shape{oc, taps});
  return q.transpose({0, 2, 3, 1}).contiguous().reshape(Shape{oc, taps});
}

// Filters with fewer taps (C·KH·KW) than this are multiplied in float32 (below).
constexpr int64_t kShortFilter = 32;

Variable convolution_2d_int8(const Variable& x, const Tensor& q, const Tensor& scale, const Tensor& input_scale,
                             const Variable& b, const ops::Conv2d& g, const Tensor& kept_filters) {
  if (!q.defined() || q.dtype() != int8 || q.ndim() != 4)
    throw Error(CT_INVALID_ARGUMENT, "convolution_2d_int8: the filters must be int8 (OC, C, KH, KW)");
  if (g.groups != 1) throw Error(CT_UNIMPLEMENTED, "convolution_2d_int8: groups other than 1");
  const Tensor a = x.array();
  if (a.ndim() != 4 || !a.dtype().is_float())
    throw Error(CT_INVALID_ARGUMENT, "convolution_2d_int8: x must be float images (N, C, H, W), got " + a.shape().str());
  const int64_t n = a.shape()[0], c = a.shape()[1], h = a.shape()[2], w = a.shape()[3];
  const int64_t oc = q.shape()[0], kh = q.shape()[2], kw = q.shape()[3];
  if (q.shape()[1] != c)
    throw Error(CT_INVALID_ARGUMENT, "convolution_2d_int8: x has " + std::to_string(c) + " channels; the filters take " +
                                         std::to_string(q.shape()[1]));
  const int64_t oh = g.out_h(h, kh), ow = g.out_w(w, kw);
  if (oh <= 0 || ow <= 0) throw Error(CT_INVALID_ARGUMENT, "convolution_2d_int8: the image is smaller than the filter");
  Device& d = a.device();
  const int64_t hp = h + 2 * g.ph, wp = w + 2 * g.pw, taps = kh * kw * c;
  if (hp * wp > std::numeric_limits<int32_t>::max())
    throw Error(CT_INVALID_ARGUMENT, "convolution_2d_int8: the image " + a.shape().str() + " is too large");
  // Quantize, then pad with quantized zeros (0: the scale is symmetric) into a channels-last
  // image, so that each tap's C channels are one run of bytes.
  Tensor xq, xs;
  if (input_scale.defined()) {
    xq = ops::quantize(a, ops::div(scalar(1.0, d), input_scale));
    xs = input_scale.reshape(Shape{});
  } else {
    auto [q2, s2] = quantize_rows(a.reshape(Shape{n, c * h * w}));
    xq = q2.reshape(a.shape());
    xs = s2;  // one scale per image
  }
  if (taps < kShortFilter) {
    // So few taps (an image model's first layer: 1 x 3 x 3) fill a small part of each int8
    // vector step, and the int8 product runs slower than a float32 convolution: the same
    // quantized values are multiplied in float32 instead.
    const Tensor x_scale = input_scale.defined() ? xs : xs.reshape(Shape{n, 1, 1, 1});
    const Tensor xd = ops::dequantize(xq, x_scale);
    const Tensor wd = ops::dequantize(q, scale.reshape(Shape{oc, 1, 1, 1}));
    const Tensor y = convolution_2d(Variable(xd, false), Variable(wd, false), b, g).array();
    return Variable(a.dtype() == float32 ? y : y.astype(a.dtype()), false);
  }
  Tensor padded = Tensor::zeros(Shape{n, hp, wp, c}, int8, d);
  ops::copy(padded.slice(1, g.ph, g.ph + h).slice(2, g.pw, g.pw + w), xq.transpose({0, 2, 3, 1}));
  const Tensor idx = pixel_indices(h, w, kh, kw, oh, ow, g, d);
  const Tensor cols = ops::take(padded.reshape(Shape{n, hp * wp, c}), idx, 1).reshape(Shape{n * oh * ow, taps});
  // The filters in the same (kh, kw, c) order; the output channels are the product's rows,
  // so y comes out as (OC, N·OH·OW): each image's channels already in NCHW order.
  const bool kept = kept_filters.defined() && kept_filters.shape() == Shape{oc, taps} && kept_filters.dtype() == int8 &&
                    &kept_filters.device() == &d;
  const Tensor filters = kept ? kept_filters : int8_conv_filters(q);
  const Tensor col_scale = input_scale.defined()
                               ? xs.broadcast_to(Shape{n * oh * ow})
                               : xs.reshape(Shape{n, 1}).broadcast_to(Shape{n, oh * ow}).contiguous().reshape(Shape{n * oh * ow});
  Tensor y = ops::gemm_i8(filters, cols, scale, col_scale, Tensor());
  // (OC, N, OH·OW) → (N, OC, OH·OW), the bias added in the same pass.
  Tensor yt = y.reshape(Shape{oc, n, oh * ow}).transpose({1, 0, 2});
  y = b.defined() ? ops::add(yt, b.array().astype(float32).reshape(Shape{1, oc, 1})) : yt.contiguous();
  y = y.reshape(Shape{n, oc, oh, ow});
  return Variable(a.dtype() == float32 ? y : y.astype(a.dtype()), false);
}

}  // namespace F
}  // namespace catena
