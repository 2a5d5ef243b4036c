// int8 quantization of Linear layers: weights per output row, activations per batch
// (dynamic) or from a calibration (static).
#include <catena/compression.hpp>
#include <catena/links.hpp>

#include <algorithm>
#include <cmath>

namespace catena {
namespace compression {

namespace {

thread_local Calibration* current_calibration = nullptr;

// Keeps at most this many |x| per layer for the percentile observer, evenly subsampled.
constexpr size_t kPercentileSamples = size_t(1) << 20;

}  // namespace

struct Calibration::Seen {
  double absmax = 0;
  int64_t batches = 0;
  int64_t stride = 1;  // every stride-th value is kept
  int64_t count = 0;
  std::vector<float> samples;
};

Calibration::Calibration(std::string observer, double percentile)
    : observer_(std::move(observer)), percentile_(percentile), outer_(current_calibration) {
  if (observer_ != "minmax" && observer_ != "percentile")
    throw Error(CT_INVALID_ARGUMENT, "calibration: the observer must be minmax or percentile, got '" + observer_ + "'");
  if (!(percentile > 0 && percentile <= 100))
    throw Error(CT_INVALID_ARGUMENT, "calibration: the percentile must be in (0, 100], got " + std::to_string(percentile));
  current_calibration = this;
}

Calibration::~Calibration() { current_calibration = outer_; }

void Calibration::see(const Link& layer, const Tensor& x) {
  std::shared_ptr<Seen>& s = seen_[&layer];
  if (!s) s = std::make_shared<Seen>();
  ++s->batches;
  if (observer_ == "minmax") {
    const double m = ops::max(ops::abs(x.astype(float32))).astype(float64).to_vector<double>()[0];
    if (std::isfinite(m)) s->absmax = std::max(s->absmax, m);
    return;
  }
  for (float v : x.astype(float32).to_vector<float>()) {
    if (!std::isfinite(v)) continue;
    if (s->count++ % s->stride) continue;
    s->samples.push_back(std::fabs(v));
    if (s->samples.size() >= kPercentileSamples) {  // keep every other one from now on
      for (size_t i = 0; i < s->samples.size() / 2; ++i) s->samples[i] = s->samples[2 * i];
      s->samples.resize(s->samples.size() / 2);
      s->stride *= 2;
    }
  }
}

double Calibration::scale(const Link& layer) const {
  auto it = seen_.find(&layer);
  if (it == seen_.end()) return 0;
  const Seen& s = *it->second;
  double m = s.absmax;
  if (observer_ == "percentile" && !s.samples.empty()) {
    std::vector<float> v = s.samples;
    const size_t at = std::min(v.size() - 1, size_t(std::ceil(percentile_ / 100.0 * double(v.size()))) - 1);
    std::nth_element(v.begin(), v.begin() + int64_t(at), v.end());
    m = v[at];
  }
  return m / 127.0;
}

int64_t Calibration::batches(const Link& layer) const {
  auto it = seen_.find(&layer);
  return it == seen_.end() ? 0 : it->second->batches;
}

void observe_input(const Link& layer, const Tensor& x) {
  if (current_calibration) current_calibration->see(layer, x);
}

Quantizer::Quantizer(std::string mode) : mode_(std::move(mode)) {
  if (mode_ != "dynamic" && mode_ != "static" && mode_ != "binary")
    throw Error(CT_INVALID_ARGUMENT, "quantize: mode must be dynamic (activations quantized per batch), static "
                                     "(calibrated scales) or binary (sign times a scale per channel), got '" + mode_ + "'");
}

int prepare_qat(Link& model, const std::string& scheme) {
  if (scheme != "int8" && scheme != "binary")
    throw Error(CT_INVALID_ARGUMENT, "prepare_qat: the scheme must be int8 or binary, got '" + scheme + "'");
  int n = 0;
  for (auto& [path, link] : model.namedlinks())
    if (Parameter* W = layer_weights(link, /*grouped=*/false)) {
      if (W->is_quantized() || W->codebook())
        throw Error(CT_FAILED_PRECONDITION, "prepare_qat: " + path.substr(1) + " is quantized or shared already");
      W->set_fake_quant(scheme);
      ++n;
    }
  if (!n) throw Error(CT_INVALID_ARGUMENT, "prepare_qat: the model has no Linear or Convolution2D layer");
  return n;
}

Report Quantizer::operator()(Link& model) {
  const Report before = describe(model);
  if (mode_ == "static" && !calibration_)
    throw Error(CT_FAILED_PRECONDITION, "quantize: static quantization needs calibration: run the model on some batches "
                                        "under a compression::Calibration and pass it with set_calibration");
  int done = 0;
  for (auto& [path, link] : model.namedlinks()) {
    Parameter* weights = layer_weights(link, /*grouped=*/false);
    if (!weights || weights->is_quantized()) continue;
    Parameter& W = *weights;
    if (W.codebook())
      throw Error(CT_FAILED_PRECONDITION, "quantize: " + path.substr(1) + " shares its weights (k-means) already");
    const Link* layer = link;
    if (!W.is_initialized())
      throw Error(CT_FAILED_PRECONDITION, "quantize: " + (path == "/" ? std::string("the model") : path.substr(1)) +
                                              " has no weights yet (a lazy layer): run a forward first");
    Tensor input_scale;
    if (mode_ == "static") {
      const double s = calibration_->scale(*layer);
      if (calibration_->batches(*layer) == 0 || !(s > 0))
        throw Error(CT_FAILED_PRECONDITION, "quantize: " + path.substr(1) +
                                                " saw no data while calibrating (or only zeros): calibrate on batches "
                                                "that run through every layer");
      input_scale = Tensor::full(Shape{}, s, float32, W.device());
    }
    const Shape shape = W.array().shape();
    const Tensor w = W.array().astype(float32).reshape(Shape{shape[0], W.array().numel() / std::max<int64_t>(1, shape[0])});
    Device& cpu = runtime().cpu();
    const int64_t rows = shape[0];
    if (mode_ == "binary") {
      // sign(w) (+1 at 0) and the row's mean |w|; a zero row gets scale 1 (its outputs are
      // then its bias plus +-1 times the inputs: a zero row is rare and stays small).
      const Tensor alpha = ops::mean(ops::abs(w), {1});
      std::vector<float> a = alpha.to_vector<float>();
      for (float& v : a) v = v > 0 && std::isfinite(v) ? v : 1.0f;
      const Tensor positive = ops::compare("core.greater_equal", w, Tensor::zeros(Shape{}, float32, w.device()));
      const Tensor q = ops::where(positive, Tensor::full(Shape{}, 1, int8, w.device()), Tensor::full(Shape{}, -1, int8, w.device()));
      W.set_int8({q.reshape(shape), Tensor::from_vector(a, Shape{rows}, cpu).to(w.device()), Tensor()});
      ++done;
      continue;
    }
    // One scale per output row: the largest |w| maps to 127; an all-zero row gets scale 1.
    const Tensor absmax = ops::max(ops::abs(w), {1}, true);
    std::vector<float> m = absmax.to_vector<float>(), scale(m.size()), inv(m.size());
    for (size_t i = 0; i < m.size(); ++i) {
      scale[i] = m[i] > 0 && std::isfinite(m[i]) ? m[i] / 127.0f : 1.0f;
      inv[i] = 1.0f / scale[i];
    }
    const Tensor inv_t = Tensor::from_vector(inv, Shape{rows, 1}, cpu).to(w.device());
    Parameter::Int8 q{ops::quantize(w, inv_t).reshape(shape), Tensor::from_vector(scale, Shape{rows}, cpu).to(w.device()),
                      input_scale};
    W.set_int8(std::move(q));
    ++done;
  }
  if (!done)
    throw Error(CT_INVALID_ARGUMENT,
                "quantize: the model has no Linear or Convolution2D layer with float weights to quantize");
  return compare(before, model);
}

}  // namespace compression
}  // namespace catena
