// Connections (linear, matmul) and losses.
#include "common.hpp"

namespace catena {
namespace F {

using detail::apply1;

namespace {

class MatMul : public FunctionNode {
 public:
  MatMul(bool ta, bool tb) : ta_(ta), tb_(tb) {}
  std::string label() const override { return "matmul"; }
  void check_type_forward(const std::vector<Tensor>& x) override {
    detail::expect_same_dtype(*this, x[0], x[1]);
    detail::expect_float(*this, x[0], "a");
  }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0, 1});
    return {ops::gemm(x[0], x[1], ta_, tb_, 1.0)};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> x = get_retained_inputs();
    const Variable& a = x[0];
    const Variable& b = x[1];
    const Variable& g = gy[0];
    std::vector<Variable> gx(2);
    for (int i : idx) {
      if (i == 0) gx[0] = ta_ ? matmul(b, g, tb_, true) : matmul(g, b, false, !tb_);
      else gx[1] = tb_ ? matmul(g, a, true, ta_) : matmul(a, g, !ta_, false);
      gx[i] = sum_to(gx[i], input_shape(i));  // a batch shared by broadcasting sums its gradients
    }
    return gx;
  }

 private:
  bool ta_, tb_;
};

// y = x W^T + b in one GEMM (the bias row is broadcast into the accumulator).
class Linear : public FunctionNode {
 public:
  std::string label() const override { return "linear"; }
  void check_type_forward(const std::vector<Tensor>& x) override {
    const Tensor& in = x[0];
    const Tensor& W = x[1];
    if (in.ndim() != 2)
      throw Error(CT_INVALID_ARGUMENT, "linear: x must be a matrix (batch, features), got " + in.shape().str());
    if (W.ndim() != 2) throw Error(CT_INVALID_ARGUMENT, "linear: W must be a matrix (out, in), got " + W.shape().str());
    if (in.shape()[1] != W.shape()[1])
      throw Error(CT_INVALID_ARGUMENT, "linear: x has " + std::to_string(in.shape()[1]) + " features but W " +
                                           W.shape().str() + " expects " + std::to_string(W.shape()[1]) +
                                           " (did you mean Linear(" + std::to_string(in.shape()[1]) + ", " +
                                           std::to_string(W.shape()[0]) + ")?)");
    detail::expect_float(*this, in, "x");
    detail::expect_same_dtype(*this, in, W);
    if (x.size() == 3) {
      detail::expect_same_dtype(*this, in, x[2]);
      if (x[2].ndim() != 1 || x[2].shape()[0] != W.shape()[0])
        throw Error(CT_INVALID_ARGUMENT, "linear: b has shape " + x[2].shape().str() + " but W " + W.shape().str() +
                                             " needs (" + std::to_string(W.shape()[0]) + ",)");
    }
  }
  std::vector<Tensor> forward(const std::vector<Tensor>& x) override {
    retain_inputs({0, 1});
    if (x.size() == 3) return {ops::gemm(x[0], x[1], x[2], false, true, 1.0, 1.0)};
    return {ops::gemm(x[0], x[1], false, true, 1.0)};
  }
  std::vector<Variable> backward(const std::vector<int>& idx, const std::vector<Variable>& gy) override {
    std::vector<Variable> x = get_retained_inputs();
    std::vector<Variable> gx(inputs().size());
    for (int i : idx) {
      if (i == 0) gx[0] = matmul(gy[0], x[1]);
      if (i == 1) gx[1] = matmul(gy[0], x[0], true, false);
      if (i == 2) gx[2] = sum(gy[0], {0});
    }
    return gx;
  }
};

}  // namespace

Variable matmul(const Variable& a, const Variable& b, bool transa, bool transb) {
  return apply1<MatMul>({a, b}, transa, transb);
}

Variable linear(const Variable& x, const Variable& W, const Variable& b, int n_batch_axes) {
  if (n_batch_axes < 1)
    throw Error(CT_INVALID_ARGUMENT, "linear: n_batch_axes must be at least 1, got " + std::to_string(n_batch_axes));
  if (x.ndim() < n_batch_axes)
    throw Error(CT_INVALID_ARGUMENT, "linear: x " + x.shape().str() + " has fewer than n_batch_axes=" +
                                         std::to_string(n_batch_axes) + " dimensions");
  Shape batch;
  int64_t rows = 1;
  for (int i = 0; i < n_batch_axes; ++i) batch.push_back(x.shape()[i]), rows *= x.shape()[i];
  Variable x2 = x.ndim() == 2 && n_batch_axes == 1 ? x : reshape(x, Shape{rows, x.size() / std::max<int64_t>(rows, 1)});
  Variable y = b.defined() ? apply1<Linear>({x2, W, b}) : apply1<Linear>({x2, W});
  if (n_batch_axes == 1) return y;
  batch.push_back(W.shape()[0]);
  return reshape(y, batch);
}

Variable mean_squared_error(const Variable& x0, const Variable& x1) {
  if (x0.shape() != x1.shape())
    throw Error(CT_INVALID_ARGUMENT, "mean_squared_error: x0 " + x0.shape().str() + " and x1 " + x1.shape().str() +
                                         " must have the same shape");
  Variable d = sub(x0, x1);
  return mul_scalar(sum(square(d)), 1.0 / static_cast<double>(std::max<int64_t>(d.size(), 1)));
}

}  // namespace F
}  // namespace catena
