// Optimizers, with Chainer's hyper-parameter names, defaults and update formulas.
#pragma once

#include <catena/link.hpp>

#include <map>
#include <vector>

namespace catena {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Start optimizing the parameters of `target` (which must outlive the optimizer).
  void setup(Link& target);
  // One step for every parameter that has a gradient and is not frozen.
  void update();
  // Chainer's update(lossfun): clear the gradients, compute the loss, backward, update.
  template <class LossFn>
  Variable update(LossFn&& lossfun) {
    require_target();
    target_->cleargrads();
    Variable loss = lossfun();
    loss.backward();
    update();
    return loss;
  }
  int64_t t = 0;  // number of updates so far
  Link* target() const { return target_; }

 protected:
  // Update one parameter; `state` holds its per-parameter arrays (empty at first).
  virtual void update_one(Parameter& p, const Tensor& grad, std::vector<Tensor>& state) = 0;

 private:
  void require_target() const;
  Link* target_ = nullptr;
  std::map<Parameter*, std::vector<Tensor>> states_;
};

namespace optimizers {

// param -= lr * grad
class SGD : public Optimizer {
 public:
  explicit SGD(double lr = 0.01) : lr(lr) {}
  double lr;

 protected:
  void update_one(Parameter& p, const Tensor& grad, std::vector<Tensor>& state) override;
};

// v = momentum * v - lr * grad; param += v
class MomentumSGD : public Optimizer {
 public:
  explicit MomentumSGD(double lr = 0.01, double momentum = 0.9) : lr(lr), momentum(momentum) {}
  double lr, momentum;

 protected:
  void update_one(Parameter& p, const Tensor& grad, std::vector<Tensor>& state) override;
};

// Chainer's Adam: m += (1 - beta1)(g - m); v += (1 - beta2)(g^2 - v); with AMSGrad
// vhat = max(vhat, v); param -= eta (lr m / (sqrt(vhat) + eps) + weight_decay_rate param),
// lr = alpha sqrt(1 - beta2^t) / (1 - beta1^t).
class Adam : public Optimizer {
 public:
  explicit Adam(double alpha = 0.001, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double eta = 1.0,
                double weight_decay_rate = 0.0, bool amsgrad = false)
      : alpha(alpha), beta1(beta1), beta2(beta2), eps(eps), eta(eta), weight_decay_rate(weight_decay_rate),
        amsgrad(amsgrad) {}
  double alpha, beta1, beta2, eps, eta, weight_decay_rate;
  bool amsgrad;
  double lr() const;  // the effective learning rate at the current t

 protected:
  void update_one(Parameter& p, const Tensor& grad, std::vector<Tensor>& state) override;
};

}  // namespace optimizers
}  // namespace catena
