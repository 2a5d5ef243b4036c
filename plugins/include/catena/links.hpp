// Links (catena::L), with Chainer's names, parameters, defaults and persistent values,
// and the registry that makes a link from its name and attributes.
#pragma once

#include <catena/functions.hpp>
#include <catena/link.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

namespace catena {

namespace L {

// y = x W^T + b. W is (out_size, in_size), LeCunNormal by default; b is zero by default.
// With Linear::lazy() as in_size, W is made at the first call, from x's size.
class Linear : public Link {
 public:
  struct Lazy {};
  static Lazy lazy() { return {}; }
  Linear(int64_t in_size, int64_t out_size, bool nobias = false, Initializer initialW = {},
         Initializer initial_bias = {});
  Linear(Lazy, int64_t out_size, bool nobias = false, Initializer initialW = {}, Initializer initial_bias = {});

  Variable forward(const Variable& x) override { return forward(x, 1); }
  Variable forward(const Variable& x, int n_batch_axes);
  using Link::operator();

  Parameter W, b;
  int64_t in_size() const { return in_size_; }
  int64_t out_size() const { return out_size_; }
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  void shapes_changed() override;

 private:
  int64_t in_size_, out_size_;
  bool nobias_;
  Initializer initW_, initb_;
};

// What the convolution links share: geometry (one value for both axes), bias, and the
// initializers of W (LeCunNormal by default) and b (zero).
struct ConvOptions {
  int64_t stride = 1, pad = 0, dilate = 1, groups = 1;
  bool nobias = false;
  Initializer initialW, initial_bias;
};

// 2-D convolution: W is (out_channels, in_channels / groups, ksize, ksize). With
// in_channels 0, W is made at the first call.
class Convolution2D : public Link {
 public:
  struct Options : ConvOptions {
    bool cover_all = false;
  };
  Convolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, Options options);
  Convolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, int64_t stride = 1, int64_t pad = 0,
                bool nobias = false);
  Variable forward(const Variable& x) override;
  using Link::operator();
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  const Options& options() const { return o_; }
  void shapes_changed() override;
  Parameter W, b;

 private:
  void make_W(int64_t in_channels);
  int64_t in_channels_, out_channels_, ksize_;
  Options o_;
};

// Transposed convolution: W is (in_channels, out_channels / groups, ksize, ksize).
class Deconvolution2D : public Link {
 public:
  struct Options : ConvOptions {
    std::optional<std::pair<int64_t, int64_t>> outsize;
  };
  Deconvolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, Options options);
  Deconvolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, int64_t stride = 1, int64_t pad = 0,
                  bool nobias = false);
  Variable forward(const Variable& x) override;
  using Link::operator();
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  Parameter W, b;

 private:
  void make_W(int64_t in_channels);
  int64_t in_channels_, out_channels_, ksize_;
  Options o_;
};

// Batch normalization over every axis but 1. In training it uses the batch statistics
// and updates avg_mean = decay avg_mean + (1 - decay) mean and avg_var likewise with the
// unbiased variance; otherwise it uses avg_mean and avg_var. Persistent: avg_mean,
// avg_var, N (as Chainer).
class BatchNormalization : public Link {
 public:
  explicit BatchNormalization(int64_t size, double decay = 0.9, double eps = 2e-5, Dtype dtype = float32,
                              bool use_gamma = true, bool use_beta = true);
  Variable forward(const Variable& x) override;
  using Link::operator();
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  void shapes_changed() override;
  Parameter gamma, beta;
  Tensor avg_mean, avg_var, N;
  double decay, eps;

 private:
  int64_t size_;
  Dtype dtype_;
  bool use_gamma_, use_beta_;
};

// Word embeddings: W is (in_size, out_size), Normal(1.0) by default; rows of ids equal to
// ignore_label are zero.
class EmbedID : public Link {
 public:
  EmbedID(int64_t in_size, int64_t out_size, Initializer initialW = {}, std::optional<int64_t> ignore_label = {});
  Variable forward(const Variable& ids) override;  // ids: an integer array
  using Link::operator();
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  Parameter W;

 private:
  int64_t in_size_, out_size_;
  Initializer initW_;
  std::optional<int64_t> ignore_label_;
};

