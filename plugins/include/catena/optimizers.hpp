// Optimizers and optimizer hooks, with Chainer's names, hyper-parameters, defaults and
// update formulas. Each update is one fused op per parameter (api/OPS.md, optim.*), run
// on the parameter's device.
//
//   catena::optimizers::Adam opt;           // or catena::optimizers::create("adam", {{"alpha", 1e-3}})
//   opt.setup(model);
//   opt.add_hook(std::make_shared<catena::optimizer_hooks::WeightDecay>(5e-4));
//   opt.update([&] { return model(x, t); });
#pragma once

#include <catena/link.hpp>
#include <catena/ops.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace catena {

class Optimizer;

// Runs before each update ('pre', the default, on the gradients) or after it ('post').
class OptimizerHook {
 public:
  virtual ~OptimizerHook() = default;
  virtual const char* name() const = 0;
  virtual bool post() const { return false; }
  virtual void operator()(Optimizer& optimizer) = 0;
};

class Optimizer : public Serializable {
 public:
  virtual ~Optimizer() = default;
  // The registered name ("adam", "momentum_sgd", ...).
  virtual const char* name() const = 0;
  // Start optimizing the parameters of `target` (which must outlive the optimizer).
  void setup(Link& target);
  // Chainer's GradientMethod.update(): initialized parameters without a gradient get a
  // zero one, the 'pre' hooks run, t += 1, every parameter that is not frozen is updated,
  // then the 'post' hooks run.
  void update();
  // Chainer's update(lossfun): compute the loss, clear the gradients (after the forward,
  // so parameters initialised lazily in it start clean too), backward, update.
  template <class LossFn>
  Variable update(LossFn&& lossfun) {
    require_target();
    Variable loss = lossfun();
    target_->cleargrads();
    loss.backward();
    update();
    return loss;
  }
  int64_t t = 0;      // number of updates so far
  int64_t epoch = 0;  // Chainer's epoch count (new_epoch() increments it)
  void new_epoch() { ++epoch; }
  Link* target() const { return target_; }
  // Creates the (zero) state of every initialised parameter that has none yet, as the
  // first update would; loading state into a fresh optimizer needs it.
  void init_states();

  // Hooks run in the order added; a name (default: the hook's own) must be unique.
  void add_hook(std::shared_ptr<OptimizerHook> hook, const std::string& name = "");
  void remove_hook(const std::string& name);

  // Hyper-parameters by Chainer's name ("lr", "alpha", "beta1", ...), for the
  // learning-rate schedules and the command line. Unknown names throw, listing the known.
  double hyperparam(const std::string& name) const;
  void set_hyperparam(const std::string& name, double value);
  std::vector<std::string> hyperparam_names() const;
  // The learning rate the schedules and observe_lr act on ("lr", or "alpha" for Adam).
  virtual const char* lr_name() const { return "lr"; }

  // Per-parameter state with Chainer's keys ("/predictor/l1/W/m"), for serializers;
  // "t" is the update count.
  std::vector<std::pair<std::string, Tensor*>> namedstates();
  // Chainer's Optimizer.serialize: "t", "epoch", and for each parameter with state
  // "<path>/t" and the state arrays ("predictor/l1/W/m"); plus the hyper-parameters under
  // "hyperparam/<name>" (Chainer saves none; read when present), so a resumed run also
  // continues a learning-rate schedule exactly.
  void serialize(Serializer& s) override;

 protected:
  struct HyperParam {
    const char* name;
    double* real;
    bool* flag;
  };
  virtual std::vector<HyperParam> hyperparams() = 0;
  // The names of a parameter's state arrays, in the fused op's output order.
  virtual std::vector<const char*> state_names() const = 0;
  // The fused op ("optim.adam") and its attributes for the current step.
  virtual const char* op_name() const = 0;
  virtual Attrs op_attrs() const = 0;

 private:
  void require_target() const;
  HyperParam find(const std::string& name) const;
  Link* target_ = nullptr;
  std::map<Parameter*, std::vector<Tensor>> states_;
  std::vector<std::pair<std::string, std::shared_ptr<OptimizerHook>>> hooks_;
};

