// Reductions: sum, mean/average, max, min.
#include "common.hpp"

#include <algorithm>

namespace catena {
namespace F {

using detail::apply1;
using detail::constant;

namespace {

Shape kept_shape(const Shape& in, const std::vector<int>& axes) {
  Shape s = in;
  for (int a : axes) s[a] = 1;
  return s;
}

class Sum : public FunctionNode {
 public:
  Sum(std::vector<int> axes, bool keepdims) : axes_(std::move(axes)), keepdims_(keepdims) {}
  std::string label() const override { return "sum"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::sum(x[0], axes_, keepdims_)}; }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {broadcast_to(reshape(gy[0], kept_shape(input_shape(0), axes_)), input_shape(0))};
  }

 private:
  std::vector<int> axes_;
  bool keepdims_;
};

// max / min: the gradient goes to every element equal to the extremum.
class Extreme : public FunctionNode {
 public:
  Extreme(std::vector<int> axes, bool keepdims, bool is_max) : axes_(std::move(axes)), keepdims_(keepdims), max_(is_max) {}
  std::string label() const override { return max_ ? "max" : "min"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    Tensor y = max_ ? ops::max(x[0], axes_, true) : ops::min(x[0], axes_, true);
    mask_ = ops::equal(x[0], y);
    return {keepdims_ ? y : y.reshape(out_shape(x[0].shape()))};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    Variable g = broadcast_to(reshape(gy[0], kept_shape(input_shape(0), axes_)), input_shape(0));
    Variable zero = constant(Tensor::zeros(input_shape(0), gy[0].dtype(), gy[0].device()));
    return {where(mask_, g, zero)};
  }

 private:
  Shape out_shape(const Shape& in) const {
    Shape s;
    for (int i = 0; i < in.ndim(); ++i)
      if (std::find(axes_.begin(), axes_.end(), i) == axes_.end()) s.push_back(in[i]);
    return s;
  }
  std::vector<int> axes_;
  bool keepdims_, max_;
  Tensor mask_;
};

}  // namespace

Variable sum(const Variable& x, const std::vector<int>& axes, bool keepdims) {
  return apply1<Sum>({x}, detail::normalize_axes("sum", axes, x.ndim()), keepdims);
}

Variable mean(const Variable& x, const std::vector<int>& axes, bool keepdims) {
  std::vector<int> ax = detail::normalize_axes("mean", axes, x.ndim());
  detail::expect_float("mean", x.array(), "x");
  int64_t n = 1;
  for (int a : ax) n *= x.shape()[a];
  return mul_scalar(sum(x, ax, keepdims), 1.0 / static_cast<double>(n));
}

Variable average(const Variable& x, const std::vector<int>& axes, bool keepdims) { return mean(x, axes, keepdims); }

Variable max(const Variable& x, const std::vector<int>& axes, bool keepdims) {
  return apply1<Extreme>({x}, detail::normalize_axes("max", axes, x.ndim()), keepdims, true);
}

Variable argmax(const Variable& x, int axis) { return Variable(ops::argmax(x.array(), axis).astype(int32), false); }

Variable min(const Variable& x, const std::vector<int>& axes, bool keepdims) {
  return apply1<Extreme>({x}, detail::normalize_axes("min", axes, x.ndim()), keepdims, false);
}

}  // namespace F
}  // namespace catena
