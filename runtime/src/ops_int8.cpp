// The int8 ops: quantize, dequantize and the int8 product (api/OPS.md, "Quantized").
#include <catena/ops.hpp>

#include "internal.hpp"

namespace catena {
namespace ops {

namespace {

Tensor broadcast_operand(const char* fn, const Tensor& t, const char* what, const Shape& shape) {
  if (!t.defined()) throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": " + what + " is undefined");
  if (t.dtype() != float32)
    throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": " + what + " must be float32, got " + t.dtype().name());
  try {
    return t.broadcast_to(shape);
  } catch (const Error&) {
    throw Error(CT_INVALID_ARGUMENT, std::string(fn) + ": " + what + " " + t.shape().str() + " does not broadcast to " +
                                         shape.str());
  }
}

Tensor vector_of(const char* fn, const Tensor& t, const char* what, int64_t n) {
  if (t.defined() && t.ndim() > 1)
    throw Error(CT_INVALID_ARGUMENT,
                std::string(fn) + ": " + what + " must be a vector or one value, got " + t.shape().str());
  return broadcast_operand(fn, t, what, Shape{n});
}

void require_matrix(const Tensor& t, const char* what) {
  if (!t.defined()) throw Error(CT_INVALID_ARGUMENT, std::string("gemm_i8: ") + what + " is undefined");
  if (t.dtype() != int8 || t.ndim() != 2)
    throw Error(CT_INVALID_ARGUMENT, std::string("gemm_i8: ") + what + " must be an int8 matrix, got " +
                                         t.dtype().name() + " " + t.shape().str());
}

}  // namespace

Tensor quantize(const Tensor& x, const Tensor& inv_scale, Dtype to, int64_t zero_point) {
  if (!x.defined() || !x.dtype().is_float())
    throw Error(CT_INVALID_ARGUMENT, "quantize: x must be a floating-point array");
  if (to != int8 && to != uint8)
    throw Error(CT_INVALID_ARGUMENT, "quantize: quantizes to int8 or uint8, not " + to.name());
  Tensor s = broadcast_operand("quantize", inv_scale, "inv_scale", x.shape());
  Tensor q = Tensor::empty(x.shape(), to, x.device());
  static const char* name = intern("core.quantize");
  dispatch_op(name, {&x, &s}, {&q}, Attrs().i("zero_point", zero_point));
  return q;
}

Tensor dequantize(const Tensor& q, const Tensor& scale, Dtype to, int64_t zero_point) {
  if (!q.defined() || (q.dtype() != int8 && q.dtype() != uint8 && q.dtype() != int32))
    throw Error(CT_INVALID_ARGUMENT, "dequantize: q must be int8, uint8 or int32");
  if (!to.is_float()) throw Error(CT_INVALID_ARGUMENT, "dequantize: gives a floating-point array, not " + to.name());
  Tensor s = broadcast_operand("dequantize", scale, "scale", q.shape());
  Tensor y = Tensor::empty(q.shape(), to, q.device());
  static const char* name = intern("core.dequantize");
  dispatch_op(name, {&q, &s}, {&y}, Attrs().i("zero_point", zero_point));
  return y;
}

namespace {

Shape product_shape(const Tensor& a, const Tensor& b) {
  require_matrix(a, "a");
  require_matrix(b, "b");
  if (a.shape()[1] != b.shape()[1])
    throw Error(CT_INVALID_ARGUMENT, "gemm_i8: a " + a.shape().str() + " and b " + b.shape().str() +
                                         " must have one K (a is (M, K), b is (N, K))");
  return Shape{a.shape()[0], b.shape()[0]};
}

}  // namespace

Tensor gemm_i8(const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(product_shape(a, b), int32, a.device());
  static const char* name = intern("core.gemm_i8");
  dispatch_op(name, {&a, &b}, {&y});
  return y;
}

Tensor gemm_i8(const Tensor& a, const Tensor& b, const Tensor& a_scale, const Tensor& b_scale, const Tensor& bias) {
  const Shape ys = product_shape(a, b);
  Tensor sa = vector_of("gemm_i8", a_scale, "a_scale", ys[0]);
  Tensor sb = vector_of("gemm_i8", b_scale, "b_scale", ys[1]);
  Tensor y = Tensor::empty(ys, float32, a.device());
  static const char* name = intern("core.gemm_i8");
  if (bias.defined()) {
    Tensor bb = vector_of("gemm_i8", bias, "bias", ys[1]);
    dispatch_op(name, {&a, &b, &sa, &sb, &bb}, {&y});
  } else {
    dispatch_op(name, {&a, &b, &sa, &sb}, {&y});
  }
  return y;
}

}  // namespace ops
}  // namespace catena