// Optimizer::serialize to and from .npz, so that training resumes with the same updates.
// Loading checks every key and shape before changing anything.
void save_npz(const std::string& path, Optimizer& optimizer);
void load_npz(const std::string& path, Optimizer& optimizer, const std::string& prefix = "", bool strict = true);

namespace optimizers {

// param -= lr * grad
class SGD : public Optimizer {
 public:
  explicit SGD(double lr = 0.01) : lr(lr) {}
  double lr;
  const char* name() const override { return "sgd"; }

 protected:
  std::vector<HyperParam> hyperparams() override { return {{"lr", &lr, nullptr}}; }
  std::vector<const char*> state_names() const override { return {}; }
  const char* op_name() const override { return "optim.sgd"; }
  Attrs op_attrs() const override;
};

// v = momentum * v - lr * grad; param += v
class MomentumSGD : public Optimizer {
 public:
  explicit MomentumSGD(double lr = 0.01, double momentum = 0.9) : lr(lr), momentum(momentum) {}
  double lr, momentum;
  const char* name() const override { return "momentum_sgd"; }

 protected:
  std::vector<HyperParam> hyperparams() override { return {{"lr", &lr, nullptr}, {"momentum", &momentum, nullptr}}; }
  std::vector<const char*> state_names() const override { return {"v"}; }
  const char* op_name() const override { return "optim.momentum_sgd"; }
  Attrs op_attrs() const override;
};

// Nesterov's accelerated gradient: v = mu v - lr g; param += mu^2 v - (1 + mu) lr g
class NesterovAG : public Optimizer {
 public:
  explicit NesterovAG(double lr = 0.01, double momentum = 0.9) : lr(lr), momentum(momentum) {}
  double lr, momentum;
  const char* name() const override { return "nesterov_ag"; }

 protected:
  std::vector<HyperParam> hyperparams() override { return {{"lr", &lr, nullptr}, {"momentum", &momentum, nullptr}}; }
  std::vector<const char*> state_names() const override { return {"v"}; }
  const char* op_name() const override { return "optim.nesterov_ag"; }
  Attrs op_attrs() const override;
};

// h += g^2; param -= lr g / (sqrt(h) + eps)
class AdaGrad : public Optimizer {
 public:
  explicit AdaGrad(double lr = 0.001, double eps = 1e-8) : lr(lr), eps(eps) {}
  double lr, eps;
  const char* name() const override { return "adagrad"; }

 protected:
  std::vector<HyperParam> hyperparams() override { return {{"lr", &lr, nullptr}, {"eps", &eps, nullptr}}; }
  std::vector<const char*> state_names() const override { return {"h"}; }
  const char* op_name() const override { return "optim.adagrad"; }
  Attrs op_attrs() const override;
};

// ms = alpha ms + (1 - alpha) g^2; param -= lr g / (sqrt(ms) + eps)
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(double lr = 0.01, double alpha = 0.99, double eps = 1e-8, bool eps_inside_sqrt = false)
      : lr(lr), alpha(alpha), eps(eps), eps_inside_sqrt(eps_inside_sqrt) {}
  double lr, alpha, eps;
  bool eps_inside_sqrt;
  const char* name() const override { return "rmsprop"; }

 protected:
  std::vector<HyperParam> hyperparams() override {
    return {{"lr", &lr, nullptr}, {"alpha", &alpha, nullptr}, {"eps", &eps, nullptr},
            {"eps_inside_sqrt", nullptr, &eps_inside_sqrt}};
  }
  std::vector<const char*> state_names() const override { return {"ms"}; }
  const char* op_name() const override { return "optim.rmsprop"; }
  Attrs op_attrs() const override;
};

// Zeiler's AdaDelta (no learning rate).
class AdaDelta : public Optimizer {
 public:
  explicit AdaDelta(double rho = 0.95, double eps = 1e-6) : rho(rho), eps(eps) {}
  double rho, eps;
  const char* name() const override { return "adadelta"; }

 protected:
  std::vector<HyperParam> hyperparams() override { return {{"rho", &rho, nullptr}, {"eps", &eps, nullptr}}; }
  std::vector<const char*> state_names() const override { return {"msg", "msdx"}; }
  const char* op_name() const override { return "optim.adadelta"; }
  Attrs op_attrs() const override;
};

