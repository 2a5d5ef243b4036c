// catena::F — differentiable functions on Variables, with Chainer's names and semantics.
#pragma once

#include <catena/ops.hpp>
#include <catena/variable.hpp>

#include <optional>
#include <string>
#include <utility>
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
// Broadcast several variables to their common shape (Chainer's F.broadcast).
std::vector<Variable> broadcast(const std::vector<Variable>& xs);
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
// Index of the maximum along `axis` (int32, as Chainer; not differentiable).
Variable argmax(const Variable& x, int axis);

// ---- connections ----
// y = x W^T + b, x of shape (N, ...) flattened to (N, in_size) from n_batch_axes on.
Variable linear(const Variable& x, const Variable& W, const Variable& b = Variable(), int n_batch_axes = 1);
// linear with int8 weights q (out_size, in_size) and their float32 scales (out_size): x
// is quantized per row at run time (dynamic), or with the calibrated float32 scalar
// input_scale (static; undefined: dynamic), multiplied in int8 (core.gemm_i8) and
// rescaled to float32. Inference only: the result has no gradient.
Variable linear_int8(const Variable& x, const Tensor& q, const Tensor& scale, const Tensor& input_scale,
                     const Variable& b = Variable(), int n_batch_axes = 1);
// Quantization-aware training: W fake-quantized per output channel (axis 0), with a
// straight-through gradient (it passes unchanged to W). scheme "int8": symmetric int8 with
// scale max |w| / 127 per channel, rint(w / scale) * scale; "binary": sign(w) (+1 at 0)
// times the channel's mean |w| (BinaryConnect / XNOR-Net's binary weights).
Variable fake_quantize(const Variable& W, const std::string& scheme = "int8");
// 2-D convolution (groups 1) with int8 filters q (OC, C, KH, KW) and their float32 scales
// (OC): x quantized with the calibrated float32 scalar input_scale (per image at run time
// when undefined), gathered into columns and multiplied in int8; float32 out. Inference only.
// Filters of fewer than 32 taps (C·KH·KW: a first layer's 1 x 3 x 3), where int8 is slower,
// multiply the same quantized values in float32. `filters`, when given, is int8_conv_filters(q), kept by the caller so that it is not made
// again on every call (Parameter::Int8 keeps it).
Variable convolution_2d_int8(const Variable& x, const Tensor& q, const Tensor& scale, const Tensor& input_scale,
                             const Variable& b, const ops::Conv2d& geometry, const Tensor& filters = Tensor());
// int8 filters (OC, C, KH, KW) in the order convolution_2d_int8 multiplies them:
// (OC, KH·KW·C), channels innermost.
Tensor int8_conv_filters(const Tensor& q);
// Matrix product of rank-2 (or batched rank-3) operands, optionally transposed.
Variable matmul(const Variable& a, const Variable& b, bool transa = false, bool transb = false);

// ---- indexing ----
// One entry of an index expression, as in x[1, 2:5, newaxis, idx] in numpy.
struct Index {
  enum Kind { integer, slice, new_axis, array } kind = slice;
  int64_t value = 0;                      // integer
  std::optional<int64_t> start, stop;     // slice (absent: the whole extent)
  int64_t step = 1;                       // slice
  Tensor indices;                         // array: int32/int64 positions along one axis
  Index(int64_t v) : kind(integer), value(v) {}  // NOLINT: x[{1, 2}] reads naturally
  Index(int v) : kind(integer), value(v) {}      // NOLINT
  explicit Index(const Tensor& idx) : kind(array), indices(idx) {}
  static Index range(std::optional<int64_t> start = {}, std::optional<int64_t> stop = {}, int64_t step = 1);
  static Index all() { return range(); }
  static Index newaxis();

 private:
  Index() = default;
};
Variable get_item(const Variable& x, const std::vector<Index>& index);
Variable concat(const std::vector<Variable>& xs, int axis = 1);
Variable stack(const std::vector<Variable>& xs, int axis = 0);
// Split at the given positions, or into `sections` equal parts.
std::vector<Variable> split_axis(const Variable& x, const std::vector<int64_t>& indices, int axis);
std::vector<Variable> split_axis(const Variable& x, int64_t sections, int axis);
// W[x] for integer ids x; rows whose id equals ignore_label (if given) are zero.
Variable embed_id(const Tensor& x, const Variable& W, std::optional<int64_t> ignore_label = {});
// x[i, t[i]] for each row i (Chainer's select_item).
Variable select_item(const Variable& x, const Tensor& t);

