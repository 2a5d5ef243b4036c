// Parameters, initializers and the Link tree.
#include <catena/config.hpp>
#include <catena/functions.hpp>
#include <catena/link.hpp>
#include <catena/ops.hpp>
#include <catena/random.hpp>

#include "internal.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <typeinfo>
#include <vector>

namespace catena {

namespace initializers {

namespace {

void fans(const Tensor& a, double* fan_in, double* fan_out) {
  const Shape& s = a.shape();
  if (s.ndim() < 2)
    throw Error(CT_INVALID_ARGUMENT, "initializer: fan in and out need at least 2 dimensions, got " + s.str());
  double receptive = 1;
  for (int i = 2; i < s.ndim(); ++i) receptive *= double(s[i]);
  *fan_in = double(s[1]) * receptive;
  *fan_out = double(s[0]) * receptive;
}

void fill_from(Tensor& a, const Tensor& values) { ops::copy(a, values); }

Initializer normal_with(std::function<double(double, double)> stddev) {
  return [stddev](Tensor& a) {
    double fi, fo;
    fans(a, &fi, &fo);
    fill_from(a, default_generator().normal(a.shape(), a.dtype(), a.device(), 0.0, stddev(fi, fo)));
  };
}

Initializer uniform_with(std::function<double(double, double)> bound) {
  return [bound](Tensor& a) {
    double fi, fo;
    fans(a, &fi, &fo);
    double s = bound(fi, fo);
    fill_from(a, default_generator().uniform(a.shape(), a.dtype(), a.device(), -s, s));
  };
}

}  // namespace

Initializer LeCunNormal(double k) { return normal_with([k](double fi, double) { return k * std::sqrt(1.0 / fi); }); }
Initializer LeCunUniform(double k) { return uniform_with([k](double fi, double) { return k * std::sqrt(3.0 / fi); }); }
Initializer GlorotNormal(double k) {
  return normal_with([k](double fi, double fo) { return k * std::sqrt(2.0 / (fi + fo)); });
}
Initializer GlorotUniform(double k) {
  return uniform_with([k](double fi, double fo) { return k * std::sqrt(6.0 / (fi + fo)); });
}
Initializer HeNormal(double k) { return normal_with([k](double fi, double) { return k * std::sqrt(2.0 / fi); }); }
Initializer HeUniform(double k) { return uniform_with([k](double fi, double) { return k * std::sqrt(6.0 / fi); }); }
Initializer Normal(double scale) {
  return [scale](Tensor& a) { fill_from(a, default_generator().normal(a.shape(), a.dtype(), a.device(), 0.0, scale)); };
}
Initializer Uniform(double scale) {
  return [scale](Tensor& a) {
    fill_from(a, default_generator().uniform(a.shape(), a.dtype(), a.device(), -scale, scale));
  };
}
Initializer Constant(double value) {
  return [value](Tensor& a) { ops::fill(a, value); };
}
Initializer Zero() { return Constant(0.0); }

Initializer Orthogonal(double scale) {
  return [scale](Tensor& a) {
    const Shape& s = a.shape();
    if (s.ndim() < 2) throw Error(CT_INVALID_ARGUMENT, "Orthogonal: needs at least 2 dimensions, got " + s.str());
    int64_t rows = s[0], cols = a.numel() / std::max<int64_t>(rows, 1);
    // Orthonormalise the shorter side's vectors (modified Gram-Schmidt in float64).
    bool tall = rows > cols;
    int64_t n = tall ? cols : rows, len = tall ? rows : cols;
    std::vector<double> m = default_generator().normal(Shape{n, len}, float64, runtime().cpu()).to_vector<double>();
    for (int64_t i = 0; i < n; ++i) {
      double* v = &m[size_t(i * len)];
      for (int pass = 0; pass < 2; ++pass)
        for (int64_t j = 0; j < i; ++j) {
          const double* u = &m[size_t(j * len)];
          double dot = 0;
          for (int64_t k = 0; k < len; ++k) dot += u[k] * v[k];
          for (int64_t k = 0; k < len; ++k) v[k] -= dot * u[k];
        }
      double norm = 0;
      for (int64_t k = 0; k < len; ++k) norm += v[k] * v[k];
      norm = std::sqrt(norm);
      for (int64_t k = 0; k < len; ++k) v[k] /= norm;
    }
    std::vector<double> out(size_t(rows * cols));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < len; ++k)
        out[size_t(tall ? k * cols + i : i * cols + k)] = scale * m[size_t(i * len + k)];
    ops::copy(a, Tensor::from_vector(out, s, runtime().cpu()).to(a.device()));
  };
}
Initializer One() { return Constant(1.0); }

}  // namespace initializers

