// Layers computed in int8: the activations quantized (per row at run time, or with a
// calibrated scale), the product in int8 with exact int32 sums (core.gemm_i8), the
// result rescaled to float32 with the bias added in the same op.
#include <catena/functions.hpp>
#include <catena/ops.hpp>

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
  Tensor y = ops::gemm_i8(xq, q, xs, scale, b.defined() ? b.array() : Tensor());
  batch.push_back(q.shape()[0]);
  y = y.reshape(batch);
  return Variable(a.dtype() == float32 ? y : y.astype(a.dtype()), false);
}

}  // namespace F
}  // namespace catena
