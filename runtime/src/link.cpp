// Parameters, initializers and the Link tree.
#include <catena/link.hpp>
#include <catena/ops.hpp>
#include <catena/random.hpp>

#include "internal.hpp"

#include <cmath>
#include <limits>
#include <memory>
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
    if (!p->is_initialized() || &p->device() == &d) continue;
    Tensor grad = p->grad();
    p->set_array(p->array().to(d));
    p->set_grad(grad.defined() ? grad.to(d) : Tensor());
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
    if (!from.is_initialized()) continue;
    Tensor a = mode == CopyMode::share ? from.array() : from.array().clone();
    to = Parameter(a);
    to.set_update_enabled(from.update_enabled());
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

void Link::serialize(Serializer& s) {
  for (auto& [name, p] : params_) {
    if (s.saving()) {
      s.put(name, p->is_initialized() ? p->array() : Tensor());
      continue;
    }
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
    const Shape& want = p->is_initialized() ? p->array().shape() : p->pending_shape();
    if ((p->is_initialized() || p->is_pending()) && shape != want)
      s.fail(name, "has shape " + shape.str() + ", but the parameter is " + want.str());
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
