// convolution_2d and deconvolution_2d, with gradients that are themselves differentiable.
#include "common.hpp"

namespace catena {
namespace F {

using detail::apply1;

namespace {

void check_conv(const std::string& fn, const Tensor& x, const Tensor& W, const Tensor* b, int64_t groups,
                bool transposed) {
  if (x.ndim() != 4) throw Error(CT_INVALID_ARGUMENT, fn + ": x must be 4-D (N, C, H, W), got " + x.shape().str());
  if (W.ndim() != 4) throw Error(CT_INVALID_ARGUMENT, fn + ": W must be 4-D, got " + W.shape().str());
  detail::expect_float(fn, x, "x");
  detail::expect_same_dtype(fn, x, W);
  int64_t in_ch = x.shape()[1];
  int64_t w_in = transposed ? W.shape()[0] : W.shape()[1] * groups;
  if (in_ch != w_in)
    throw Error(CT_INVALID_ARGUMENT, fn + ": x has " + std::to_string(in_ch) + " channels but W " + W.shape().str() +
                                         " expects " + std::to_string(w_in) +
                                         (groups > 1 ? " (with groups=" + std::to_string(groups) + ")" : std::string()));
  int64_t out_ch = transposed ? W.shape()[1] * groups : W.shape()[0];
  if (groups < 1 || in_ch % groups || out_ch % groups)
    throw Error(CT_INVALID_ARGUMENT, fn + ": groups=" + std::to_string(groups) + " must divide both " +
                                         std::to_string(in_ch) + " input and " + std::to_string(out_ch) +
                                         " output channels");
  if (b && b->defined()) {
    detail::expect_same_dtype(fn, x, *b);
    if (b->ndim() != 1 || b->shape()[0] != out_ch)
      throw Error(CT_INVALID_ARGUMENT, fn + ": b has shape " + b->shape().str() + " but needs (" +
                                           std::to_string(out_ch) + ",)");
  }
}

Variable bias_grad(const Variable& gy) { return sum(gy, {0, 2, 3}); }

// gW = conv2d_grad_weight(x, gy): linear in both, so its own backward is two convolutions.
class ConvGradW : public FunctionNode {
 public:
  ConvGradW(Shape w_shape, ops::Conv2d g) : w_shape_(w_shape), g_(g) {}
  std::string label() const override { return "convolution_2d_grad_w"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    retain_inputs({0, 1});
    return {ops::conv2d_grad_weight(in[0], in[1], w_shape_, g_)};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& ggw) override {
    std::vector<Variable> in = get_retained_inputs();
    std::vector<Variable> g(2);
    for (int i : idx) {
      if (i == 0)
        g[0] = deconvolution_2d(in[1], ggw[0], Variable(), g_,
                                std::make_pair(input_shape(0)[2], input_shape(0)[3]));
      else
        g[1] = convolution_2d(in[0], ggw[0], Variable(), g_);
    }
    return g;
  }

 private:
  Shape w_shape_;
  ops::Conv2d g_;
};

class Convolution2D : public FunctionNode {
 public:
  explicit Convolution2D(ops::Conv2d g) : g_(g) {}
  std::string label() const override { return "convolution_2d"; }
  void check_type_forward(const std::vector<Tensor>& in) override {
    check_conv(label(), in[0], in[1], in.size() > 2 ? &in[2] : nullptr, g_.groups, false);
  }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    retain_inputs({0, 1});
    return {ops::conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), g_)};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> in = get_retained_inputs();
    std::vector<Variable> g(inputs().size());
    for (int i : idx) {
      if (i == 0) g[0] = deconvolution_2d(gy[0], in[1], Variable(), g_, std::make_pair(input_shape(0)[2], input_shape(0)[3]));
      if (i == 1) g[1] = apply1<ConvGradW>({in[0], gy[0]}, input_shape(1), g_);
      if (i == 2) g[2] = bias_grad(gy[0]);
    }
    return g;
  }

 private:
  ops::Conv2d g_;
};