// Chainer's LSTM link: upward Linear(in, 4 out) and lateral Linear(out, 4 out, nobias),
// gates interleaved per unit (a, i, f, o) with the forget bias initialised to 1. Keeps
// the state (c, h) between calls; a smaller batch updates the first rows only.
class LSTM : public Link {
 public:
  LSTM(int64_t in_size, int64_t out_size, double forget_bias_init = 1.0);
  Variable forward(const Variable& x) override;  // returns h
  using Link::operator();
  void reset_state();
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  Linear upward, lateral;
  Variable c, h;

 private:
  int64_t in_size_, out_size_;
  double forget_bias_;
};

// Chainer's NStepLSTM: n_layers of LSTM over a list of variable-length sequences.
// Parameters per layer "<layer>/w0".."w7", "b0".."b7" as Chainer's (w0-w3 input, w4-w7
// hidden; gates i, f, a(c), o). Dropout (ratio `dropout`) applies to each layer's input
// but the first, in training.
class NStepLSTM : public ChainList {
 public:
  NStepLSTM(int64_t n_layers, int64_t in_size, int64_t out_size, double dropout = 0.0);
  // hx, cx: (n_layers, batch, out_size) or undefined (zeros). xs: one (length, in_size)
  // sequence per batch element, any lengths. Returns {hy, cy, ys}.
  std::tuple<Variable, Variable, std::vector<Variable>> forward(const Variable& hx, const Variable& cx,
                                                                const std::vector<Variable>& xs);
  using Link::forward;
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  int64_t n_layers() const { return n_layers_; }

 private:
  int64_t n_layers_, in_size_, out_size_;
  double dropout_;
};

// Links applied one after another (functions may be added as steps too).
class Sequential : public ChainList {
 public:
  Sequential& add(std::unique_ptr<Link> link);
  // An anonymous function step: runs, but a model with one cannot be saved whole.
  Sequential& add(std::function<Variable(const Variable&)> fn);
  // A function by name, with its attributes: relu, sigmoid, tanh, leaky_relu (slope),
  // softmax / log_softmax (axis), dropout (ratio), flatten, max_pooling_2d (ksize,
  // stride, pad, cover_all), average_pooling_2d (ksize, stride, pad). Saved whole.
  Sequential& add(const std::string& function, const std::map<std::string, double>& attributes = {});
  Variable forward(const Variable& x) override;
  using Link::operator();
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  // Its links, when every function step is channel-wise (relu, sigmoid, tanh, leaky_relu,
  // dropout, flatten, the poolings).
  std::vector<Link*> sequence() override;

 private:
  struct Step {
    Link* link;
    std::function<Variable(const Variable&)> fn;
    Recipe named;  // a function added by name
  };
  std::vector<Step> steps_;
};

// Chainer's Classifier: loss = lossfun(predictor(x), t); reports "loss" and, if
// compute_accuracy, "accuracy" (F::accuracy). The predictor is the child "predictor".
class Classifier : public Chain, public LossLink {
 public:
  using LossFn = std::function<Variable(const Variable& y, const Tensor& t)>;
  explicit Classifier(std::shared_ptr<Link> predictor, LossFn lossfun = {}, bool compute_accuracy = true);
  // batch = (x, t)
  Variable loss(const Example& batch) override;
  Variable forward(const Variable& x) override { return predictor_->forward(x); }
  using Link::operator();
  std::unique_ptr<Link> make_like() const override;
  Recipe recipe() const override;
  Link& predictor() { return *predictor_; }
  std::vector<Link*> sequence() override { return predictor_->sequence(); }
  bool compute_accuracy;
  bool custom_loss = false;  // made with a loss function of its own (not saveable whole)
  Variable y;  // the last prediction

 private:
  std::shared_ptr<Link> predictor_;
  LossFn lossfun_;
};

}  // namespace L

namespace links {

// Attributes of a link made by name: numbers (sizes, strides, flags as 0/1).
using Attributes = std::map<std::string, double>;
using Factory = std::function<std::unique_ptr<Link>(const Attributes&)>;
// Registered in-tree: linear, convolution_2d, deconvolution_2d, batch_normalization,
// embed_id, lstm, n_step_lstm (Chainer's class names are accepted too). Unknown names or attributes throw,
// listing the known ones.
void register_link(const std::string& name, std::vector<std::string> attribute_names, Factory make);
std::unique_ptr<Link> create(const std::string& name, const Attributes& attributes);
std::vector<std::string> names();

}  // namespace links
}  // namespace catena
