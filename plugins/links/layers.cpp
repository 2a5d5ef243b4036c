// Convolution2D, Deconvolution2D, BatchNormalization, EmbedID, Sequential, Classifier.
#include <catena/config.hpp>
#include <catena/functions.hpp>
#include <catena/links.hpp>
#include <catena/training.hpp>

namespace catena {
namespace L {

namespace {

void positive(int64_t v, const char* link, const char* what) {
  if (v <= 0)
    throw Error(CT_INVALID_ARGUMENT, std::string(link) + ": " + what + " must be positive, got " + std::to_string(v));
}

}  // namespace

Convolution2D::Convolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, Options o)
    : W(o.initialW), b(o.initial_bias ? o.initial_bias : initializers::Zero()), out_channels_(out_channels),
      ksize_(ksize), o_(std::move(o)) {
  positive(out_channels, "Convolution2D", "out_channels");
  positive(ksize, "Convolution2D", "ksize");
  positive(o_.stride, "Convolution2D", "stride");
  positive(o_.groups, "Convolution2D", "groups");
  if (in_channels < 0) throw Error(CT_INVALID_ARGUMENT, "Convolution2D: in_channels must be >= 0 (0: from the first input)");
  if (out_channels % o_.groups)
    throw Error(CT_INVALID_ARGUMENT, "Convolution2D: out_channels must be a multiple of groups");
  register_param("W", W);
  if (in_channels > 0) make_W(in_channels);
  if (!o_.nobias) {
    register_param("b", b);
    b.initialize(Shape{out_channels}, device());
  }
}

Convolution2D::Convolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, int64_t stride, int64_t pad,
                             bool nobias)
    : Convolution2D(in_channels, out_channels, ksize, Options{stride, pad, 1, 1, nobias, false, {}, {}}) {}

void Convolution2D::make_W(int64_t in_channels) {
  if (in_channels % o_.groups)
    throw Error(CT_INVALID_ARGUMENT, "Convolution2D: " + std::to_string(in_channels) +
                                         " input channels are not a multiple of groups " + std::to_string(o_.groups));
  W.initialize(Shape{out_channels_, in_channels / o_.groups, ksize_, ksize_}, device());
}

Variable Convolution2D::forward(const Variable& x) {
  if (x.ndim() != 4) throw Error(CT_INVALID_ARGUMENT, "Convolution2D: needs (N, C, H, W) input, got " + x.shape().str());
  if (!W.is_initialized()) make_W(x.shape()[1]);
  ops::Conv2d g;
  g.sy = g.sx = o_.stride;
  g.ph = g.pw = o_.pad;
  g.dy = g.dx = o_.dilate;
  g.groups = o_.groups;
  g.cover_all = o_.cover_all;
  return F::convolution_2d(x, W, o_.nobias ? Variable() : Variable(b), g);
}

Deconvolution2D::Deconvolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, Options o)
    : W(o.initialW), b(o.initial_bias ? o.initial_bias : initializers::Zero()), out_channels_(out_channels),
      ksize_(ksize), o_(std::move(o)) {
  positive(out_channels, "Deconvolution2D", "out_channels");
  positive(ksize, "Deconvolution2D", "ksize");
  positive(o_.stride, "Deconvolution2D", "stride");
  positive(o_.groups, "Deconvolution2D", "groups");
  if (in_channels < 0) throw Error(CT_INVALID_ARGUMENT, "Deconvolution2D: in_channels must be >= 0 (0: from the first input)");
  register_param("W", W);
  if (in_channels > 0) make_W(in_channels);
  if (!o_.nobias) {
    register_param("b", b);
    b.initialize(Shape{out_channels}, device());
  }
}

Deconvolution2D::Deconvolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, int64_t stride,
                                 int64_t pad, bool nobias)
    : Deconvolution2D(in_channels, out_channels, ksize, Options{stride, pad, 1, 1, nobias, {}, {}, {}}) {}

void Deconvolution2D::make_W(int64_t in_channels) {
  if (out_channels_ % o_.groups || in_channels % o_.groups)
    throw Error(CT_INVALID_ARGUMENT, "Deconvolution2D: channels must be multiples of groups");
  W.initialize(Shape{in_channels, out_channels_ / o_.groups, ksize_, ksize_}, device());
}