// ---- noise ----
// Zeroes each element with probability `ratio` and scales the rest by 1/(1-ratio), when
// config().train; the identity otherwise. Draws from default_generator().
Variable dropout(const Variable& x, double ratio = 0.5);

// ---- convolution and pooling (NCHW) ----
Variable convolution_2d(const Variable& x, const Variable& W, const Variable& b = Variable(), int64_t stride = 1,
                        int64_t pad = 0, bool cover_all = false, int64_t dilate = 1, int64_t groups = 1);
Variable convolution_2d(const Variable& x, const Variable& W, const Variable& b, const ops::Conv2d& geometry);
// W is (in_channels, out_channels / groups, kh, kw); outsize defaults to the smallest
// size that convolution_2d maps back to x's.
Variable deconvolution_2d(const Variable& x, const Variable& W, const Variable& b = Variable(), int64_t stride = 1,
                          int64_t pad = 0, std::optional<std::pair<int64_t, int64_t>> outsize = {}, int64_t dilate = 1,
                          int64_t groups = 1);
Variable deconvolution_2d(const Variable& x, const Variable& W, const Variable& b, const ops::Conv2d& geometry,
                          std::optional<std::pair<int64_t, int64_t>> outsize = {});
// stride defaults to ksize; cover_all defaults to true, as in Chainer.
Variable max_pooling_2d(const Variable& x, int64_t ksize, std::optional<int64_t> stride = {}, int64_t pad = 0,
                        bool cover_all = true);
Variable max_pooling_2d(const Variable& x, const ops::Pool2d& p);
Variable average_pooling_2d(const Variable& x, int64_t ksize, std::optional<int64_t> stride = {}, int64_t pad = 0);
Variable average_pooling_2d(const Variable& x, const ops::Pool2d& p);

// ---- normalization ----
// Normalises over every axis but axis 1 (the channels). When running_mean/var are given
// they are updated in place (decay, and var unbiased as in Chainer).
Variable batch_normalization(const Variable& x, const Variable& gamma, const Variable& beta, double eps = 2e-5,
                             Tensor running_mean = Tensor(), Tensor running_var = Tensor(), double decay = 0.9);
Variable fixed_batch_normalization(const Variable& x, const Variable& gamma, const Variable& beta,
                                   const Variable& mean, const Variable& var, double eps = 2e-5);

// ---- recurrent ----
// Chainer's lstm: x has 4 * units columns, gates interleaved per unit (a, i, f, o).
// Returns {c, h}. Rows of c_prev beyond x's batch pass through unchanged.
std::pair<Variable, Variable> lstm(const Variable& c_prev, const Variable& x);

// ---- losses ----
Variable mean_squared_error(const Variable& x0, const Variable& x1);
// reduce: "mean" (a scalar) or "no" (one value per sample).
Variable softmax_cross_entropy(const Variable& x, const Tensor& t, bool normalize = true, int64_t ignore_label = -1,
                               const std::string& reduce = "mean", const Tensor& class_weight = Tensor());
Variable sigmoid_cross_entropy(const Variable& x, const Tensor& t, bool normalize = true,
                               const std::string& reduce = "mean");
Variable hinge(const Variable& x, const Tensor& t, const std::string& norm = "L1", const std::string& reduce = "mean");
Variable contrastive(const Variable& x0, const Variable& x1, const Tensor& y, double margin = 1.0,
                     const std::string& reduce = "mean");
Variable triplet(const Variable& anchor, const Variable& positive, const Variable& negative, double margin = 0.2,
                 const std::string& reduce = "mean");
// max(0, -y (x1 - x2) + margin) with y = +1 or -1 (x1 should rank higher when y = 1).
Variable margin_ranking(const Variable& x1, const Variable& x2, const Tensor& y, double margin = 0.0,
                        const std::string& reduce = "mean");

// ---- evaluation ----
// The fraction of rows whose argmax over axis 1 equals t (rows with t == ignore_label
// are not counted). Not differentiable.
Variable accuracy(const Variable& y, const Tensor& t, std::optional<int64_t> ignore_label = {});

}  // namespace F
}  // namespace catena
