// The optimizer base, the update rules (each one fused op per parameter), the registry by
// name, and the optimizer hooks.
#include <catena/ops.hpp>
#include <catena/optimizers.hpp>
#include <catena/random.hpp>
#include <catena/runtime.hpp>
#include <catena/serializers.hpp>

#include "../common/named_registry.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>
#include <sstream>

namespace catena {

void Optimizer::setup(Link& target) {
  target_ = &target;
  states_.clear();
  t = 0;
}

void Optimizer::require_target() const {
  if (!target_) throw Error(CT_FAILED_PRECONDITION, "optimizer: call setup(link) before update");
}

void Optimizer::add_hook(std::shared_ptr<OptimizerHook> hook, const std::string& name) {
  if (!hook) throw Error(CT_INVALID_ARGUMENT, "add_hook: the hook is null");
  std::string n = name.empty() ? hook->name() : name;
  for (auto& h : hooks_)
    if (h.first == n) throw Error(CT_ALREADY_EXISTS, "add_hook: a hook named '" + n + "' is already added");
  hooks_.push_back({n, std::move(hook)});
}

void Optimizer::remove_hook(const std::string& name) {
  auto it = std::find_if(hooks_.begin(), hooks_.end(), [&](auto& h) { return h.first == name; });
  if (it == hooks_.end()) throw Error(CT_NOT_FOUND, "remove_hook: no hook named '" + name + "'");
  hooks_.erase(it);
}

Optimizer::HyperParam Optimizer::find(const std::string& name) const {
  for (const HyperParam& h : const_cast<Optimizer*>(this)->hyperparams())
    if (name == h.name) return h;
  throw Error(CT_INVALID_ARGUMENT, std::string(this->name()) + " has no hyper-parameter '" + name + "' (it has: " +
                                       detail::join(hyperparam_names()) + ")");
}

double Optimizer::hyperparam(const std::string& name) const {
  HyperParam h = find(name);
  return h.real ? *h.real : double(*h.flag);
}

void Optimizer::set_hyperparam(const std::string& name, double value) {
  HyperParam h = find(name);
  if (h.real) {
    if (!std::isfinite(value))
      throw Error(CT_INVALID_ARGUMENT, std::string(this->name()) + ": " + name + " must be finite");
    *h.real = value;
  } else {
    if (value != 0 && value != 1)
      throw Error(CT_INVALID_ARGUMENT, std::string(this->name()) + ": " + name + " is a flag: give 0 or 1");
    *h.flag = value != 0;
  }
}

std::vector<std::string> Optimizer::hyperparam_names() const {
  std::vector<std::string> out;
  for (const HyperParam& h : const_cast<Optimizer*>(this)->hyperparams()) out.push_back(h.name);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Optimizer::namedstates() {
  require_target();
  std::vector<std::pair<std::string, Tensor*>> out;
  std::vector<const char*> names = state_names();
  for (auto& [path, p] : target_->namedparams()) {
    auto it = states_.find(p);
    if (it == states_.end()) continue;
    for (size_t i = 0; i < it->second.size() && i < names.size(); ++i)
      out.push_back({path + "/" + names[i], &it->second[i]});
  }
  return out;
}

void Optimizer::init_states() {
  require_target();
  const size_t nstate = state_names().size();
  for (Parameter* p : target_->params()) {
    if (!p->is_initialized()) continue;
    std::vector<Tensor>& state = states_[p];
    if (!state.empty() && state[0].shape() != p->shape()) state.clear();
    while (state.size() < nstate) state.push_back(Tensor::zeros(p->shape(), p->dtype(), p->device()));
  }
}

void Optimizer::serialize(Serializer& s) {
  if (!target_)
    throw Error(CT_FAILED_PRECONDITION, std::string(name()) + ": an optimizer is saved or loaded after setup(link)");
  s("t", t);
  s("epoch", epoch);
  for (const std::string& h : hyperparam_names()) {
    const std::string key = "hyperparam/" + h;
    if (s.saving()) {
      double v = hyperparam(h);
      s(key, v);
    } else if (s.contains(key)) {
      const Tensor* v = s.get(key);
      if (v && v->numel() != 1) s.fail(key, "is not one number");
      if (v && s.applying()) set_hyperparam(h, v->astype(float64).to_vector<double>()[0]);
    }
  }
  // A fresh optimizer has no state yet: make it (zeros, as the first update would) so that
  // both passes check the stored state's shapes.
  if (s.loading()) init_states();
  std::set<std::string> with_state;
  for (auto& [key, tensor] : namedstates()) {
    s(key.substr(1), *tensor);
    with_state.insert(key.substr(1, key.rfind('/') - 1));
  }
  for (auto& [name, p] : target_->namedparams()) {
    if (!with_state.count(name.substr(1))) continue;
    int64_t rule_t = t;  // Chainer keeps one count per parameter; Catena's are all t
    s(name.substr(1) + "/t", rule_t);
  }
}

void save_npz(const std::string& path, Optimizer& opt) { save(path, opt, "npz"); }

void load_npz(const std::string& path, Optimizer& opt, const std::string& prefix, bool strict) {
  load(path, opt, prefix, strict, "npz");
}

void Optimizer::update() {
  require_target();
  std::vector<Parameter*> params = target_->params();
  for (Parameter* p : params)
    if (p->is_initialized() && !p->grad().defined())
      p->set_grad(Tensor::zeros(p->shape(), p->dtype(), p->device()));
  for (auto& h : hooks_)
    if (!h.second->post()) (*h.second)(*this);
  ++t;
  const char* op = op_name();
  const Attrs attrs = op_attrs();
  const size_t nstate = state_names().size();
  // Last parameters first: the first layer's weights, which the next forward reads first,
  // are then the most recently written and still in cache (updates are independent, so
  // the order changes no result).
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    Parameter* p = *it;
    if (!p->is_initialized() || !p->update_enabled()) continue;
    const Tensor& w = p->array();
    Tensor g = p->grad();
    if (g.dtype() != w.dtype() || g.shape() != w.shape())
      throw Error(CT_INVALID_ARGUMENT, std::string(name()) + ": a gradient of " + g.shape().str() + " " +
                                           g.dtype().name() + " does not match its parameter " + w.shape().str() +
                                           " " + w.dtype().name());
    if (&g.device() != &w.device()) g = g.to(w.device());
    std::vector<Tensor>& state = states_[p];
    // A parameter whose shape changed (structured pruning) starts its state afresh.
    if (!state.empty() && state[0].shape() != w.shape()) state.clear();
    while (state.size() < nstate) state.push_back(Tensor::zeros(w.shape(), w.dtype(), w.device()));
    std::vector<Tensor> outs{w};
    outs.insert(outs.end(), state.begin(), state.end());
    launch(op, 1, {g}, outs, attrs);
    p->apply_mask();  // a pruned weight stays zero, whatever the rule and its state did
  }
  for (auto& h : hooks_)
    if (h.second->post()) (*h.second)(*this);
}

namespace optimizers {

Attrs SGD::op_attrs() const { return Attrs().f("lr", lr); }
Attrs MomentumSGD::op_attrs() const { return Attrs().f("lr", lr).f("momentum", momentum); }
Attrs NesterovAG::op_attrs() const { return Attrs().f("lr", lr).f("momentum", momentum); }
Attrs AdaGrad::op_attrs() const { return Attrs().f("lr", lr).f("eps", eps); }
Attrs RMSprop::op_attrs() const {
  return Attrs().f("lr", lr).f("alpha", alpha).f("eps", eps).b("eps_inside_sqrt", eps_inside_sqrt);
}
Attrs AdaDelta::op_attrs() const { return Attrs().f("rho", rho).f("eps", eps); }

double Adam::lr() const {
  double fix1 = 1.0 - std::pow(beta1, double(t)), fix2 = 1.0 - std::pow(beta2, double(t));
  return alpha * std::sqrt(fix2) / fix1;
}
std::vector<const char*> Adam::state_names() const {
  if (amsgrad) return {"m", "v", "vhat"};
  return {"m", "v"};
}
Attrs Adam::op_attrs() const {
  return Attrs()
      .f("lr", lr())
      .f("beta1", beta1)
      .f("beta2", beta2)
      .f("eps", eps)
      .f("eta", eta)
      .f("weight_decay_rate", weight_decay_rate)
      .b("amsgrad", amsgrad);
}

namespace {

detail::NamedRegistry<Factory>& registry() {
  static detail::NamedRegistry<Factory>* r = [] {
    auto* reg = new detail::NamedRegistry<Factory>(
        "optimizer", {{"momentumsgd", "momentum_sgd"}, {"nesterovag", "nesterov_ag"}});
    reg->add("sgd", [] { return std::make_unique<SGD>(); });
    reg->add("momentum_sgd", [] { return std::make_unique<MomentumSGD>(); });
    reg->add("nesterov_ag", [] { return std::make_unique<NesterovAG>(); });
    reg->add("adagrad", [] { return std::make_unique<AdaGrad>(); });
    reg->add("rmsprop", [] { return std::make_unique<RMSprop>(); });
    reg->add("adadelta", [] { return std::make_unique<AdaDelta>(); });
    reg->add("adam", [] { return std::make_unique<Adam>(); });
    return reg;
  }();
  return *r;
}

}  // namespace

void register_optimizer(const std::string& name, Factory make) {
  if (!make) throw Error(CT_INVALID_ARGUMENT, "register_optimizer: the factory is empty");
  registry().add(name, std::move(make));
}

std::vector<std::string> names() { return registry().names(); }

std::unique_ptr<Optimizer> create(const std::string& name, const std::map<std::string, double>& hyperparams) {
  std::unique_ptr<Optimizer> opt = registry().find(name)();
  for (auto& [k, v] : hyperparams) opt->set_hyperparam(k, v);
  return opt;
}

std::unique_ptr<Optimizer> create_from_spec(const std::string& spec, const std::string& what) {
  const size_t colon = spec.find(':');
  std::map<std::string, double> hp;
  if (colon != std::string::npos) {
    std::stringstream rest(spec.substr(colon + 1));
    std::string item;
    while (std::getline(rest, item, ',')) {
      const size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0)
        throw Error(CT_INVALID_ARGUMENT, what + ": '" + item + "' is not NAME=VALUE (e.g. adam:alpha=0.001,beta1=0.9)");
      std::string key = item.substr(0, eq), value = item.substr(eq + 1);
      if (value == "true" || value == "True") value = "1";
      if (value == "false" || value == "False") value = "0";
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end)
        throw Error(CT_INVALID_ARGUMENT, what + ": the value of " + key + " ('" + value + "') is not a number");
      hp[key] = v;
    }
  }
  return create(spec.substr(0, colon), hp);
}

}  // namespace optimizers

