// batch_normalization and fixed_batch_normalization, composed of differentiable functions.
#include "common.hpp"

namespace catena {
namespace F {

using detail::constant;

namespace {

// Reshape a per-channel vector to broadcast along axis 1 of an n-D array.
Variable per_channel(const Variable& v, int ndim) {
  Shape s;
  for (int i = 0; i < ndim; ++i) s.push_back(i == 1 ? v.shape()[0] : 1);
  return reshape(v, s);
}

void check_bn(const std::string& fn, const Variable& x, const Variable& gamma, const Variable& beta) {
  if (x.ndim() < 2) throw Error(CT_INVALID_ARGUMENT, fn + ": x must have a channel axis (N, C, ...), got " + x.shape().str());
  detail::expect_float(fn, x.array(), "x");
  int64_t c = x.shape()[1];
  for (const Variable* p : {&gamma, &beta})
    if (p->ndim() != 1 || p->shape()[0] != c)
      throw Error(CT_INVALID_ARGUMENT, fn + ": gamma and beta must be (" + std::to_string(c) + ",), got " +
                                           p->shape().str());
}

}  // namespace

Variable batch_normalization(const Variable& x, const Variable& gamma, const Variable& beta, double eps,
                             Tensor running_mean, Tensor running_var, double decay) {
  check_bn("batch_normalization", x, gamma, beta);
  std::vector<int> axes{0};
  for (int i = 2; i < x.ndim(); ++i) axes.push_back(i);
  Variable mean = F::mean(x, axes, true);
  Variable centered = sub(x, mean);
  Variable var = F::mean(square(centered), axes, true);
  Variable xhat = div(centered, sqrt(add_scalar(var, eps)));
  Variable y = add(mul(per_channel(gamma, x.ndim()), xhat), per_channel(beta, x.ndim()));
  if (running_mean.defined() || running_var.defined()) {
    int64_t m = x.size() / x.shape()[1];
    double adjust = double(m) / std::max(double(m) - 1.0, 1.0);  // unbiased variance, as Chainer keeps it
    auto guard = no_backprop_mode();
    Shape c{x.shape()[1]};
    auto blend = [&](Tensor& running, const Tensor& batch, double scale) {
      Tensor b = ops::mul(batch.reshape(c), detail::scalar_like((1.0 - decay) * scale, batch));
      Tensor updated = ops::add(ops::mul(running, detail::scalar_like(decay, running)), b.astype(running.dtype()));
      ops::copy(running, updated);
    };
    if (running_mean.defined()) blend(running_mean, mean.array(), 1.0);
    if (running_var.defined()) blend(running_var, var.array(), adjust);
  }
  return y;
}

Variable fixed_batch_normalization(const Variable& x, const Variable& gamma, const Variable& beta,
                                   const Variable& mean, const Variable& var, double eps) {
  check_bn("fixed_batch_normalization", x, gamma, beta);
  Variable xhat = div(sub(x, per_channel(mean, x.ndim())), sqrt(add_scalar(per_channel(var, x.ndim()), eps)));
  return add(mul(per_channel(gamma, x.ndim()), xhat), per_channel(beta, x.ndim()));
}

}  // namespace F
}  // namespace catena
