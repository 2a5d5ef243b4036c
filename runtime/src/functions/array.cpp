// Array manipulation: reshape, broadcast_to, sum_to, transpose, expand_dims, squeeze,
// flatten, cast.
#include "common.hpp"

#include <algorithm>

namespace catena {
namespace F {

using detail::apply1;


namespace {

class Reshape : public FunctionNode {
 public:
  explicit Reshape(Shape s) : shape_(s) {}
  std::string label() const override { return "reshape"; }
  void check_type_forward(const std::vector<Tensor>& x) override {
    if (x[0].numel() != shape_.numel())
      throw Error(CT_INVALID_ARGUMENT, "reshape: cannot reshape " + x[0].shape().str() + " (" +
                                           std::to_string(x[0].numel()) + " elements) to " + shape_.str());
  }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {x[0].reshape(shape_)}; }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {reshape(gy[0], input_shape(0))};
  }

 private:
  Shape shape_;
};

class BroadcastTo : public FunctionNode {
 public:
  explicit BroadcastTo(Shape s) : shape_(s) {}
  std::string label() const override { return "broadcast_to"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    try {
      return {x[0].broadcast_to(shape_)};
    } catch (const Error&) {
      throw Error(CT_INVALID_ARGUMENT, "broadcast_to: cannot broadcast " + x[0].shape().str() + " to " + shape_.str());
    }
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {sum_to(gy[0], input_shape(0))};
  }

 private:
  Shape shape_;
};

class SumTo : public FunctionNode {
 public:
  explicit SumTo(Shape s) : shape_(s) {}
  std::string label() const override { return "sum_to"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    const Shape& in = x[0].shape();
    int lead = in.ndim() - shape_.ndim();
    if (lead < 0) throw Error(CT_INVALID_ARGUMENT, "sum_to: cannot sum " + in.str() + " to " + shape_.str());
    std::vector<int> axes;
    for (int i = 0; i < lead; ++i) axes.push_back(i);
    for (int i = 0; i < shape_.ndim(); ++i) {
      if (shape_[i] == in[lead + i]) continue;
      if (shape_[i] != 1) throw Error(CT_INVALID_ARGUMENT, "sum_to: cannot sum " + in.str() + " to " + shape_.str());
      axes.push_back(lead + i);
    }
    return {ops::sum(x[0], axes, true).reshape(shape_)};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {broadcast_to(gy[0], input_shape(0))};
  }

 private:
  Shape shape_;
};

class Transpose : public FunctionNode {
 public:
  explicit Transpose(std::vector<int> axes) : axes_(std::move(axes)) {}
  std::string label() const override { return "transpose"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    if (axes_.empty())
      for (int i = x[0].ndim() - 1; i >= 0; --i) axes_.push_back(i);
    return {x[0].transpose(axes_)};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    std::vector<int> inv(axes_.size());
    for (size_t i = 0; i < axes_.size(); ++i) {
      int a = axes_[i] < 0 ? axes_[i] + static_cast<int>(axes_.size()) : axes_[i];
      inv[a] = static_cast<int>(i);
    }
    return {transpose(gy[0], inv)};
  }

 private:
  std::vector<int> axes_;
};

class Cast : public FunctionNode {
 public:
  explicit Cast(Dtype d) : dtype_(d) {}
  std::string label() const override { return "cast"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {x[0].astype(dtype_)}; }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {cast(gy[0], input_dtype(0))};
  }

 private:
  Dtype dtype_;
};

}  // namespace

Variable reshape(const Variable& x, const Shape& shape) {
  if (x.defined() && x.shape() == shape) return x;
  return apply1<Reshape>({x}, shape);
}

Variable broadcast_to(const Variable& x, const Shape& shape) {
  if (x.defined() && x.shape() == shape) return x;
  return apply1<BroadcastTo>({x}, shape);
}

std::vector<Variable> broadcast(const std::vector<Variable>& xs) {
  if (xs.empty()) return {};
  Shape s = xs[0].shape();
  for (size_t i = 1; i < xs.size(); ++i) {
    try {
      s = ops::broadcast_shapes(s, xs[i].shape());
    } catch (const Error&) {
      throw Error(CT_INVALID_ARGUMENT, "broadcast: shape " + xs[i].shape().str() + " of argument " + std::to_string(i) +
                                           " does not broadcast with " + s.str());
    }
  }
  std::vector<Variable> out;
  for (const Variable& x : xs) out.push_back(broadcast_to(x, s));
  return out;
}

Variable sum_to(const Variable& x, const Shape& shape) {
  if (x.defined() && x.shape() == shape) return x;
  return apply1<SumTo>({x}, shape);
}

Variable transpose(const Variable& x, const std::vector<int>& axes) { return apply1<Transpose>({x}, axes); }

Variable expand_dims(const Variable& x, int axis) {
  int n = x.ndim();
  int a = axis < 0 ? axis + n + 1 : axis;
  if (a < 0 || a > n) throw Error(CT_OUT_OF_RANGE, "expand_dims: axis " + std::to_string(axis) + " is out of range");
  Shape s;
  for (int i = 0; i <= n; ++i) {
    if (i == a) s.push_back(1);
    if (i < n) s.push_back(x.shape()[i]);
  }
  return reshape(x, s);
}

Variable squeeze(const Variable& x, const std::vector<int>& axes) {
  std::vector<int> ax;
  if (axes.empty()) {
    for (int i = 0; i < x.ndim(); ++i)
      if (x.shape()[i] == 1) ax.push_back(i);
  } else {
    ax = detail::normalize_axes("squeeze", axes, x.ndim());
    for (int a : ax)
      if (x.shape()[a] != 1)
        throw Error(CT_INVALID_ARGUMENT, "squeeze: axis " + std::to_string(a) + " of " + x.shape().str() +
                                             " has extent " + std::to_string(x.shape()[a]) + ", not 1");
  }
  Shape s;
  for (int i = 0; i < x.ndim(); ++i)
    if (std::find(ax.begin(), ax.end(), i) == ax.end()) s.push_back(x.shape()[i]);
  return reshape(x, s);
}

Variable flatten(const Variable& x) { return reshape(x, Shape{x.size()}); }

Variable cast(const Variable& x, Dtype dtype) {
  if (x.defined() && x.dtype() == dtype) return x;
  return apply1<Cast>({x}, dtype);
}

}  // namespace F
}  // namespace catena
