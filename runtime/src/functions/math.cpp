// Elementwise math and activations.
#include "common.hpp"

#include <algorithm>
#include <cmath>

namespace catena {
namespace F {

using detail::apply1;
using detail::constant;
using detail::scalar_like;

namespace {

class FloatUnary : public FunctionNode {
 public:
  void check_type_forward(const std::vector<Tensor>& x) override { detail::expect_float(*this, x[0], "x"); }
};

class Exp : public FloatUnary {
 public:
  std::string label() const override { return "exp"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_outputs({0});
    return {ops::exp(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {mul(gy[0], get_retained_outputs()[0])};
  }
};

class Log : public FloatUnary {
 public:
  std::string label() const override { return "log"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0});
    return {ops::log(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {div(gy[0], get_retained_inputs()[0])};
  }
};

class Sqrt : public FloatUnary {
 public:
  std::string label() const override { return "sqrt"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_outputs({0});
    return {ops::sqrt(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {div(mul_scalar(gy[0], 0.5), get_retained_outputs()[0])};
  }
};

class Square : public FloatUnary {
 public:
  std::string label() const override { return "square"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0});
    return {ops::square(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {mul(gy[0], mul_scalar(get_retained_inputs()[0], 2.0))};
  }
};

// sign(x) as a constant array: the derivative of |x| (0 at 0, as Chainer).
Tensor sign_of(const Tensor& x) {
  Tensor zero = Tensor::zeros(Shape{}, x.dtype(), x.device());
  Tensor one = scalar_like(1, x), minus = scalar_like(-1, x);
  return ops::where(ops::greater(x, zero), one, ops::where(ops::less(x, zero), minus, zero));
}

class Absolute : public FloatUnary {
 public:
  std::string label() const override { return "absolute"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    sign_ = sign_of(x[0]);
    return {ops::abs(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {mul(gy[0], constant(sign_))};
  }

 private:
  Tensor sign_;
};

class Sin : public FloatUnary {
 public:
  std::string label() const override { return "sin"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0});
    return {ops::sin(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {mul(gy[0], cos(get_retained_inputs()[0]))};
  }
};

class Cos : public FloatUnary {
 public:
  std::string label() const override { return "cos"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0});
    return {ops::cos(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {neg(mul(gy[0], sin(get_retained_inputs()[0])))};
  }
};

class Identity : public FunctionNode {
 public:
  std::string label() const override { return "identity"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {x[0]}; }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override { return {gy[0]}; }
};

// Multiply the gradient by a mask computed in forward (relu, clip, leaky_relu).
class Masked : public FloatUnary {
 public:
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {mul(gy[0], constant(mask_))};
  }

 protected:
  Tensor mask_;
};

// gx = gy where y > 0, else 0 (one pass: core.relu_grad). Linear in gy, so its own
// backward is itself with the same y.
class ReluGrad : public FunctionNode {
 public:
  explicit ReluGrad(Tensor y) : y_(std::move(y)) {}
  std::string label() const override { return "relu_grad"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& gy) override {
    return {ops::binary("core.relu_grad", y_, gy[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& ggx) override {
    return {apply1<ReluGrad>({ggx[0]}, y_)};
  }

 private:
  Tensor y_;
};

class Relu : public FloatUnary {
 public:
  std::string label() const override { return "relu"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_outputs({0});
    return {ops::relu(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {apply1<ReluGrad>({gy[0]}, get_retained_outputs()[0].array())};
  }
};

class LeakyRelu : public Masked {
 public:
  explicit LeakyRelu(double slope) : slope_(slope) {}
  std::string label() const override { return "leaky_relu"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    Tensor positive = ops::greater(x[0], Tensor::zeros(Shape{}, x[0].dtype(), x[0].device()));
    mask_ = ops::where(positive, scalar_like(1, x[0]), scalar_like(slope_, x[0]));
    return {ops::mul(x[0], mask_)};
  }

 private:
  double slope_;
};

class Clip : public Masked {
 public:
  Clip(double lo, double hi) : lo_(lo), hi_(hi) {}
  std::string label() const override { return "clip"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    Tensor lo = scalar_like(lo_, x[0]), hi = scalar_like(hi_, x[0]);
    Tensor inside = ops::where(ops::compare("core.greater_equal", x[0], lo), ops::compare("core.less_equal", x[0], hi),
                               Tensor::zeros(Shape{}, bool_, x[0].device()));
    mask_ = inside.astype(x[0].dtype());
    return {ops::minimum(ops::maximum(x[0], lo), hi)};
  }

 private:
  double lo_, hi_;
};

class Sigmoid : public FloatUnary {
 public:
  std::string label() const override { return "sigmoid"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_outputs({0});
    return {ops::sigmoid(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    Variable y = get_retained_outputs()[0];
    return {mul(gy[0], mul(y, rsub_scalar(1.0, y)))};
  }
};

class Tanh : public FloatUnary {
 public:
  std::string label() const override { return "tanh"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_outputs({0});
    return {ops::tanh(x[0])};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    Variable y = get_retained_outputs()[0];
    return {mul(gy[0], rsub_scalar(1.0, square(y)))};
  }
};

}  // namespace

Variable exp(const Variable& x) { return apply1<Exp>({x}); }
Variable log(const Variable& x) { return apply1<Log>({x}); }
Variable sqrt(const Variable& x) { return apply1<Sqrt>({x}); }
Variable square(const Variable& x) { return apply1<Square>({x}); }
Variable absolute(const Variable& x) { return apply1<Absolute>({x}); }
Variable sin(const Variable& x) { return apply1<Sin>({x}); }
Variable cos(const Variable& x) { return apply1<Cos>({x}); }
Variable identity(const Variable& x) { return apply1<Identity>({x}); }
Variable clip(const Variable& x, double x_min, double x_max) {
  if (!(x_min < x_max))
    throw Error(CT_INVALID_ARGUMENT, "clip: x_min (" + std::to_string(x_min) + ") must be below x_max (" +
                                         std::to_string(x_max) + ")");
  return apply1<Clip>({x}, x_min, x_max);
}
Variable relu(const Variable& x) { return apply1<Relu>({x}); }
Variable leaky_relu(const Variable& x, double slope) { return apply1<LeakyRelu>({x}, slope); }
Variable sigmoid(const Variable& x) { return apply1<Sigmoid>({x}); }
Variable tanh(const Variable& x) { return apply1<Tanh>({x}); }

// Compositions of differentiable functions (so double backprop comes for free).
Variable softplus(const Variable& x, double beta) {
  // log(1 + exp(beta x)) / beta, computed as max(bx, 0) + log(1 + exp(-|bx|)) to avoid overflow.
  Variable bx = mul_scalar(x, beta);
  Variable zero = constant(Tensor::zeros(Shape{}, x.dtype(), x.device()));
  Variable y = add(maximum(bx, zero), log(add_scalar(exp(neg(absolute(bx))), 1.0)));
  return mul_scalar(y, 1.0 / beta);
}

Variable elu(const Variable& x, double alpha) {
  Tensor positive = ops::greater(x.array(), Tensor::zeros(Shape{}, x.dtype(), x.device()));
  Variable zero = constant(Tensor::zeros(Shape{}, x.dtype(), x.device()));
  // exp of min(x, 0): no overflow on the branch where() discards.
  Variable neg_part = mul_scalar(add_scalar(exp(minimum(x, zero)), -1.0), alpha);
  return where(positive, x, neg_part);
}

Variable selu(const Variable& x, double alpha, double scale) { return mul_scalar(elu(x, alpha), scale); }

Variable softmax(const Variable& x, int axis) {
  std::vector<int> ax = detail::normalize_axes("softmax", {axis}, x.ndim());
  Variable m = constant(ops::max(x.array(), ax, true));
  Variable e = exp(sub(x, m));
  return div(e, sum(e, ax, true));
}

Variable log_softmax(const Variable& x, int axis) {
  std::vector<int> ax = detail::normalize_axes("log_softmax", {axis}, x.ndim());
  Variable m = constant(ops::max(x.array(), ax, true));
  Variable shifted = sub(x, m);
  return sub(shifted, log(sum(exp(shifted), ax, true)));
}

Variable logsumexp(const Variable& x, const std::vector<int>& axes) {
  std::vector<int> ax = detail::normalize_axes("logsumexp", axes, x.ndim());
  Tensor mk = ops::max(x.array(), ax, true);
  Variable y = log(sum(exp(sub(x, constant(mk))), ax, true));
  y = add(y, constant(mk));
  Shape s;
  for (int i = 0; i < x.ndim(); ++i)
    if (std::find(ax.begin(), ax.end(), i) == ax.end()) s.push_back(x.shape()[i]);
  return reshape(y, s);
}

}  // namespace F
}  // namespace catena
