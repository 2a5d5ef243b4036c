// Convolution2D, Deconvolution2D, BatchNormalization, EmbedID, Sequential, Classifier.
#include <catena/config.hpp>
#include <catena/functions.hpp>
#include <catena/compression.hpp>
#include <catena/links.hpp>
#include <catena/ops.hpp>
#include <catena/training.hpp>

#include <algorithm>
#include <cmath>

namespace catena {
namespace L {

namespace {

void positive(int64_t v, const char* link, const char* what) {
  if (v <= 0)
    throw Error(CT_INVALID_ARGUMENT, std::string(link) + ": " + what + " must be positive, got " + std::to_string(v));
}

void check_conv(const char* link, int64_t in_channels, int64_t out_channels, int64_t ksize, const ConvOptions& o) {
  positive(out_channels, link, "out_channels");
  positive(ksize, link, "ksize");
  positive(o.stride, link, "stride");
  positive(o.groups, link, "groups");
  if (in_channels < 0)
    throw Error(CT_INVALID_ARGUMENT, std::string(link) + ": in_channels must be >= 0 (0: from the first input)");
}

void check_nchw(const char* link, const Variable& x) {
  if (x.ndim() != 4)
    throw Error(CT_INVALID_ARGUMENT, std::string(link) + ": needs (N, C, H, W) input, got " + x.shape().str());
}

ops::Conv2d geometry(const ConvOptions& o) {
  ops::Conv2d g;
  g.sy = g.sx = o.stride;
  g.ph = g.pw = o.pad;
  g.dy = g.dx = o.dilate;
  g.groups = o.groups;
  return g;
}

template <class Options>
Options simple_options(int64_t stride, int64_t pad, bool nobias) {
  Options o;
  o.stride = stride;
  o.pad = pad;
  o.nobias = nobias;
  return o;
}

}  // namespace

Convolution2D::Convolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, Options o)
    : W(o.initialW), b(o.initial_bias ? o.initial_bias : initializers::Zero()), in_channels_(in_channels),
      out_channels_(out_channels),
      ksize_(ksize), o_(std::move(o)) {
  check_conv("Convolution2D", in_channels, out_channels, ksize, o_);
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
    : Convolution2D(in_channels, out_channels, ksize, simple_options<Options>(stride, pad, nobias)) {}

void Convolution2D::make_W(int64_t in_channels) {
  in_channels_ = in_channels;
  if (in_channels % o_.groups)
    throw Error(CT_INVALID_ARGUMENT, "Convolution2D: " + std::to_string(in_channels) +
                                         " input channels are not a multiple of groups " + std::to_string(o_.groups));
  W.initialize(Shape{out_channels_, in_channels / o_.groups, ksize_, ksize_}, device());
}

Variable Convolution2D::forward(const Variable& x) {
  check_nchw("Convolution2D", x);
  compression::observe_input(*this, x.array());
  ops::Conv2d g = geometry(o_);
  g.cover_all = o_.cover_all;
  if (const Parameter::Int8* q = W.quantized())
    return F::convolution_2d_int8(x, q->q, q->scale, q->input_scale, o_.nobias ? Variable() : Variable(b), g,
                                  W.int8_conv_filters());
  if (!W.is_initialized()) make_W(x.shape()[1]);
  return F::convolution_2d(x, W.weight(), o_.nobias ? Variable() : Variable(b), g);
}

Deconvolution2D::Deconvolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, Options o)
    : W(o.initialW), b(o.initial_bias ? o.initial_bias : initializers::Zero()), in_channels_(in_channels),
      out_channels_(out_channels),
      ksize_(ksize), o_(std::move(o)) {
  check_conv("Deconvolution2D", in_channels, out_channels, ksize, o_);
  register_param("W", W);
  if (in_channels > 0) make_W(in_channels);
  if (!o_.nobias) {
    register_param("b", b);
    b.initialize(Shape{out_channels}, device());
  }
}

Deconvolution2D::Deconvolution2D(int64_t in_channels, int64_t out_channels, int64_t ksize, int64_t stride,
                                 int64_t pad, bool nobias)
    : Deconvolution2D(in_channels, out_channels, ksize, simple_options<Options>(stride, pad, nobias)) {}

void Deconvolution2D::make_W(int64_t in_channels) {
  in_channels_ = in_channels;
  if (out_channels_ % o_.groups || in_channels % o_.groups)
    throw Error(CT_INVALID_ARGUMENT, "Deconvolution2D: channels must be multiples of groups");
  W.initialize(Shape{in_channels, out_channels_ / o_.groups, ksize_, ksize_}, device());
}

Variable Deconvolution2D::forward(const Variable& x) {
  check_nchw("Deconvolution2D", x);
  if (!W.is_initialized()) make_W(x.shape()[1]);
  return F::deconvolution_2d(x, W, o_.nobias ? Variable() : Variable(b), geometry(o_), o_.outsize);
}

BatchNormalization::BatchNormalization(int64_t size, double decay, double eps, Dtype dtype, bool use_gamma,
                                       bool use_beta)
    : gamma(initializers::One(), Shape{}, false, dtype), beta(initializers::Zero(), Shape{}, false, dtype),
      decay(decay), eps(eps), size_(size), dtype_(dtype), use_gamma_(use_gamma), use_beta_(use_beta) {
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
    : W(initialW ? initialW : initializers::Normal(1.0)), in_size_(in_size), out_size_(out_size), initW_(initialW),
      ignore_label_(ignore_label) {
  positive(in_size, "EmbedID", "in_size");
  positive(out_size, "EmbedID", "out_size");
  register_param("W", W);
  W.initialize(Shape{in_size, out_size}, device());
}

Variable EmbedID::forward(const Variable& ids) { return F::embed_id(ids.array(), W, ignore_label_); }

Sequential& Sequential::add(std::unique_ptr<Link> link) {
  Link& l = append(std::move(link));
  steps_.push_back({&l, {}, {}});
  return *this;
}

Sequential& Sequential::add(std::function<Variable(const Variable&)> fn) {
  if (!fn) throw Error(CT_INVALID_ARGUMENT, "Sequential::add: the function is empty");
  steps_.push_back({nullptr, std::move(fn), Recipe{"", {}, {}, true}});
  return *this;
}

namespace {

// The functions a Sequential takes by name, with their attributes and defaults.
std::function<Variable(const Variable&)> named_step(const std::string& name, const std::map<std::string, double>& a) {
  auto get = [&](const char* key, double fallback) {
    auto it = a.find(key);
    return it == a.end() ? fallback : it->second;
  };
  auto allow = [&](std::initializer_list<const char*> keys) {
    for (auto& [k, v] : a) {
      bool known = false;
      for (const char* key : keys) known = known || k == key;
      if (!known) {
        std::string list;
        for (const char* key : keys) list += (list.empty() ? "" : ", ") + std::string(key);
        throw Error(CT_INVALID_ARGUMENT, "Sequential: the function " + name + " has no attribute '" + k + "'" +
                                             (list.empty() ? " (it takes none)" : " (it has: " + list + ")"));
      }
    }
  };
  if (name == "relu") return allow({}), [](const Variable& x) { return F::relu(x); };
  if (name == "sigmoid") return allow({}), [](const Variable& x) { return F::sigmoid(x); };
  if (name == "tanh") return allow({}), [](const Variable& x) { return F::tanh(x); };
  if (name == "flatten") return allow({}), [](const Variable& x) { return F::flatten(x); };
  if (name == "leaky_relu") {
    allow({"slope"});
    double slope = get("slope", 0.2);
    return [slope](const Variable& x) { return F::leaky_relu(x, slope); };
  }
  if (name == "softmax" || name == "log_softmax") {
    allow({"axis"});
    int axis = int(get("axis", 1));
    if (name == "softmax") return [axis](const Variable& x) { return F::softmax(x, axis); };
    return [axis](const Variable& x) { return F::log_softmax(x, axis); };
  }
  if (name == "dropout") {
    allow({"ratio"});
    double ratio = get("ratio", 0.5);
    return [ratio](const Variable& x) { return F::dropout(x, ratio); };
  }
  if (name == "max_pooling_2d" || name == "average_pooling_2d") {
    const bool max = name == "max_pooling_2d";
    if (max) allow({"ksize", "stride", "pad", "cover_all"});
    else allow({"ksize", "stride", "pad"});
    if (!a.count("ksize")) throw Error(CT_INVALID_ARGUMENT, "Sequential: " + name + " needs the attribute 'ksize'");
    int64_t k = int64_t(get("ksize", 1)), stride = int64_t(get("stride", double(k))), pad = int64_t(get("pad", 0));
    bool cover_all = get("cover_all", 1) != 0;
    if (max) return [=](const Variable& x) { return F::max_pooling_2d(x, k, stride, pad, cover_all); };
    return [=](const Variable& x) { return F::average_pooling_2d(x, k, stride, pad); };
  }
  throw Error(CT_NOT_FOUND, "Sequential: no function named '" + name +
                                "' (known: relu, sigmoid, tanh, leaky_relu, softmax, log_softmax, dropout, flatten, "
                                "max_pooling_2d, average_pooling_2d)");
}

}  // namespace

Sequential& Sequential::add(const std::string& function, const std::map<std::string, double>& attributes) {
  steps_.push_back({nullptr, named_step(function, attributes), Recipe{function, attributes, {}, true}});
  return *this;
}

Variable Sequential::forward(const Variable& x) {
  Variable h = x;
  for (Step& s : steps_) h = s.link ? s.link->forward(h) : s.fn(h);
  return h;
}

Classifier::Classifier(std::shared_ptr<Link> predictor, LossFn lossfun, bool compute_accuracy)
    : compute_accuracy(compute_accuracy), predictor_(std::move(predictor)), lossfun_(std::move(lossfun)) {
  if (!predictor_) throw Error(CT_INVALID_ARGUMENT, "Classifier: the predictor is null");
  custom_loss = bool(lossfun_);
  if (!lossfun_) lossfun_ = [](const Variable& y, const Tensor& t) { return F::softmax_cross_entropy(y, t); };
  register_link("predictor", *predictor_);
}

Variable Classifier::loss(const Example& batch) {
  if (batch.size() != 2)
    throw Error(CT_INVALID_ARGUMENT, "Classifier: a batch must be (x, t), got " + std::to_string(batch.size()) +
                                         " arrays");
  y = predictor_->forward(Variable(batch[0], /*requires_grad=*/false));  // data, as Chainer wraps arrays
  Variable loss = lossfun_(y, batch[1]);
  training::report("loss", loss, this);
  if (compute_accuracy) training::report("accuracy", F::accuracy(y, batch[1]), this);
  return loss;
}

std::unique_ptr<Link> Convolution2D::make_like() const {
  return std::make_unique<Convolution2D>(in_channels_, out_channels_, ksize_, o_);
}

std::unique_ptr<Link> Deconvolution2D::make_like() const {
  return std::make_unique<Deconvolution2D>(in_channels_, out_channels_, ksize_, o_);
}

std::unique_ptr<Link> BatchNormalization::make_like() const {
  return std::make_unique<BatchNormalization>(size_, decay, eps, dtype_, use_gamma_, use_beta_);
}

std::unique_ptr<Link> EmbedID::make_like() const {
  return std::make_unique<EmbedID>(in_size_, out_size_, initW_, ignore_label_);
}

std::unique_ptr<Link> Sequential::make_like() const {
  auto out = std::make_unique<Sequential>();
  for (const Step& s : steps_) {
    if (s.link) out->add(s.link->make_like());
    else out->steps_.push_back(s);
  }
  return out;
}

std::unique_ptr<Link> Classifier::make_like() const {
  return std::make_unique<Classifier>(std::shared_ptr<Link>(predictor_->make_like()), custom_loss ? lossfun_ : LossFn(),
                                      compute_accuracy);
}

// --- Recipes (whole-model files) -------------------------------------------------------

namespace {
void conv_attributes(Link::Recipe& r, const ConvOptions& o) {
  r.attributes["stride"] = double(o.stride);
  r.attributes["pad"] = double(o.pad);
  r.attributes["dilate"] = double(o.dilate);
  r.attributes["groups"] = double(o.groups);
  r.attributes["nobias"] = o.nobias;
}
}  // namespace

void Convolution2D::shapes_changed() {
  if (const std::optional<Shape> w = W.weight_shape()) {
    out_channels_ = (*w)[0];
    in_channels_ = (*w)[1] * o_.groups;
  }
}

Link::Recipe Convolution2D::recipe() const {
  Recipe r{"convolution_2d", {{"in_channels", double(in_channels_)}, {"out_channels", double(out_channels_)},
                              {"ksize", double(ksize_)}, {"cover_all", o_.cover_all ? 1.0 : 0.0}}, {}, false};
  conv_attributes(r, o_);
  return r;
}

Link::Recipe Deconvolution2D::recipe() const {
  if (o_.outsize) return {};  // an output size fixed by the user is not an attribute of the registry
  Recipe r{"deconvolution_2d",
           {{"in_channels", double(in_channels_)}, {"out_channels", double(out_channels_)}, {"ksize", double(ksize_)}},
           {},
           false};
  conv_attributes(r, o_);
  return r;
}

void BatchNormalization::shapes_changed() {
  if (avg_mean.defined()) size_ = avg_mean.shape()[0];
}

Link::Recipe BatchNormalization::recipe() const {
  if (dtype_ != float32) return {};
  return {"batch_normalization",
          {{"size", double(size_)}, {"decay", decay}, {"eps", eps}, {"use_gamma", use_gamma_ ? 1.0 : 0.0},
           {"use_beta", use_beta_ ? 1.0 : 0.0}},
          {},
          false};
}

Link::Recipe EmbedID::recipe() const {
  Recipe r{"embed_id", {{"in_size", double(in_size_)}, {"out_size", double(out_size_)}}, {}, false};
  if (ignore_label_) r.attributes["ignore_label"] = double(*ignore_label_);
  return r;
}

Link::Recipe LSTM::recipe() const {
  if (forget_bias_ != 1.0) return {};
  return {"lstm", {{"in_size", double(in_size_)}, {"out_size", double(out_size_)}}, {}, false};
}

Link::Recipe NStepLSTM::recipe() const {
  return {"n_step_lstm",
          {{"n_layers", double(n_layers_)}, {"in_size", double(in_size_)}, {"out_size", double(out_size_)},
           {"dropout", dropout_}},
          {},
          false};
}

std::vector<Link*> Sequential::sequence() {
  std::vector<Link*> out;
  for (const Step& s : steps_) {
    if (s.link) {
      out.push_back(s.link);
      continue;
    }
    static const std::vector<std::string> channelwise = {"relu",    "sigmoid", "tanh",           "leaky_relu",
                                                         "dropout", "flatten", "max_pooling_2d", "average_pooling_2d"};
    if (std::find(channelwise.begin(), channelwise.end(), s.named.type) == channelwise.end()) return {};
  }
  return out;
}

Link::Recipe Sequential::recipe() const {
  Recipe r{"sequential", {}, {}, false};
  for (const Step& s : steps_) r.parts.push_back(s.link ? s.link->recipe() : s.named);
  return r;
}

Link::Recipe Classifier::recipe() const {
  if (custom_loss) return {};
  return {"classifier", {{"compute_accuracy", compute_accuracy ? 1.0 : 0.0}}, {predictor_->recipe()}, false};
}

// --- LSTM ------------------------------------------------------------------------------

namespace {

// Zero biases except the forget gate's (index 2 of each unit's interleaved a, i, f, o).
Initializer lstm_bias(double forget) {
  return [forget](Tensor& b) {
    int64_t n = b.numel();
    std::vector<double> v(size_t(n), 0.0);
    for (int64_t j = 2; j < n; j += 4) v[size_t(j)] = forget;
    ops::copy(b, Tensor::from_vector(v, b.shape(), runtime().cpu()).to(b.device()));
  };
}

}  // namespace

LSTM::LSTM(int64_t in_size, int64_t out_size, double forget_bias_init)
    : upward(in_size, 4 * out_size, false, {}, lstm_bias(forget_bias_init)),
      lateral(out_size, 4 * out_size, /*nobias=*/true), in_size_(in_size), out_size_(out_size),
      forget_bias_(forget_bias_init) {
  register_link("upward", upward);
  register_link("lateral", lateral);
}

void LSTM::reset_state() {
  c = Variable();
  h = Variable();
}

Variable LSTM::forward(const Variable& x) {
  const int64_t batch = x.shape()[0];
  Variable lstm_in = upward(x);
  Variable h_rest;
  if (h.defined()) {
    const int64_t hb = h.shape()[0];
    if (batch > hb)
      throw Error(CT_INVALID_ARGUMENT, "LSTM: the batch grew from " + std::to_string(hb) + " to " +
                                           std::to_string(batch) + "; call reset_state() first");
    if (batch == hb) {
      lstm_in = F::add(lstm_in, lateral(h));
    } else {
      auto parts = F::split_axis(h, std::vector<int64_t>{batch}, 0);
      lstm_in = F::add(lstm_in, lateral(parts[0]));
      h_rest = parts[1];
    }
  }
  if (!c.defined()) c = Variable(Tensor::zeros(Shape{batch, out_size_}, x.dtype(), x.device()), false);
  auto [c_new, y] = F::lstm(c, lstm_in);
  c = c_new;
  h = h_rest.defined() ? F::concat({y, h_rest}, 0) : y;
  return y;
}

std::unique_ptr<Link> LSTM::make_like() const { return std::make_unique<LSTM>(in_size_, out_size_, forget_bias_); }

// --- NStepLSTM -------------------------------------------------------------------------

namespace {

// One layer's parameters with Chainer's names w0..w7, b0..b7.
class NStepLSTMLayer : public Link {
 public:
  NStepLSTMLayer(int64_t in_size, int64_t out_size) : in_(in_size), out_(out_size) {
    for (int k = 0; k < 8; ++k) {
      int64_t cols = k < 4 ? in_size : out_size;
      w[k] = Parameter(initializers::Normal(std::sqrt(1.0 / double(cols))), Shape{out_size, cols}, true);
      b[k] = Parameter(initializers::Zero(), Shape{out_size}, true);
    }
    for (int k = 0; k < 8; ++k) register_param("w" + std::to_string(k), w[k]);
    for (int k = 0; k < 8; ++k) register_param("b" + std::to_string(k), b[k]);
  }
  Parameter w[8], b[8];
  int64_t in_, out_;
};

// Chainer's _stack_weight: interleave per unit in the order (a, i, f, o) = (2, 0, 1, 3).
Variable stack_gates(const Parameter* p, int offset) {
  const int order[4] = {2, 0, 1, 3};
  std::vector<Variable> parts;
  for (int k : order) parts.push_back(Variable(p[offset + k]));
  Variable s = F::stack(parts, 1);  // (out, 4, ...)
  Shape shape = s.shape();
  Shape flat{shape[0] * shape[1]};
  for (int d = 2; d < shape.ndim(); ++d) flat.push_back(shape[d]);
  return F::reshape(s, flat);
}

}  // namespace

NStepLSTM::NStepLSTM(int64_t n_layers, int64_t in_size, int64_t out_size, double dropout)
    : n_layers_(n_layers), in_size_(in_size), out_size_(out_size), dropout_(dropout) {
  positive(n_layers, "NStepLSTM", "n_layers");
  positive(in_size, "NStepLSTM", "in_size");
  positive(out_size, "NStepLSTM", "out_size");
  for (int64_t l = 0; l < n_layers; ++l) append(std::make_unique<NStepLSTMLayer>(l == 0 ? in_size : out_size, out_size));
}

std::tuple<Variable, Variable, std::vector<Variable>> NStepLSTM::forward(const Variable& hx, const Variable& cx,
                                                                         const std::vector<Variable>& xs) {
  const int64_t batch = int64_t(xs.size());
  if (batch == 0) throw Error(CT_INVALID_ARGUMENT, "NStepLSTM: xs is empty");
  // Sort the sequences by length, longest first (Chainer's transpose_sequence order).
  std::vector<size_t> order(xs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return xs[a].shape()[0] > xs[b].shape()[0]; });
  const int64_t steps = xs[order[0]].shape()[0];
  Device& dev = xs[0].device();
  Dtype dt = xs[0].dtype();
  // Per layer: the current inputs as one list of per-sequence arrays (sorted order).
  std::vector<Variable> seqs;
  for (size_t i : order) seqs.push_back(xs[i]);
  std::vector<Variable> hys, cys;
  for (int64_t l = 0; l < n_layers_; ++l) {
    auto& layer = static_cast<NStepLSTMLayer&>((*this)[size_t(l)]);
    Variable xw = stack_gates(layer.w, 0), hw = stack_gates(layer.w, 4);
    Variable xb = stack_gates(layer.b, 0), hb = stack_gates(layer.b, 4);
    // The layer's initial state, rows in sorted order.
    auto initial = [&](const Variable& s) {
      if (!s.defined()) return Variable(Tensor::zeros(Shape{batch, out_size_}, dt, dev), false);
      Variable row = F::get_item(s, {F::Index(l)});
      std::vector<int64_t> idx(order.begin(), order.end());
      return F::get_item(row, {F::Index(Tensor::from_vector(idx, Shape{batch}, runtime().cpu()).to(dev))});
    };
    Variable h = initial(hx), c = initial(cx);
    std::vector<std::vector<Variable>> outs(static_cast<size_t>(batch));
    for (int64_t t = 0; t < steps; ++t) {
      // The sequences still running at step t (a prefix, as they are sorted).
      int64_t live = 0;
      std::vector<Variable> rows;
      for (int64_t i = 0; i < batch; ++i)
        if (seqs[size_t(i)].shape()[0] > t) {
          rows.push_back(F::get_item(seqs[size_t(i)], {F::Index::range(t, t + 1)}));
          ++live;
        }
      Variable x = F::concat(rows, 0);
      Variable x_in = x;
      if (l > 0 && dropout_ > 0) x_in = F::dropout(x, dropout_);
      Variable h_live = live == batch ? h : F::split_axis(h, std::vector<int64_t>{live}, 0)[0];
      Variable lstm_in = F::add(F::linear(x_in, xw, xb), F::linear(h_live, hw, hb));
      auto [c_new, h_new] = F::lstm(c, lstm_in);  // rows of c beyond `live` pass through
      c = c_new;
      h = live == batch ? h_new : F::concat({h_new, F::split_axis(h, std::vector<int64_t>{live}, 0)[1]}, 0);
      auto ys = F::split_axis(h_new, live, 0);
      for (int64_t i = 0; i < live; ++i) outs[size_t(i)].push_back(ys[size_t(i)]);
    }
    for (int64_t i = 0; i < batch; ++i) seqs[size_t(i)] = F::concat(outs[size_t(i)], 0);
    // Back to the caller's order for hy, cy.
    std::vector<int64_t> inverse(static_cast<size_t>(batch));
    for (size_t i = 0; i < order.size(); ++i) inverse[order[i]] = int64_t(i);
    Tensor inv = Tensor::from_vector(inverse, Shape{batch}, runtime().cpu()).to(dev);
    hys.push_back(F::get_item(h, {F::Index(inv)}));
    cys.push_back(F::get_item(c, {F::Index(inv)}));
  }
  std::vector<Variable> ys(xs.size());
  for (size_t i = 0; i < order.size(); ++i) ys[order[i]] = seqs[i];
  return {F::stack(hys, 0), F::stack(cys, 0), ys};
}

std::unique_ptr<Link> NStepLSTM::make_like() const {
  return std::make_unique<NStepLSTM>(n_layers_, in_size_, out_size_, dropout_);
}

}  // namespace L
}  // namespace catena