Parameter::Parameter(Initializer init, const Shape& shape, bool shaped, Dtype dtype)
    : init_(init ? std::move(init) : initializers::LeCunNormal()), dtype_(dtype) {
  if (shaped) initialize(shape, default_device());
}

Parameter::Parameter(const Tensor& data) : Variable(data, true), dtype_(data.dtype()) {}

namespace {
thread_local bool deferring = false;
}  // namespace

DeferredParameters::DeferredParameters() : outer_(deferring) { deferring = true; }
DeferredParameters::~DeferredParameters() { deferring = outer_; }

void Parameter::initialize(const Shape& shape, Device& device) {
  if (deferring) {
    pending_ = true;
    pending_shape_ = shape;
    return;
  }
  pending_ = false;
  Tensor a = Tensor::empty(shape, dtype_, device);
  if (!init_) init_ = initializers::LeCunNormal();
  init_(a);
  static_cast<Variable&>(*this) = Variable(a, true);
  set_grad(Tensor::full(shape, std::numeric_limits<double>::quiet_NaN(), dtype_, device));
}

void Parameter::set_mask(const Tensor& mask) {
  if (!mask.defined()) {
    mask_ = Tensor();
    return;
  }
  if (!is_initialized()) throw Error(CT_FAILED_PRECONDITION, "set_mask: the parameter has no values to mask");
  if (codebook_) throw Error(CT_FAILED_PRECONDITION, "set_mask: the parameter is a codebook of shared weights");
  if (mask.shape() != array().shape())
    throw Error(CT_INVALID_ARGUMENT, "set_mask: a mask of " + mask.shape().str() + " for a parameter of " +
                                         array().shape().str());
  const Tensor zero = Tensor::zeros(Shape{}, mask.dtype(), mask.device());
  mask_ = (mask.dtype() == bool_ ? mask : ops::compare("core.not_equal", mask, zero)).to(device());
  apply_mask();
}

void Parameter::apply_mask() {
  if (!mask_.defined() || !is_initialized()) return;
  Tensor w = array();
  ops::copy(w, ops::where(mask_, w, Tensor::zeros(Shape{}, w.dtype(), w.device())));
}

void Parameter::set_int8(Int8 q) {
  if (!q.q.defined() || q.q.dtype() != int8 || q.q.ndim() < 1)
    throw Error(CT_INVALID_ARGUMENT, "set_int8: the weights must be an int8 array of at least one dimension");
  if (!q.scale.defined() || q.scale.dtype() != float32 || q.scale.shape() != Shape{q.q.shape()[0]})
    throw Error(CT_INVALID_ARGUMENT, "set_int8: the scales must be float32 of shape (" +
                                         std::to_string(q.q.shape()[0]) + ",), one per output channel");
  if (q.input_scale.defined() && (q.input_scale.dtype() != float32 || q.input_scale.numel() != 1))
    throw Error(CT_INVALID_ARGUMENT, "set_int8: the input scale must be one float32 value");
  const bool enabled = update_enabled();
  static_cast<Variable&>(*this) = Variable();
  set_update_enabled(enabled);
  mask_ = Tensor();
  codebook_.reset();
  gathered_.reset();
  fake_quant_.clear();
  pending_ = false;
  int8_filters_ = q.q.ndim() == 4 ? F::int8_conv_filters(q.q) : Tensor();
  int8_ = std::make_shared<Int8>(std::move(q));
}

