// Array ops: the runtime's front end to the core ops of api/OPS.md. They compute output
// shapes and dtypes, check arguments, allocate outputs and dispatch to the device of
// their inputs (with CPU fallback). No autograd here.
#pragma once

#include <catena/ct_op.h>
#include <catena/tensor.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace catena {

// Attributes of an op call, built fluently: Attrs().i("axis", 1).f("alpha", 0.5).
// Names must be string literals (or otherwise outlive the Attrs).
class Attrs {
 public:
  Attrs& i(const char* name, int64_t v);
  Attrs& f(const char* name, double v);
  Attrs& b(const char* name, bool v);
  Attrs& s(const char* name, const std::string& v);
  Attrs& ints(const char* name, const std::vector<int64_t>& v);
  Attrs& dtype(const char* name, Dtype v);
  const ct_attr* data() const { return attrs_.data(); }
  int size() const { return static_cast<int>(attrs_.size()); }

  Attrs() = default;
  Attrs(const Attrs& other);
  Attrs(const ct_attr* attrs, int count);  // a deep copy
  Attrs& operator=(const Attrs& other);
  Attrs(Attrs&&) = default;  // moving keeps the strings' and arrays' addresses
  Attrs& operator=(Attrs&&) = default;

 private:
  std::vector<ct_attr> attrs_;
  // Held by pointer so that growing the lists keeps the addresses the attrs point to;
  // empty lists allocate nothing (most op calls have no string or array attribute).
  std::vector<std::unique_ptr<std::string>> strings_;
  std::vector<std::unique_ptr<std::vector<int64_t>>> int_arrays_;
};

// Would `device` run op `name` with these operands natively? Returns the backend's
// answer (a ct_support) and, when unsupported, its reason. Answers are cached.
std::pair<int32_t, std::string> query_support(Device& device, const char* name, int version,
                                              const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                                              const Attrs& attrs = Attrs());

// Run op `name` (catalogue version `version`) with inputs and preallocated outputs on
// the device of the outputs. Checks that every tensor is on that device. Falls back to
// the CPU when the device does not support it (see CATENA_FALLBACK).
void launch(const char* name, int version, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            const Attrs& attrs = Attrs());

namespace ops {

Shape broadcast_shapes(const Shape& a, const Shape& b);

void fill(const Tensor& out, double value);
void copy(const Tensor& dst, const Tensor& src);  // broadcasts src, casts dtype

// Elementwise unary (float dtypes; neg, abs, square and relu also take integers).
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor unary(const char* op, const Tensor& x);

// Elementwise binary with numpy broadcasting; both inputs must have one dtype.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor binary(const char* op, const Tensor& a, const Tensor& b);
// Comparisons give bool.
Tensor equal(const Tensor& a, const Tensor& b);
Tensor less(const Tensor& a, const Tensor& b);
Tensor greater(const Tensor& a, const Tensor& b);
Tensor compare(const char* op, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Reductions over `axes` (empty = all). Negative axes count from the end.
Tensor sum(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor mean(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor max(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor min(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);
Tensor argmax(const Tensor& x, int axis, bool keepdims = false);

// Y = alpha * op(A) @ op(B) (+ beta * C): A, B of rank 2, or rank 3 (batched).
Tensor gemm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false, double alpha = 1.0);
Tensor gemm(const Tensor& a, const Tensor& b, const Tensor& c, bool trans_a, bool trans_b, double alpha, double beta);
Tensor matmul(const Tensor& a, const Tensor& b);

// numpy.take along `axis` (int32/int64 indices, negative ones count from the end), and
// its adjoint: base with `updates` added at those positions (repeats accumulate).
Tensor take(const Tensor& x, const Tensor& indices, int axis);
Tensor take_add(const Tensor& base, const Tensor& indices, const Tensor& updates, int axis);

// The int8 ops of api/OPS.md. quantize: rint(x * inv_scale) + zero_point, saturated to
// `to` (int8 or uint8); dequantize: (q - zero_point) * scale as `to`. Scales broadcast
// to the operand's shape. gemm_i8: a (M, K) and b (N, K) int8, exact int32 a bᵀ; with
// a_scale (M, or one value) and b_scale (N, or one): float32 acc * (a_scale b_scale) +
// bias (N; undefined for none).
Tensor quantize(const Tensor& x, const Tensor& inv_scale, Dtype to = int8, int64_t zero_point = 0);
Tensor dequantize(const Tensor& q, const Tensor& scale, Dtype to = float32, int64_t zero_point = 0);
Tensor gemm_i8(const Tensor& a, const Tensor& b);
Tensor gemm_i8(const Tensor& a, const Tensor& b, const Tensor& a_scale, const Tensor& b_scale,
               const Tensor& bias = Tensor());

// Random numbers from the counter-based generator of api/OPS.md: the same (seed,
// offset) give the same numbers on every device.
Tensor random_uniform(const Shape& shape, Dtype dtype, Device& device, uint64_t seed, uint64_t offset, double low = 0,
                      double high = 1);
Tensor random_normal(const Shape& shape, Dtype dtype, Device& device, uint64_t seed, uint64_t offset, double mean = 0,
                     double stddev = 1);

// 2-D convolution geometry (Chainer's conventions: NCHW, filters OIHW).
struct Conv2d {
  int64_t sy = 1, sx = 1, ph = 0, pw = 0, dy = 1, dx = 1;
  int64_t groups = 1;
  bool cover_all = false;
  int64_t out_h(int64_t h, int64_t kh) const;
  int64_t out_w(int64_t w, int64_t kw) const;
  Attrs attrs() const;
};
Tensor conv2d(const Tensor& x, const Tensor& W, const Tensor& b, const Conv2d& g);
Tensor conv2d_grad_input(const Tensor& gy, const Tensor& W, const Shape& x_shape, const Conv2d& g);
Tensor conv2d_grad_weight(const Tensor& x, const Tensor& gy, const Shape& w_shape, const Conv2d& g);

struct Pool2d {
  int64_t kh = 1, kw = 1, sy = 1, sx = 1, ph = 0, pw = 0;
  bool cover_all = false;
  int64_t out_h(int64_t h) const;
  int64_t out_w(int64_t w) const;
  Attrs attrs() const;
};
// Returns {y, indexes}: indexes (int32) locate each maximum within its input plane.
std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const Pool2d& p);
Tensor max_pool2d_grad(const Tensor& gy, const Tensor& indexes, const Shape& x_shape, const Pool2d& p);
Tensor max_pool2d_gather(const Tensor& x, const Tensor& indexes, const Pool2d& p);
Tensor avg_pool2d(const Tensor& x, const Pool2d& p);
Tensor avg_pool2d_grad(const Tensor& gy, const Shape& x_shape, const Pool2d& p);

}  // namespace ops
}  // namespace catena
