// max_pooling_2d and average_pooling_2d, with differentiable gradients.
#include "common.hpp"

namespace catena {
namespace F {

using detail::apply1;

namespace {

class MaxPoolGrad : public FunctionNode {
 public:
  MaxPoolGrad(Tensor idx, Shape x_shape, ops::Pool2d p) : idx_(std::move(idx)), x_shape_(x_shape), p_(p) {}
  std::string label() const override { return "max_pooling_2d_grad"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& gy) override {
    return {ops::max_pool2d_grad(gy[0], idx_, x_shape_, p_)};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& ggx) override {
    // The adjoint of scattering to the argmax is gathering from it.
    return {apply1<Gather>({ggx[0]}, idx_, p_, x_shape_)};
  }

  class Gather : public FunctionNode {
   public:
    Gather(Tensor idx, ops::Pool2d p, Shape x_shape) : idx_(std::move(idx)), p_(p), x_shape_(x_shape) {}
    std::string label() const override { return "max_pooling_2d_gather"; }
    std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::max_pool2d_gather(x[0], idx_, p_)}; }
    std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
      return {apply1<MaxPoolGrad>({gy[0]}, idx_, x_shape_, p_)};
    }

   private:
    Tensor idx_;
    ops::Pool2d p_;
    Shape x_shape_;
  };

 private:
  Tensor idx_;
  Shape x_shape_;
  ops::Pool2d p_;
};

class MaxPool : public FunctionNode {
 public:
  explicit MaxPool(ops::Pool2d p) : p_(p) {}
  std::string label() const override { return "max_pooling_2d"; }
  void check_type_forward(const std::vector<Tensor>& x) override { detail::expect_float(*this, x[0], "x"); }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    auto r = ops::max_pool2d(x[0], p_);
    idx_ = r.second;
    return {r.first};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
    return {apply1<MaxPoolGrad>({gy[0]}, idx_, input_shape(0), p_)};
  }

 private:
  ops::Pool2d p_;
  Tensor idx_;
};

class AvgPoolGrad;

class AvgPool : public FunctionNode {
 public:
  explicit AvgPool(ops::Pool2d p) : p_(p) {}
  std::string label() const override { return "average_pooling_2d"; }
  void check_type_forward(const std::vector<Tensor>& x) override { detail::expect_float(*this, x[0], "x"); }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::avg_pool2d(x[0], p_)}; }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override;

 private:
  ops::Pool2d p_;
};

class AvgPoolGrad : public FunctionNode {
 public:
  AvgPoolGrad(Shape x_shape, ops::Pool2d p) : x_shape_(x_shape), p_(p) {}
  std::string label() const override { return "average_pooling_2d_grad"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& gy) override {
    return {ops::avg_pool2d_grad(gy[0], x_shape_, p_)};
  }
  std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& ggx) override {
    return {apply1<AvgPool>({ggx[0]}, p_)};
  }

 private:
  Shape x_shape_;
  ops::Pool2d p_;
};

std::vector<Variable> AvgPool::backward(const std::vector<int>&, const std::vector<Variable>& gy) {
  return {apply1<AvgPoolGrad>({gy[0]}, input_shape(0), p_)};
}

ops::Pool2d window(int64_t ksize, std::optional<int64_t> stride, int64_t pad, bool cover_all, const char* fn) {
  if (ksize < 1 || (stride && *stride < 1) || pad < 0)
    throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": ksize and stride must be positive and pad non-negative");
  ops::Pool2d p;
  p.kh = p.kw = ksize;
  p.sy = p.sx = stride ? *stride : ksize;
  p.ph = p.pw = pad;
  p.cover_all = cover_all;
  return p;
}

}  // namespace

Variable max_pooling_2d(const Variable& x, const ops::Pool2d& p) { return apply1<MaxPool>({x}, p); }
Variable max_pooling_2d(const Variable& x, int64_t ksize, std::optional<int64_t> stride, int64_t pad, bool cover_all) {
  return max_pooling_2d(x, window(ksize, stride, pad, cover_all, "max_pooling_2d"));
}

Variable average_pooling_2d(const Variable& x, const ops::Pool2d& p) { return apply1<AvgPool>({x}, p); }
Variable average_pooling_2d(const Variable& x, int64_t ksize, std::optional<int64_t> stride, int64_t pad) {
  return average_pooling_2d(x, window(ksize, stride, pad, false, "average_pooling_2d"));
}

}  // namespace F
}  // namespace catena