void Parameter::set_codebook(const Tensor& centroids, const Tensor& indices) {
  if (!centroids.defined() || centroids.ndim() != 1 || !centroids.dtype().is_float() || centroids.numel() < 1 ||
      centroids.numel() > 256)
    throw Error(CT_INVALID_ARGUMENT, "set_codebook: the centroids must be 1 to 256 floats");
  if (!indices.defined() || indices.dtype() != int32 || indices.ndim() < 1)
    throw Error(CT_INVALID_ARGUMENT, "set_codebook: the indices must be int32 of the weights' shape");
  const bool enabled = update_enabled();
  mask_ = Tensor();
  int8_.reset();
  int8_filters_ = Tensor();
  pending_ = false;
  static_cast<Variable&>(*this) = Variable(centroids, true);
  set_grad(Tensor());
  set_update_enabled(enabled);
  codebook_ = std::make_shared<Codebook>();
  codebook_->indices = indices.to(centroids.device());
  gathered_ = std::make_shared<Gathered>();
}

void Parameter::set_fake_quant(const std::string& scheme) {
  if (!scheme.empty() && scheme != "int8" && scheme != "binary")
    throw Error(CT_INVALID_ARGUMENT, "set_fake_quant: the scheme must be int8, binary or empty, got '" + scheme + "'");
  fake_quant_ = scheme;
}

void Parameter::set_storage_dtype(std::optional<Dtype> d) {
  if (d && !d->is_float()) throw Error(CT_INVALID_ARGUMENT, "set_storage_dtype: a floating-point dtype, not " + d->name());
  storage_dtype_ = d;
}

struct Parameter::Gathered {
  std::mutex mutex;
  std::vector<float> centroids;
  Tensor weights;
};

Variable Parameter::weight() const {
  const Variable& self = *this;
  if (codebook_) {
    const Shape shape = codebook_->indices.shape();
    const Tensor flat = codebook_->indices.reshape(Shape{codebook_->indices.numel()});
    if (!config().enable_backprop && gathered_) {
      std::vector<float> now = array().astype(float32).to_vector<float>();
      std::lock_guard<std::mutex> lock(gathered_->mutex);
      if (!gathered_->weights.defined() || now != gathered_->centroids) {
        gathered_->weights = ops::take(array(), flat, 0).reshape(shape);
        gathered_->centroids = std::move(now);
      }
      return Variable(gathered_->weights, false);
    }
    const Variable table = F::reshape(self, Shape{array().numel(), 1});
    return F::reshape(F::embed_id(flat, table), shape);
  }
  if (!fake_quant_.empty() && is_initialized()) return F::fake_quantize(self, fake_quant_);
  return self;
}

bool Parameter::Int8::binary() const {
  if (!q.defined() || q.numel() == 0) return false;
  for (int8_t v : q.to_vector<int8_t>())
    if (v != 1 && v != -1) return false;
  return true;
}

std::optional<Shape> Parameter::weight_shape() const {
  if (int8_) return int8_->q.shape();
  if (codebook_) return codebook_->indices.shape();
  if (is_initialized()) return array().shape();
  if (pending_) return pending_shape_;
  return std::nullopt;
}

Device& Link::device() const { return device_ ? *device_ : default_device(); }

void Link::check_name(const std::string& name) const {
  if (name.empty() || name.find('/') != std::string::npos)
    throw Error(CT_INVALID_ARGUMENT, "register: a name must be non-empty and contain no '/': '" + name + "'");
  for (const auto& p : params_)
    if (p.first == name) throw Error(CT_ALREADY_EXISTS, "register: '" + name + "' is already a parameter of this link");
  for (const auto& c : children_)
    if (c.first == name) throw Error(CT_ALREADY_EXISTS, "register: '" + name + "' is already a child of this link");
  for (const auto& c : persistents_)
    if (c.first == name) throw Error(CT_ALREADY_EXISTS, "register: '" + name + "' is already a persistent value");
}

void Link::register_param(const std::string& name, Parameter& p) {
  check_name(name);
  params_.push_back({name, &p});
}

void Link::register_link(const std::string& name, Link& child) {
  check_name(name);
  if (&child == this) throw Error(CT_INVALID_ARGUMENT, "register_link: a link cannot contain itself");
  children_.push_back({name, &child});
}

void Link::register_persistent(const std::string& name, Tensor& value) {
  check_name(name);
  persistents_.push_back({name, &value});
}

