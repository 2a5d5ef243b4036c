// Losses and accuracy.
#include "common.hpp"

namespace catena {
namespace F {

using detail::constant;
using detail::scalar_like;

namespace {

void check_reduce(const std::string& fn, const std::string& reduce) {
  if (reduce != "mean" && reduce != "no")
    throw Error(CT_INVALID_ARGUMENT, fn + ": reduce must be \"mean\" or \"no\", got \"" + reduce + "\"");
}

void check_labels(const std::string& fn, const Tensor& t) {
  if (!t.defined() || (t.dtype() != int32 && t.dtype() != int64))
    throw Error(CT_INVALID_ARGUMENT, fn + ": t must be an int32 or int64 array of labels" +
                                         (t.defined() ? ", got " + t.dtype().name() : std::string()));
}

// arange(c) shaped to broadcast along axis 1 of an array of `ndim` dims.
Tensor class_ids(int64_t c, int ndim, Device& d) {
  std::vector<int64_t> v(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) v[i] = i;
  Shape s;
  for (int i = 0; i < ndim; ++i) s.push_back(i == 1 ? c : 1);
  return Tensor::from_vector(v, s, d);
}

// t (N, ...) -> (N, 1, ...) as int64, to compare against class_ids.
Tensor labels_along_axis1(const Tensor& t) {
  Shape s;
  s.push_back(t.shape()[0]);
  s.push_back(1);
  for (int i = 1; i < t.ndim(); ++i) s.push_back(t.shape()[i]);
  return t.astype(int64).reshape(s);
}

Variable mean_over(const Variable& per_sample, double count) {
  return mul_scalar(sum(per_sample), 1.0 / std::max(count, 1.0));
}

}  // namespace

Variable softmax_cross_entropy(const Variable& x, const Tensor& t, bool normalize, int64_t ignore_label,
                               const std::string& reduce, const Tensor& class_weight) {
  const std::string fn = "softmax_cross_entropy";
  check_reduce(fn, reduce);
  check_labels(fn, t);
  if (x.ndim() < 2 || t.ndim() != x.ndim() - 1 || t.shape()[0] != x.shape()[0])
    throw Error(CT_INVALID_ARGUMENT, fn + ": x " + x.shape().str() + " must be (N, classes, ...) and t " +
                                         t.shape().str() + " (N, ...)");
  for (int i = 1; i < t.ndim(); ++i)
    if (t.shape()[i] != x.shape()[i + 1])
      throw Error(CT_INVALID_ARGUMENT, fn + ": t " + t.shape().str() + " does not match x " + x.shape().str());
  int64_t classes = x.shape()[1];
  Tensor ignore = Tensor::full(Shape{}, double(ignore_label), t.dtype(), t.device());
  Tensor valid = ops::compare("core.not_equal", t, ignore);
  // Labels outside [0, classes) other than ignore_label are an error, as in Chainer.
  {
    Tensor lo = ops::less(t, Tensor::zeros(Shape{}, t.dtype(), t.device()));
    Tensor hi = ops::compare("core.greater_equal", t, Tensor::full(Shape{}, double(classes), t.dtype(), t.device()));
    Tensor bad = ops::where(valid, ops::where(lo, lo, hi), Tensor::zeros(Shape{}, bool_, t.device()));
    if (ops::sum(bad.astype(int64)).to_vector<int64_t>()[0] > 0)
      throw Error(CT_OUT_OF_RANGE, fn + ": a label is outside [0, " + std::to_string(classes) +
                                       ") and is not ignore_label (" + std::to_string(ignore_label) + ")");
  }
  Tensor onehot = ops::equal(labels_along_axis1(t), class_ids(classes, x.ndim(), t.device()));
  Variable logp = log_softmax(x, 1);
  Variable zero = constant(Tensor::zeros(Shape{}, x.dtype(), x.device()));
  Variable nll = neg(sum(where(onehot, logp, zero), {1}));  // (N, ...); 0 where ignored (no class matches)
  if (class_weight.defined()) {
    if (class_weight.ndim() != 1 || class_weight.shape()[0] != classes)
      throw Error(CT_INVALID_ARGUMENT, fn + ": class_weight must be (" + std::to_string(classes) + ",), got " +
                                           class_weight.shape().str());
    Tensor safe = ops::where(valid, t, Tensor::zeros(Shape{}, t.dtype(), t.device()));
    nll = mul(nll, constant(ops::take(class_weight.astype(x.dtype()), safe, 0)));
  }
  if (reduce == "no") return nll;
  double count = normalize ? double(ops::sum(valid.astype(int64)).to_vector<int64_t>()[0]) : double(x.shape()[0]);
  return mean_over(nll, count);
}

Variable sigmoid_cross_entropy(const Variable& x, const Tensor& t, bool normalize, const std::string& reduce) {
  const std::string fn = "sigmoid_cross_entropy";
  check_reduce(fn, reduce);
  check_labels(fn, t);
  if (t.shape() != x.shape())
    throw Error(CT_INVALID_ARGUMENT, fn + ": x " + x.shape().str() + " and t " + t.shape().str() + " must match");
  Tensor valid = ops::compare("core.not_equal", t, Tensor::full(Shape{}, -1, t.dtype(), t.device()));
  Tensor tf = t.astype(x.dtype());
  // -(x (t - [x >= 0]) - log(1 + exp(-|x|))), stable for large |x|.
  Tensor step = ops::compare("core.greater_equal", x.array(), Tensor::zeros(Shape{}, x.dtype(), x.device()))
                    .astype(x.dtype());
  Variable loss = sub(log(add_scalar(exp(neg(absolute(x))), 1.0)), mul(x, constant(ops::sub(tf, step))));
  Variable zero = constant(Tensor::zeros(Shape{}, x.dtype(), x.device()));
  loss = where(valid, loss, zero);
  if (reduce == "no") return loss;
  double count = normalize ? double(ops::sum(valid.astype(int64)).to_vector<int64_t>()[0]) : double(x.shape()[0]);
  return mean_over(loss, count);
}

Variable hinge(const Variable& x, const Tensor& t, const std::string& norm, const std::string& reduce) {
  const std::string fn = "hinge";
  check_reduce(fn, reduce);
  check_labels(fn, t);
  if (norm != "L1" && norm != "L2")
    throw Error(CT_INVALID_ARGUMENT, fn + ": norm must be \"L1\" or \"L2\", got \"" + norm + "\"");
  if (x.ndim() != 2 || t.ndim() != 1 || t.shape()[0] != x.shape()[0])
    throw Error(CT_INVALID_ARGUMENT, fn + ": x must be (N, classes) and t (N,), got " + x.shape().str() + " and " +
                                         t.shape().str());
  Tensor onehot = ops::equal(labels_along_axis1(t), class_ids(x.shape()[1], 2, t.device()));
  Tensor sign = ops::where(onehot, scalar_like(-1, x.array()), scalar_like(1, x.array()));
  Variable margin = relu(add_scalar(mul(x, constant(sign)), 1.0));
  if (norm == "L2") margin = square(margin);
  if (reduce == "no") return margin;
  return mul_scalar(sum(margin), 1.0 / double(x.shape()[0]));
}

Variable contrastive(const Variable& x0, const Variable& x1, const Tensor& y, double margin, const std::string& reduce) {
  const std::string fn = "contrastive";
  check_reduce(fn, reduce);
  check_labels(fn, y);
  if (x0.shape() != x1.shape() || x0.ndim() != 2 || y.ndim() != 1 || y.shape()[0] != x0.shape()[0])
    throw Error(CT_INVALID_ARGUMENT, fn + ": x0 and x1 must be (N, K) and y (N,), got " + x0.shape().str() + ", " +
                                         x1.shape().str() + " and " + y.shape().str());
  Variable dist_sq = sum(square(sub(x0, x1)), {1});
  Variable dist = sqrt(dist_sq);
  Variable mdist = relu(rsub_scalar(margin, dist));
  Variable yf = constant(y.astype(x0.dtype()));
  Variable loss = mul_scalar(add(mul(yf, dist_sq), mul(rsub_scalar(1.0, yf), square(mdist))), 0.5);
  if (reduce == "no") return loss;
  return mul_scalar(sum(loss), 1.0 / double(x0.shape()[0]));
}

Variable triplet(const Variable& anchor, const Variable& positive, const Variable& negative, double margin,
                 const std::string& reduce) {
  const std::string fn = "triplet";
  check_reduce(fn, reduce);
  if (anchor.shape() != positive.shape() || anchor.shape() != negative.shape() || anchor.ndim() != 2)
    throw Error(CT_INVALID_ARGUMENT, fn + ": anchor, positive and negative must share one (N, K) shape, got " +
                                         anchor.shape().str() + ", " + positive.shape().str() + ", " +
                                         negative.shape().str());
  Variable d = sub(sum(square(sub(anchor, positive)), {1}), sum(square(sub(anchor, negative)), {1}));
  Variable loss = relu(add_scalar(d, margin));
  if (reduce == "no") return loss;
  return mul_scalar(sum(loss), 1.0 / double(anchor.shape()[0]));
}

Variable margin_ranking(const Variable& x1, const Variable& x2, const Tensor& y, double margin,
                        const std::string& reduce) {
  const std::string fn = "margin_ranking";
  check_reduce(fn, reduce);
  if (x1.shape() != x2.shape() || y.shape() != x1.shape())
    throw Error(CT_INVALID_ARGUMENT, fn + ": x1, x2 and y must share one shape, got " + x1.shape().str() + ", " +
                                         x2.shape().str() + " and " + y.shape().str());
  Variable loss = relu(add_scalar(mul(constant(ops::neg(y.astype(x1.dtype()))), sub(x1, x2)), margin));
  if (reduce == "no") return loss;
  return mul_scalar(sum(loss), 1.0 / double(std::max<int64_t>(x1.size(), 1)));
}

Variable accuracy(const Variable& y, const Tensor& t, std::optional<int64_t> ignore_label) {
  check_labels("accuracy", t);
  if (y.ndim() < 2 || t.ndim() != y.ndim() - 1 || t.shape()[0] != y.shape()[0])
    throw Error(CT_INVALID_ARGUMENT, "accuracy: y " + y.shape().str() + " must be (N, classes, ...) and t " +
                                         t.shape().str() + " (N, ...)");
  Tensor pred = ops::argmax(y.array(), 1);
  Tensor hit = ops::equal(pred, t.astype(int64));
  int64_t count = t.numel();
  if (ignore_label) {
    Tensor valid = ops::compare("core.not_equal", t, Tensor::full(Shape{}, double(*ignore_label), t.dtype(), t.device()));
    hit = ops::where(valid, hit, Tensor::zeros(Shape{}, bool_, t.device()));
    count = ops::sum(valid.astype(int64)).to_vector<int64_t>()[0];
  }
  int64_t hits = ops::sum(hit.astype(int64)).to_vector<int64_t>()[0];
  double acc = count ? double(hits) / double(count) : 0.0;
  return Variable(Tensor::full(Shape{}, acc, y.dtype(), y.device()), false);
}

}  // namespace F
}  // namespace catena
