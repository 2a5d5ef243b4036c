// catena::F — differentiable functions on Variables, with Chainer's names and semantics.
#pragma once

#include <catena/variable.hpp>

#include <vector>

namespace catena {
namespace F {

// ---- arithmetic (numpy broadcasting) ----
Variable add(const Variable& a, const Variable& b);
Variable add(const std::vector<Variable>& xs);  // n-ary sum, same shapes
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable neg(const Variable& x);
Variable pow(const Variable& a, const Variable& b);
Variable pow(const Variable& x, double p);
Variable add_scalar(const Variable& x, double c);
Variable mul_scalar(const Variable& x, double c);
Variable rsub_scalar(double c, const Variable& x);  // c - x
Variable rdiv_scalar(double c, const Variable& x);  // c / x
Variable maximum(const Variable& a, const Variable& b);
Variable minimum(const Variable& a, const Variable& b);

// ---- elementwise math ----
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable sqrt(const Variable& x);
Variable square(const Variable& x);
Variable absolute(const Variable& x);
Variable sin(const Variable& x);
Variable cos(const Variable& x);
Variable identity(const Variable& x);
Variable clip(const Variable& x, double x_min, double x_max);

// ---- activations ----
Variable relu(const Variable& x);
Variable leaky_relu(const Variable& x, double slope = 0.2);
Variable sigmoid(const Variable& x);
Variable tanh(const Variable& x);
Variable softplus(const Variable& x, double beta = 1.0);
Variable elu(const Variable& x, double alpha = 1.0);
Variable selu(const Variable& x, double alpha = 1.6732632423543772848170429916717,
              double scale = 1.0507009873554804934193349852946);
Variable softmax(const Variable& x, int axis = 1);
Variable log_softmax(const Variable& x, int axis = 1);

// ---- array manipulation ----
Variable reshape(const Variable& x, const Shape& shape);
Variable broadcast_to(const Variable& x, const Shape& shape);
Variable sum_to(const Variable& x, const Shape& shape);
Variable transpose(const Variable& x, const std::vector<int>& axes = {});
Variable expand_dims(const Variable& x, int axis);
Variable squeeze(const Variable& x, const std::vector<int>& axes = {});
Variable flatten(const Variable& x);
Variable cast(const Variable& x, Dtype dtype);
Variable where(const Tensor& condition, const Variable& a, const Variable& b);

// ---- reductions ----
Variable sum(const Variable& x, const std::vector<int>& axes = {}, bool keepdims = false);
Variable mean(const Variable& x, const std::vector<int>& axes = {}, bool keepdims = false);
Variable average(const Variable& x, const std::vector<int>& axes = {}, bool keepdims = false);
Variable max(const Variable& x, const std::vector<int>& axes = {}, bool keepdims = false);
Variable min(const Variable& x, const std::vector<int>& axes = {}, bool keepdims = false);
Variable logsumexp(const Variable& x, const std::vector<int>& axes = {});

// ---- connections ----
// y = x W^T + b, x of shape (N, ...) flattened to (N, in_size) from n_batch_axes on.
Variable linear(const Variable& x, const Variable& W, const Variable& b = Variable(), int n_batch_axes = 1);
// Matrix product of rank-2 (or batched rank-3) operands, optionally transposed.
Variable matmul(const Variable& a, const Variable& b, bool transa = false, bool transb = false);

// ---- losses ----
Variable mean_squared_error(const Variable& x0, const Variable& x1);

}  // namespace F
}  // namespace catena