std::vector<std::pair<std::string, Link*>> Link::namedlinks() {
  std::vector<std::pair<std::string, Link*>> out{{"/", this}};
  for (auto& [name, child] : children_)
    for (auto& [path, l] : child->namedlinks()) out.push_back({"/" + name + (path == "/" ? "" : path), l});
  return out;
}

std::vector<std::pair<std::string, Parameter*>> Link::namedparams() {
  std::vector<std::pair<std::string, Parameter*>> out;
  for (auto& [name, p] : params_) out.push_back({"/" + name, p});
  for (auto& [name, child] : children_)
    for (auto& [path, p] : child->namedparams()) out.push_back({"/" + name + path, p});
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Link::namedpersistents() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& [name, t] : persistents_) out.push_back({"/" + name, t});
  for (auto& [name, child] : children_)
    for (auto& [path, t] : child->namedpersistents()) out.push_back({"/" + name + path, t});
  return out;
}

std::vector<Parameter*> Link::params() {
  std::vector<Parameter*> out;
  for (auto& [path, p] : namedparams()) out.push_back(p);
  return out;
}

void Link::cleargrads() {
  for (Parameter* p : params())
    if (p->is_initialized()) p->cleargrad();
}

void Link::to_device(Device& d) {
  for (auto& [path, l] : namedlinks()) l->device_ = &d;
  for (Parameter* p : params()) {
    if (const Parameter::Int8* q = p->quantized()) {
      if (&q->q.device() == &d) continue;
      Parameter::Int8 moved{q->q.to(d), q->scale.to(d), q->input_scale.defined() ? q->input_scale.to(d) : Tensor()};
      p->set_int8(std::move(moved));
      continue;
    }
    if (!p->is_initialized() || &p->device() == &d) continue;
    Tensor grad = p->grad(), mask = p->mask();
    if (const Parameter::Codebook* c = p->codebook()) {
      p->set_codebook(p->array().to(d), c->indices.to(d));
      p->set_grad(grad.defined() ? grad.to(d) : Tensor());
      continue;
    }
    p->set_array(p->array().to(d));
    p->set_grad(grad.defined() ? grad.to(d) : Tensor());
    if (mask.defined()) p->set_mask(mask.to(d));
  }
  for (auto& [path, t] : namedpersistents())
    if (t->defined()) *t = t->to(d);
}

void Link::disable_update() {
  for (Parameter* p : params()) p->set_update_enabled(false);
}

void Link::enable_update() {
  for (Parameter* p : params()) p->set_update_enabled(true);
}

Variable Link::forward(const Variable&) {
  throw Error(CT_UNIMPLEMENTED, std::string("this link (") + typeid(*this).name() +
                                    ") has no one-input forward; call its own forward method");
}

std::unique_ptr<Link> Link::make_like() const {
  throw Error(CT_UNIMPLEMENTED, std::string("copy: this link (") + typeid(*this).name() +
                                    ") does not implement make_like(); override it to return a new link of the same "
                                    "architecture");
}

std::unique_ptr<Link> Link::copy(CopyMode mode) {
  std::unique_ptr<Link> out = make_like();
  out->to_device(device());
  if (mode == CopyMode::init) return out;
  auto mine = namedparams(), theirs = out->namedparams();
  if (mine.size() != theirs.size())
    throw Error(CT_INTERNAL, "copy: make_like() built a link with different parameters");
  for (size_t i = 0; i < mine.size(); ++i) {
    Parameter& from = *mine[i].second;
    Parameter& to = *theirs[i].second;
    if (mine[i].first != theirs[i].first)
      throw Error(CT_INTERNAL, "copy: make_like() built " + theirs[i].first + " where " + mine[i].first + " is");
    if (const Parameter::Int8* q = from.quantized()) {
      auto dup = [&](const Tensor& t) { return !t.defined() || mode == CopyMode::share ? t : t.clone(); };
      to.set_int8({dup(q->q), dup(q->scale), dup(q->input_scale)});
      to.set_update_enabled(from.update_enabled());
      continue;
    }
    if (!from.is_initialized()) continue;
    Tensor a = mode == CopyMode::share ? from.array() : from.array().clone();
    to = Parameter(a);
    if (const Parameter::Codebook* c = from.codebook())
      to.set_codebook(a, mode == CopyMode::share ? c->indices : c->indices.clone());
    to.set_update_enabled(from.update_enabled());
    to.set_fake_quant(from.fake_quant());
    if (from.mask().defined()) to.set_mask(mode == CopyMode::share ? from.mask() : from.mask().clone());
  }
  auto mp = namedpersistents(), tp = out->namedpersistents();
  for (size_t i = 0; i < mp.size() && i < tp.size(); ++i)
    if (mp[i].second->defined()) *tp[i].second = mode == CopyMode::share ? *mp[i].second : mp[i].second->clone();
  return out;
}