// Chainer's Adam: m += (1 - beta1)(g - m); v += (1 - beta2)(g^2 - v); with AMSGrad
// vhat = max(vhat, v); param -= eta (lr m / (sqrt(vhat) + eps) + weight_decay_rate param),
// lr = alpha sqrt(1 - beta2^t) / (1 - beta1^t). weight_decay_rate is decoupled weight
// decay (AdamW).
class Adam : public Optimizer {
 public:
  explicit Adam(double alpha = 0.001, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double eta = 1.0,
                double weight_decay_rate = 0.0, bool amsgrad = false)
      : alpha(alpha), beta1(beta1), beta2(beta2), eps(eps), eta(eta), weight_decay_rate(weight_decay_rate),
        amsgrad(amsgrad) {}
  double alpha, beta1, beta2, eps, eta, weight_decay_rate;
  bool amsgrad;
  double lr() const;  // the effective learning rate at the current t
  const char* name() const override { return "adam"; }
  const char* lr_name() const override { return "alpha"; }

 protected:
  std::vector<HyperParam> hyperparams() override {
    return {{"alpha", &alpha, nullptr}, {"beta1", &beta1, nullptr}, {"beta2", &beta2, nullptr},
            {"eps", &eps, nullptr},     {"eta", &eta, nullptr},     {"weight_decay_rate", &weight_decay_rate, nullptr},
            {"amsgrad", nullptr, &amsgrad}};
  }
  std::vector<const char*> state_names() const override;
  const char* op_name() const override { return "optim.adam"; }
  Attrs op_attrs() const override;
};

// Registry by name. Names are lower-case with underscores ("momentum_sgd"); Chainer's
// class names ("MomentumSGD") are accepted too. Hyper-parameters not given keep their
// defaults; an unknown name or hyper-parameter throws an error listing the valid ones.
using Factory = std::function<std::unique_ptr<Optimizer>()>;
void register_optimizer(const std::string& name, Factory make);
std::unique_ptr<Optimizer> create(const std::string& name, const std::map<std::string, double>& hyperparams = {});
// An optimizer from a command line's spec, "adam" or "adam:alpha=0.001,beta1=0.9,amsgrad=true"
// (true and false for flags); a malformed spec throws, its messages starting with `what`.
std::unique_ptr<Optimizer> create_from_spec(const std::string& spec, const std::string& what = "--optimizer");
std::vector<std::string> names();

}  // namespace optimizers

namespace optimizer_hooks {

// g += rate * param
class WeightDecay : public OptimizerHook {
 public:
  explicit WeightDecay(double rate) : rate(rate) {}
  double rate;
  const char* name() const override { return "WeightDecay"; }
  void operator()(Optimizer& opt) override;
};

// g += rate * sign(param)
class Lasso : public OptimizerHook {
 public:
  explicit Lasso(double rate) : rate(rate) {}
  double rate;
  const char* name() const override { return "Lasso"; }
  void operator()(Optimizer& opt) override;
};

// Scales every gradient by min(1, threshold / the L2 norm of all gradients together).
class GradientClipping : public OptimizerHook {
 public:
  explicit GradientClipping(double threshold) : threshold(threshold) {}
  double threshold;
  const char* name() const override { return "GradientClipping"; }
  void operator()(Optimizer& opt) override;
};

// Clips each gradient element into [lower, upper].
class GradientHardClipping : public OptimizerHook {
 public:
  GradientHardClipping(double lower, double upper) : lower(lower), upper(upper) {}
  double lower, upper;
  const char* name() const override { return "GradientHardClipping"; }
  void operator()(Optimizer& opt) override;
};

// g += N(0, eta / (1 + t)^0.55) noise (Neelakantan et al.), from the default generator.
class GradientNoise : public OptimizerHook {
 public:
  explicit GradientNoise(double eta) : eta(eta) {}
  double eta;
  const char* name() const override { return "GradientNoise"; }
  void operator()(Optimizer& opt) override;
};

}  // namespace optimizer_hooks
}  // namespace catena