class Deconvolution2D : public FunctionNode {
 public:
  Deconvolution2D(ops::Conv2d g, Shape out) : g_(g), out_(out) {}
  std::string label() const override { return "deconvolution_2d"; }
  void check_type_forward(const std::vector<Tensor>& in) override {
    check_conv(label(), in[0], in[1], in.size() > 2 ? &in[2] : nullptr, g_.groups, true);
    if (g_.out_h(out_[2], in[1].shape()[2]) != in[0].shape()[2] || g_.out_w(out_[3], in[1].shape()[3]) != in[0].shape()[3])
      throw Error(CT_INVALID_ARGUMENT, "deconvolution_2d: outsize (" + std::to_string(out_[2]) + ", " +
                                           std::to_string(out_[3]) + ") does not map back to the input " +
                                           in[0].shape().str() + " with this stride, pad and dilation");
  }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    retain_inputs({0, 1});
    Tensor y = ops::conv2d_grad_input(in[0], in[1], out_, g_);
    if (in.size() > 2) y = ops::add(y, in[2].reshape(Shape{1, out_[1], 1, 1}));
    return {y};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> in = get_retained_inputs();
    std::vector<Variable> g(inputs().size());
    for (int i : idx) {
      if (i == 0) g[0] = convolution_2d(gy[0], in[1], Variable(), g_);
      if (i == 1) g[1] = apply1<ConvGradW>({gy[0], in[0]}, input_shape(1), g_);
      if (i == 2) g[2] = bias_grad(gy[0]);
    }
    return g;
  }

 private:
  ops::Conv2d g_;
  Shape out_;
};

ops::Conv2d geometry(int64_t stride, int64_t pad, bool cover_all, int64_t dilate, int64_t groups) {
  ops::Conv2d g;
  g.sy = g.sx = stride;
  g.ph = g.pw = pad;
  g.dy = g.dx = dilate;
  g.groups = groups;
  g.cover_all = cover_all;
  return g;
}

}  // namespace

Variable convolution_2d(const Variable& x, const Variable& W, const Variable& b, const ops::Conv2d& g) {
  if (g.sy < 1 || g.sx < 1 || g.ph < 0 || g.pw < 0 || g.dy < 1 || g.dx < 1)
    throw Error(CT_INVALID_ARGUMENT, "convolution_2d: stride and dilate must be positive and pad non-negative");
  return b.defined() ? apply1<Convolution2D>({x, W, b}, g) : apply1<Convolution2D>({x, W}, g);
}

Variable convolution_2d(const Variable& x, const Variable& W, const Variable& b, int64_t stride, int64_t pad,
                        bool cover_all, int64_t dilate, int64_t groups) {
  return convolution_2d(x, W, b, geometry(stride, pad, cover_all, dilate, groups));
}

Variable deconvolution_2d(const Variable& x, const Variable& W, const Variable& b, const ops::Conv2d& g,
                          std::optional<std::pair<int64_t, int64_t>> outsize) {
  if (x.ndim() != 4 || W.ndim() != 4)
    throw Error(CT_INVALID_ARGUMENT, "deconvolution_2d: x and W must be 4-D, got " + x.shape().str() + " and " +
                                         W.shape().str());
  if (g.sy < 1 || g.sx < 1 || g.ph < 0 || g.pw < 0 || g.dy < 1 || g.dx < 1)
    throw Error(CT_INVALID_ARGUMENT, "deconvolution_2d: stride and dilate must be positive and pad non-negative");
  int64_t kh = W.shape()[2], kw = W.shape()[3];
  int64_t oh = outsize ? outsize->first : g.sy * (x.shape()[2] - 1) + g.dy * (kh - 1) + 1 - 2 * g.ph;
  int64_t ow = outsize ? outsize->second : g.sx * (x.shape()[3] - 1) + g.dx * (kw - 1) + 1 - 2 * g.pw;
  if (oh <= 0 || ow <= 0) throw Error(CT_INVALID_ARGUMENT, "deconvolution_2d: the output would be empty");
  Shape out{x.shape()[0], W.shape()[1] * g.groups, oh, ow};
  return b.defined() ? apply1<Deconvolution2D>({x, W, b}, g, out) : apply1<Deconvolution2D>({x, W}, g, out);
}

Variable deconvolution_2d(const Variable& x, const Variable& W, const Variable& b, int64_t stride, int64_t pad,
                          std::optional<std::pair<int64_t, int64_t>> outsize, int64_t dilate, int64_t groups) {
  return deconvolution_2d(x, W, b, geometry(stride, pad, false, dilate, groups), outsize);
}

}  // namespace F
}  // namespace catena