Link& ChainList::append(std::unique_ptr<Link> link) {
  if (!link) throw Error(CT_INVALID_ARGUMENT, "ChainList::append: the link is null");
  Link& ref = *link;
  register_link(std::to_string(owned_.size()), ref);
  owned_.push_back(std::move(link));
  return ref;
}

}  // namespace catena

namespace catena {

namespace {

// --- A pruned parameter's sparse form: "<name>.shape" (int64), "<name>.mask" (the bitmap:
// bit i of byte i / 8, lowest bit first, one per element in row-major order; spare bits
// zero) and "<name>.values" (the kept elements in order, of the parameter's dtype).

std::vector<uint8_t> pack_bits(const std::vector<uint8_t>& keep) {
  std::vector<uint8_t> bits((keep.size() + 7) / 8, 0);
  for (size_t i = 0; i < keep.size(); ++i)
    if (keep[i]) bits[i / 8] = uint8_t(bits[i / 8] | (1u << (i % 8)));
  return bits;
}

void put_shape(Serializer& s, const std::string& name, const Shape& shape) {
  std::vector<int64_t> dims(shape.begin(), shape.end());
  s.put(name + ".shape", Tensor::from_vector(dims, Shape{int64_t(dims.size())}, runtime().cpu()));
}

void save_masked(Serializer& s, const std::string& name, const Parameter& p) {
  const Tensor w = p.array();
  const std::vector<uint8_t> keep = p.mask().astype(uint8).to_vector<uint8_t>();
  const std::vector<double> all = w.astype(float64).to_vector<double>();
  std::vector<double> kept;
  for (size_t i = 0; i < keep.size(); ++i)
    if (keep[i]) kept.push_back(all[i]);
  Device& cpu = runtime().cpu();
  put_shape(s, name, w.shape());
  const std::vector<uint8_t> bits = pack_bits(keep);
  s.put(name + ".mask", Tensor::from_vector(bits, Shape{int64_t(bits.size())}, cpu));
  s.put(name + ".values", Tensor::from_vector(kept, Shape{int64_t(kept.size())}, cpu).astype(w.dtype()));
}

// "<name>.shape": the int64 shape of a parameter stored in a compressed form, checked
// against `want` when known.
Shape read_shape(Serializer& s, const std::string& name, const std::optional<Shape>& want) {
  const std::string shape_key = name + ".shape";
  const Tensor* dims = s.get(shape_key);
  if (!dims || dims->dtype() != int64 || dims->ndim() != 1 || dims->numel() < 1 || dims->numel() > 8)
    s.fail(shape_key, "must be the int64 shape of the compressed parameter");
  Shape shape;
  int64_t n = 1;
  for (int64_t d : dims->to_vector<int64_t>()) {
    if (d < 0 || (d > 0 && n > (int64_t(1) << 40) / d)) s.fail(shape_key, "holds an impossible shape");
    shape.push_back(d);
    n *= d;
  }
  if (want && shape != *want) s.fail(shape_key, "is " + shape.str() + ", but the parameter is " + want->str());
  return shape;
}


// A bitmap of n bits (lowest first) under key, checked: its length and its spare bits.
std::vector<uint8_t> read_bits(Serializer& s, const std::string& key, int64_t n, const Shape& shape) {
  const Tensor* bits = s.get(key);
  if (!bits || bits->dtype() != uint8 || bits->ndim() != 1 || bits->numel() != (n + 7) / 8)
    s.fail(key, "must be a uint8 bitmap of " + std::to_string((n + 7) / 8) + " bytes for " + shape.str());
  const std::vector<uint8_t> b = bits->to_vector<uint8_t>();
  if (n % 8 && (b.back() >> (n % 8)) != 0) s.fail(key, "has bits set beyond the parameter's elements (damaged)");
  std::vector<uint8_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = (b[size_t(i / 8)] >> (i % 8)) & 1;
  return out;
}

// The stored shape and the kept elements (0/1 per element), checked against each other,
// against the values' length and against `want` (when known). Reads no large array.
Shape read_masked(Serializer& s, const std::string& name, const std::optional<Shape>& want, std::vector<uint8_t>* keep) {
  const std::string mask_key = name + ".mask", values_key = name + ".values";
  const Shape shape = read_shape(s, name, want);
  const int64_t n = shape.numel();
  *keep = read_bits(s, mask_key, n, shape);
  int64_t kept = 0;
  for (uint8_t k : *keep) kept += k;
  Dtype dtype;
  Shape vshape;
  if (!s.describe(values_key, &dtype, &vshape) || !dtype.is_float() || vshape != Shape{kept})
    s.fail(values_key, "must hold the " + std::to_string(kept) + " kept values the bitmap marks, as floats");
  return shape;
}

// --- A quantized parameter: "<name>.int8" (int8, the weights' shape), "<name>.scale"
// (float32, one per output channel) and optionally "<name>.input_scale" (one float32).

void check_scales(Serializer& s, const std::string& key, const Tensor& t, int64_t count) {
  if (t.dtype() != float32 || t.numel() != count)
    s.fail(key, "must be " + std::to_string(count) + " float32 scale" + (count == 1 ? "" : "s"));
  for (float v : t.to_vector<float>())
    if (!(v > 0) || !std::isfinite(v)) s.fail(key, "holds a scale that is not a positive finite number (damaged)");
}

Parameter::Int8 read_int8(Serializer& s, const std::string& name, const std::optional<Shape>& want, Device& device) {
  const std::string q_key = name + ".int8", scale_key = name + ".scale", in_key = name + ".input_scale";
  const bool binary = !s.contains(q_key);
  Dtype dtype;
  Shape shape;
  if (binary) {
    shape = read_shape(s, name, want);
    if (shape.ndim() < 1) s.fail(name + ".shape", "must have at least one dimension");
  } else {
    if (!s.describe(q_key, &dtype, &shape) || dtype != int8 || shape.ndim() < 1)
      s.fail(q_key, "must be the int8 weights (at least one dimension)");
    if (want && shape != *want) s.fail(q_key, "has shape " + shape.str() + ", but the parameter is " + want->str());
  }
  std::vector<uint8_t> signs;
  if (binary) signs = read_bits(s, name + ".sign", shape.numel(), shape);
  const Tensor* scale = s.get(scale_key);
  if (!scale) s.fail(scale_key, "is missing: quantized weights need their scales");
  check_scales(s, scale_key, *scale, shape[0]);
  if (scale->ndim() != 1) s.fail(scale_key, "must be a vector of one scale per output channel");
  Parameter::Int8 out;
  if (s.contains(in_key)) {
    const Tensor* in = s.get(in_key);
    if (!in) s.fail(in_key, "is None");
    check_scales(s, in_key, *in, 1);
    out.input_scale = in->reshape(Shape{}).to(device);
  }
  if (!s.applying()) {
    if (!binary) s.verify(q_key);
    return out;
  }
  if (binary) {
    std::vector<int8_t> q(signs.size());
    for (size_t i = 0; i < signs.size(); ++i) q[i] = signs[i] ? 1 : -1;
    out.q = Tensor::from_vector(q, shape, runtime().cpu()).to(device);
  } else {
    out.q = s.take(q_key).to(device);
  }
  out.scale = scale->to(device);
  return out;
}

// --- Shared weights: "<name>.codebook" (k floats), "<name>.indices" (uint8: two per byte,
// low nibble first, when k <= 16; else one per byte) and "<name>.shape".

void save_codebook(Serializer& s, const std::string& name, const Parameter& p) {
  const Parameter::Codebook& c = *p.codebook();
  const int64_t k = p.array().numel();
  const std::vector<int32_t> idx = c.indices.to_vector<int32_t>();
  std::vector<uint8_t> packed;
  if (k <= 16) {
    packed.assign((idx.size() + 1) / 2, 0);
    for (size_t i = 0; i < idx.size(); ++i) packed[i / 2] = uint8_t(packed[i / 2] | (idx[i] << (4 * (i % 2))));
  } else {
    for (int32_t v : idx) packed.push_back(uint8_t(v));
  }
  put_shape(s, name, c.indices.shape());
  s.put(name + ".codebook", p.array());
  s.put(name + ".indices", Tensor::from_vector(packed, Shape{int64_t(packed.size())}, runtime().cpu()));
}

// The centroids and the indices (int32, the weights' shape), checked: k in [1, 256],
// centroids finite, the packed length, every index below k, the spare nibble zero.
std::pair<Tensor, Tensor> read_codebook(Serializer& s, const std::string& name, const std::optional<Shape>& want) {
  const std::string cb_key = name + ".codebook", idx_key = name + ".indices";
  const Shape shape = read_shape(s, name, want);
  const Tensor* cb = s.get(cb_key);
  if (!cb || !cb->dtype().is_float() || cb->ndim() != 1 || cb->numel() < 1 || cb->numel() > 256)
    s.fail(cb_key, "must be a codebook of 1 to 256 float centroids");
  for (double v : cb->astype(float64).to_vector<double>())
    if (!std::isfinite(v)) s.fail(cb_key, "holds a centroid that is not a finite number (damaged)");
  const int64_t k = cb->numel(), n = shape.numel();
  const int64_t bytes = k <= 16 ? (n + 1) / 2 : n;
  const Tensor* idx = s.get(idx_key);
  if (!idx || idx->dtype() != uint8 || idx->ndim() != 1 || idx->numel() != bytes)
    s.fail(idx_key, "must be " + std::to_string(bytes) + " bytes of " + (k <= 16 ? "4-bit" : "8-bit") + " indices for " +
                        shape.str() + " and " + std::to_string(k) + " centroids");
  const std::vector<uint8_t> b = idx->to_vector<uint8_t>();
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = k <= 16 ? (b[size_t(i / 2)] >> (4 * (i % 2))) & 15 : b[size_t(i)];
    if (v >= k) s.fail(idx_key, "holds index " + std::to_string(v) + " of a codebook of " + std::to_string(k) + " (damaged)");
    out[size_t(i)] = v;
  }
  if (k <= 16 && n % 2 && (b.back() >> 4) != 0) s.fail(idx_key, "has a spare nibble set (damaged)");
  return {*cb, Tensor::from_vector(out, shape, runtime().cpu())};
}

}  // namespace

