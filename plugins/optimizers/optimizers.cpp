// The optimizer base and SGD, MomentumSGD, Adam. Updates run on the parameter's device
// with array ops and write into the parameter's own storage.
#include <catena/ops.hpp>
#include <catena/optimizers.hpp>

#include <cmath>

namespace catena {

namespace {
Tensor scalar(double v, const Tensor& like) { return Tensor::full(Shape{}, v, like.dtype(), like.device()); }
}  // namespace

void Optimizer::setup(Link& target) {
  target_ = &target;
  states_.clear();
  t = 0;
}

void Optimizer::require_target() const {
  if (!target_) throw Error(CT_FAILED_PRECONDITION, "optimizer: call setup(link) before update");
}

void Optimizer::update() {
  require_target();
  ++t;
  for (Parameter* p : target_->params()) {
    if (!p->is_initialized() || !p->update_enabled()) continue;
    Tensor g = p->grad();
    if (!g.defined()) continue;
    update_one(*p, g, states_[p]);
  }
}

namespace optimizers {

void SGD::update_one(Parameter& p, const Tensor& g, std::vector<Tensor>&) {
  const Tensor& w = p.array();
  ops::copy(w, ops::sub(w, ops::mul(g, scalar(lr, g))));
}

void MomentumSGD::update_one(Parameter& p, const Tensor& g, std::vector<Tensor>& state) {
  const Tensor& w = p.array();
  if (state.empty()) state.push_back(Tensor::zeros(w.shape(), w.dtype(), w.device()));
  Tensor& v = state[0];
  ops::copy(v, ops::sub(ops::mul(v, scalar(momentum, v)), ops::mul(g, scalar(lr, g))));
  ops::copy(w, ops::add(w, v));
}

double Adam::lr() const {
  double fix1 = 1.0 - std::pow(beta1, double(t)), fix2 = 1.0 - std::pow(beta2, double(t));
  return alpha * std::sqrt(fix2) / fix1;
}

void Adam::update_one(Parameter& p, const Tensor& g, std::vector<Tensor>& state) {
  const Tensor& w = p.array();
  if (state.empty()) {
    state.push_back(Tensor::zeros(w.shape(), w.dtype(), w.device()));                  // m
    state.push_back(Tensor::zeros(w.shape(), w.dtype(), w.device()));                  // v
    if (amsgrad) state.push_back(Tensor::zeros(w.shape(), w.dtype(), w.device()));     // vhat
  }
  Tensor &m = state[0], &v = state[1];
  ops::copy(m, ops::add(m, ops::mul(ops::sub(g, m), scalar(1 - beta1, g))));
  ops::copy(v, ops::add(v, ops::mul(ops::sub(ops::square(g), v), scalar(1 - beta2, g))));
  Tensor vhat = v;
  if (amsgrad) {
    ops::copy(state[2], ops::maximum(state[2], v));
    vhat = state[2];
  }
  Tensor step = ops::div(ops::mul(m, scalar(lr(), m)), ops::add(ops::sqrt(vhat), scalar(eps, vhat)));
  if (weight_decay_rate != 0) step = ops::add(step, ops::mul(w, scalar(weight_decay_rate, w)));
  ops::copy(w, ops::sub(w, ops::mul(step, scalar(eta, step))));
}

}  // namespace optimizers
}  // namespace catena