namespace optimizer_hooks {

namespace {

Tensor scalar(double v, const Tensor& like) { return Tensor::full(Shape{}, v, like.dtype(), like.device()); }

template <class Fn>
void each_grad(Optimizer& opt, Fn&& fn) {
  for (Parameter* p : opt.target()->params()) {
    if (!p->is_initialized() || !p->update_enabled()) continue;
    Tensor g = p->grad();
    if (g.defined()) fn(*p, g);
  }
}

}  // namespace

void WeightDecay::operator()(Optimizer& opt) {
  each_grad(opt, [&](Parameter& p, const Tensor& g) { ops::copy(g, ops::add(g, ops::mul(p.array(), scalar(rate, g)))); });
}

void Lasso::operator()(Optimizer& opt) {
  each_grad(opt, [&](Parameter& p, const Tensor& g) {
    const Tensor& w = p.array();
    Tensor zero = scalar(0, w);
    Tensor sign = ops::sub(ops::where(ops::greater(w, zero), scalar(1, w), zero),
                           ops::where(ops::less(w, zero), scalar(1, w), zero));
    ops::copy(g, ops::add(g, ops::mul(sign, scalar(rate, g))));
  });
}

void GradientClipping::operator()(Optimizer& opt) {
  double sq = 0;
  each_grad(opt, [&](Parameter&, const Tensor& g) {
    sq += ops::sum(ops::square(g.dtype() == float64 ? g : g.astype(float64))).to_vector<double>()[0];
  });
  double norm = std::sqrt(sq);
  if (!(norm > 0)) return;
  double rate = threshold / norm;
  if (rate >= 1) return;
  each_grad(opt, [&](Parameter&, const Tensor& g) { ops::copy(g, ops::mul(g, scalar(rate, g))); });
}

void GradientHardClipping::operator()(Optimizer& opt) {
  each_grad(opt, [&](Parameter&, const Tensor& g) {
    ops::copy(g, ops::minimum(ops::maximum(g, scalar(lower, g)), scalar(upper, g)));
  });
}

void GradientNoise::operator()(Optimizer& opt) {
  double stddev = std::sqrt(eta / std::pow(1.0 + double(opt.t), 0.55));
  each_grad(opt, [&](Parameter&, const Tensor& g) {
    ops::copy(g, ops::add(g, default_generator().normal(g.shape(), g.dtype(), g.device(), 0.0, stddev)));
  });
}

}  // namespace optimizer_hooks
}  // namespace catena