Variable Deconvolution2D::forward(const Variable& x) {
  if (x.ndim() != 4) throw Error(CT_INVALID_ARGUMENT, "Deconvolution2D: needs (N, C, H, W) input, got " + x.shape().str());
  if (!W.is_initialized()) make_W(x.shape()[1]);
  ops::Conv2d g;
  g.sy = g.sx = o_.stride;
  g.ph = g.pw = o_.pad;
  g.dy = g.dx = o_.dilate;
  g.groups = o_.groups;
  return F::deconvolution_2d(x, W, o_.nobias ? Variable() : Variable(b), g, o_.outsize);
}

BatchNormalization::BatchNormalization(int64_t size, double decay, double eps, Dtype dtype, bool use_gamma,
                                       bool use_beta)
    : gamma(initializers::One(), Shape{}, false, dtype), beta(initializers::Zero(), Shape{}, false, dtype),
      decay(decay), eps(eps), use_gamma_(use_gamma), use_beta_(use_beta) {
  positive(size, "BatchNormalization", "size");
  if (use_gamma) {
    register_param("gamma", gamma);
    gamma.initialize(Shape{size}, device());
  } else {
    gamma = Parameter(Tensor::full(Shape{size}, 1.0, dtype, device()));
  }
  if (use_beta) {
    register_param("beta", beta);
    beta.initialize(Shape{size}, device());
  } else {
    beta = Parameter(Tensor::zeros(Shape{size}, dtype, device()));
  }
  avg_mean = Tensor::zeros(Shape{size}, dtype, device());
  avg_var = Tensor::zeros(Shape{size}, dtype, device());
  N = Tensor::zeros(Shape{}, int64, device());
  register_persistent("avg_mean", avg_mean);
  register_persistent("avg_var", avg_var);
  register_persistent("N", N);
}

Variable BatchNormalization::forward(const Variable& x) {
  if (&gamma.device() != &x.device() && !use_gamma_) gamma = Parameter(gamma.array().to(x.device()));
  if (&beta.device() != &x.device() && !use_beta_) beta = Parameter(beta.array().to(x.device()));
  Variable g = use_gamma_ ? Variable(gamma) : Variable(gamma.array());
  Variable bt = use_beta_ ? Variable(beta) : Variable(beta.array());
  if (config().train) return F::batch_normalization(x, g, bt, eps, avg_mean, avg_var, decay);
  return F::fixed_batch_normalization(x, g, bt, Variable(avg_mean), Variable(avg_var), eps);
}

EmbedID::EmbedID(int64_t in_size, int64_t out_size, Initializer initialW, std::optional<int64_t> ignore_label)
    : W(initialW ? initialW : initializers::Normal(1.0)), ignore_label_(ignore_label) {
  positive(in_size, "EmbedID", "in_size");
  positive(out_size, "EmbedID", "out_size");
  register_param("W", W);
  W.initialize(Shape{in_size, out_size}, device());
}

Variable EmbedID::forward(const Variable& ids) { return F::embed_id(ids.array(), W, ignore_label_); }

Sequential& Sequential::add(std::unique_ptr<Link> link) {
  Link& l = append(std::move(link));
  steps_.push_back({&l, {}});
  return *this;
}

Sequential& Sequential::add(std::function<Variable(const Variable&)> fn) {
  if (!fn) throw Error(CT_INVALID_ARGUMENT, "Sequential::add: the function is empty");
  steps_.push_back({nullptr, std::move(fn)});
  return *this;
}

Variable Sequential::forward(const Variable& x) {
  Variable h = x;
  for (auto& [link, fn] : steps_) h = link ? link->forward(h) : fn(h);
  return h;
}

Classifier::Classifier(std::shared_ptr<Link> predictor, LossFn lossfun, bool compute_accuracy)
    : compute_accuracy(compute_accuracy), predictor_(std::move(predictor)), lossfun_(std::move(lossfun)) {
  if (!predictor_) throw Error(CT_INVALID_ARGUMENT, "Classifier: the predictor is null");
  if (!lossfun_) lossfun_ = [](const Variable& y, const Tensor& t) { return F::softmax_cross_entropy(y, t); };
  register_link("predictor", *predictor_);
}

Variable Classifier::loss(const Example& batch) {
  if (batch.size() != 2)
    throw Error(CT_INVALID_ARGUMENT, "Classifier: a batch must be (x, t), got " + std::to_string(batch.size()) +
                                         " arrays");
  y = predictor_->forward(Variable(batch[0]));
  Variable loss = lossfun_(y, batch[1]);
  training::report("loss", loss, this);
  if (compute_accuracy) training::report("accuracy", F::accuracy(y, batch[1]), this);
  return loss;
}

}  // namespace L
}  // namespace catena