void Link::serialize(Serializer& s) {
  for (auto& [name, p] : params_) {
    if (s.saving()) {
      if (const Parameter::Int8* q = p->quantized()) {
        if (q->binary()) {  // a sign bitmap, 1 for +1: "<name>.sign", with the scale and shape
          std::vector<uint8_t> plus;
          for (int8_t v : q->q.to_vector<int8_t>()) plus.push_back(v > 0);
          const std::vector<uint8_t> bits = pack_bits(plus);
          put_shape(s, name, q->q.shape());
          s.put(name + ".sign", Tensor::from_vector(bits, Shape{int64_t(bits.size())}, runtime().cpu()));
        } else {
          s.put(name + ".int8", q->q);
        }
        s.put(name + ".scale", q->scale);
        if (q->input_scale.defined()) s.put(name + ".input_scale", q->input_scale);
      } else if (p->codebook()) {
        save_codebook(s, name, *p);
      } else if (p->is_initialized() && p->mask().defined()) {
        save_masked(s, name, *p);
      } else if (p->is_initialized() && p->storage_dtype() && *p->storage_dtype() != p->array().dtype()) {
        s.put(name, p->array().astype(*p->storage_dtype()));
      } else {
        s.put(name, p->is_initialized() ? p->array() : Tensor());
      }
      continue;
    }
    // The file says which form the parameter takes.
    const std::optional<Shape> known = p->weight_shape();
    if (s.contains(name + ".int8") || s.contains(name + ".sign")) {
      Parameter::Int8 q = read_int8(s, name, known, device());
      if (s.applying()) p->set_int8(std::move(q));
      continue;
    }
    if (s.contains(name + ".codebook")) {
      auto [centroids, indices] = read_codebook(s, name, known);
      if (s.applying()) {
        const bool enabled = p->update_enabled();
        *p = Parameter(Initializer(), Shape(), false, p->param_dtype());
        p->set_codebook(centroids.astype(p->param_dtype()).to(device()), indices.to(device()));
        p->set_update_enabled(enabled);
      }
      continue;
    }
    if (s.contains(name + ".mask")) {
      std::vector<uint8_t> keep;
      const Shape shape = read_masked(s, name, known, &keep);
      const std::string values_key = name + ".values";
      if (!s.applying()) {
        s.verify(values_key);
        continue;
      }
      const std::vector<double> kept = s.take(values_key).astype(float64).to_vector<double>();
      std::vector<double> dense(keep.size(), 0.0);
      for (size_t i = 0, j = 0; i < keep.size(); ++i)
        if (keep[i]) dense[i] = kept[j++];
      Device& cpu = runtime().cpu();
      const Tensor values = Tensor::from_vector(dense, shape, cpu).astype(p->param_dtype()).to(device());
      const Tensor mask = Tensor::from_vector(keep, shape, cpu).astype(bool_).to(device());
      if (p->is_initialized()) {
        Tensor target = p->array();
        ops::copy(target, values);
      } else {
        const bool enabled = p->update_enabled();
        *p = Parameter(values);
        p->set_update_enabled(enabled);
      }
      p->set_mask(mask);
      continue;
    }
    if (s.applying()) p->set_mask(Tensor());
    Dtype dtype;
    Shape shape;
    if (!s.describe(name, &dtype, &shape)) {
      // None, or (not strict) missing: the parameter stays as it is, unless it has no values.
      if (!p->is_initialized() && s.strict() && s.contains(name))
        s.fail(name, std::string("is None in the file (a parameter saved uninitialised), and has no values here ") +
                         (s.fresh_object() || p->is_pending() ? "either: a whole model needs every parameter"
                                          : "either: load non-strictly to leave it uninitialised"));
      continue;
    }
    if (!dtype.is_float()) s.fail(name, std::string("is ") + dtype.name() + ", not floating point");
    const std::optional<Shape> want = p->weight_shape();
    if (want && shape != *want) s.fail(name, "has shape " + shape.str() + ", but the parameter is " + want->str());
    if (s.applying() && (p->is_quantized() || p->codebook())) {
      // The file holds plain values: the parameter takes them as such.
      const bool enabled = p->update_enabled();
      *p = Parameter(Initializer(), Shape(), false, p->param_dtype());
      p->set_update_enabled(enabled);
    }
    if (!s.applying()) {
      s.verify(name);
    } else if (p->is_initialized()) {
      Tensor target = p->array();
      s.read_into(name, target);
    } else {
      // A lazy parameter takes the stored array (Chainer initialises it from the file).
      const bool enabled = p->update_enabled();
      *p = Parameter(s.take(name).astype(p->param_dtype()).to(device()));
      p->set_update_enabled(enabled);
    }
    // A half-precision copy of a wider parameter stays half precision when saved again.
    if (s.applying()) {
      const bool half = (dtype == float16 || dtype == bfloat16) && p->array().dtype().size() > 2;
      p->set_storage_dtype(half ? std::optional<Dtype>(dtype) : std::nullopt);
    }
  }
  for (auto& [name, t] : persistents_) {
    if (t->defined() || s.saving()) {
      s(name, *t);
      continue;
    }
    Tensor value;  // not made yet: takes the stored array, on this link's device
    if (s(name, value) && s.applying()) *t = value.to(device());
  }
  for (auto& [name, child] : children_) {
    Serializer sub = s[name];
    child->serialize(sub);
  }
}

}  // namespace catena
