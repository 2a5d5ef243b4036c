// Parameters, initializers, links and optimizers.
#include "../support.hpp"

#include <catena/config.hpp>
#include <catena/functions.hpp>
#include <catena/links.hpp>
#include <catena/optimizers.hpp>
#include <catena/random.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>

using namespace catena;

namespace {

struct MLP : Chain {
  L::Linear l1{L::Linear::lazy(), 8}, l2{8, 2};
  MLP() {
    register_link("l1", l1);
    register_link("l2", l2);
  }
  Variable forward(const Variable& x) { return l2(F::relu(l1(x))); }
};

struct Classifier : Chain {
  MLP predictor;
  Classifier() { register_link("predictor", predictor); }
};

using catena_test::vals;

}  // namespace

TEST_CASE("links: Chainer's parameter names, lazy initialisation, NaN-filled fresh gradients") {
  Classifier model;
  std::vector<std::string> names;
  for (auto& [name, p] : model.namedparams()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"/predictor/l1/W", "/predictor/l1/b", "/predictor/l2/W", "/predictor/l2/b"});
  CHECK_FALSE(model.predictor.l1.W.is_initialized());  // in_size unknown until the first call
  CHECK(model.predictor.l1.b.is_initialized());
  Variable x(Tensor::full(Shape{4, 5}, 0.5, float32, runtime().cpu()));
  Variable y = model.predictor.forward(x);
  CHECK(y.shape() == Shape{4, 2});
  CHECK(model.predictor.l1.W.shape() == Shape{8, 5});
  CHECK(model.predictor.l1.in_size() == 5);
  std::vector<double> g = vals(model.predictor.l2.W.grad());
  CHECK(std::isnan(g[0]));  // as Chainer: clear gradients before the first backward
  model.cleargrads();
  CHECK_FALSE(model.predictor.l2.W.grad().defined());
  std::vector<std::string> links;
  for (auto& [name, l] : model.namedlinks()) links.push_back(name);
  CHECK(links == std::vector<std::string>{"/", "/predictor", "/predictor/l1", "/predictor/l2"});
}

TEST_CASE("links: ChainList names children by position; bad registrations are refused") {
  ChainList list;
  list.append(std::make_unique<L::Linear>(3, 4));
  list.append(std::make_unique<L::Linear>(4, 2, /*nobias=*/true));
  std::vector<std::string> names;
  for (auto& [name, p] : list.namedparams()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"/0/W", "/0/b", "/1/W"});
  CHECK_THROWS_WITH_AS(L::Linear(0, 3), doctest::Contains("Linear::lazy()"), Error);
  struct Bad : Chain {
    Parameter p{initializers::Zero(), Shape{2}, true};
    Bad() {
      register_param("p", p);
      register_param("p", p);
    }
  };
  CHECK_THROWS_WITH_AS(Bad(), doctest::Contains("'p' is already a parameter"), Error);
}

TEST_CASE("initializers follow Chainer's scales") {
  seed(3);
  Tensor w = Tensor::empty(Shape{200, 400}, float64, runtime().cpu());
  initializers::LeCunNormal()(w);
  std::vector<double> v = vals(w);
  double s2 = 0;
  for (double x : v) s2 += x * x;
  CHECK(std::sqrt(s2 / v.size()) == doctest::Approx(std::sqrt(1.0 / 400)).epsilon(0.02));
  initializers::GlorotUniform()(w);
  double bound = std::sqrt(6.0 / 600), mx = 0;
  for (double x : vals(w)) mx = std::max(mx, std::abs(x));
  CHECK(mx <= bound);
  CHECK(mx > 0.99 * bound);
  initializers::HeNormal()(w);
  s2 = 0;
  for (double x : vals(w)) s2 += x * x;
  CHECK(std::sqrt(s2 / v.size()) == doctest::Approx(std::sqrt(2.0 / 400)).epsilon(0.02));
  initializers::Constant(0.25)(w);
  CHECK(vals(w)[123] == 0.25);
  Tensor vec = Tensor::empty(Shape{3}, float32, runtime().cpu());
  CHECK_THROWS_WITH_AS(initializers::LeCunNormal()(vec), doctest::Contains("at least 2 dimensions"), Error);
}

namespace {

// One parameter p = [1, -2] with a fixed gradient, updated twice.
std::vector<double> two_steps(Optimizer& opt, const std::vector<double>& grad) {
  struct One : Chain {
    Parameter p{Tensor::from_vector(std::vector<double>{1, -2}, Shape{2}, runtime().cpu())};
    One() { register_param("p", p); }
  } link;
  opt.setup(link);
  for (int i = 0; i < 2; ++i) {
    link.p.set_grad(Tensor::from_vector(grad, Shape{2}, runtime().cpu()));
    opt.update();
  }
  return vals(link.p.array());
}

}  // namespace

TEST_CASE("optimizers: Chainer's update formulas") {
  optimizers::SGD sgd(0.1);
  std::vector<double> s = two_steps(sgd, {0.5, -1});
  CHECK(s[0] == doctest::Approx(1 - 2 * 0.05).epsilon(1e-15));
  CHECK(s[1] == doctest::Approx(-2 + 2 * 0.1).epsilon(1e-15));
  optimizers::MomentumSGD mom(0.1, 0.9);
  // v1 = -lr g; v2 = 0.9 v1 - lr g
  std::vector<double> m = two_steps(mom, {0.5, -1});
  CHECK(m[0] == doctest::Approx(1 - 0.05 - (0.045 + 0.05)));
  CHECK(m[1] == doctest::Approx(-2 + 0.1 + (0.09 + 0.1)));
  optimizers::Adam adam(0.01, 0.9, 0.999, 1e-8);
  std::vector<double> a = two_steps(adam, {0.5, -1});
  // Hand computation of Chainer's formulas for the first element.
  double p = 1, mm = 0, vv = 0, g = 0.5;
  for (int t = 1; t <= 2; ++t) {
    mm += 0.1 * (g - mm);
    vv += 0.001 * (g * g - vv);
    double lr = 0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
    p -= lr * mm / (std::sqrt(vv) + 1e-8);
  }
  CHECK(a[0] == doctest::Approx(p).epsilon(1e-12));
  CHECK(adam.t == 2);
  // Decoupled weight decay and AMSGrad, second element (g = -1, p = -2).
  optimizers::Adam decoupled(0.01, 0.9, 0.999, 1e-8, 0.5, 0.1, /*amsgrad=*/true);
  std::vector<double> d = two_steps(decoupled, {0.5, -1});
  p = -2, mm = 0, vv = 0, g = -1;
  double vhat = 0;
  for (int t = 1; t <= 2; ++t) {
    mm += 0.1 * (g - mm);
    vv += 0.001 * (g * g - vv);
    vhat = std::max(vhat, vv);
    double lr = 0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
    p -= 0.5 * (lr * mm / (std::sqrt(vhat) + 1e-8) + 0.1 * p);
  }
  CHECK(d[1] == doctest::Approx(p).epsilon(1e-12));
}

TEST_CASE("optimizers: NesterovAG, AdaGrad, RMSprop and AdaDelta match a hand computation") {
  const double g = 0.5;
  {
    optimizers::NesterovAG opt(0.1, 0.9);
    double p = 1, v = 0;
    for (int t = 0; t < 2; ++t) {
      v = v * 0.9 - 0.1 * g;
      p += 0.81 * v;
      p -= 1.9 * 0.1 * g;
    }
    CHECK(two_steps(opt, {g, g})[0] == doctest::Approx(p).epsilon(1e-14));
  }
  {
    optimizers::AdaGrad opt(0.1, 1e-8);
    double p = 1, h = 0;
    for (int t = 0; t < 2; ++t) {
      h += g * g;
      p -= 0.1 * g / (std::sqrt(h) + 1e-8);
    }
    CHECK(two_steps(opt, {g, g})[0] == doctest::Approx(p).epsilon(1e-14));
  }
  for (bool inside : {false, true}) {
    optimizers::RMSprop opt(0.1, 0.9, 1e-2, inside);
    double p = 1, ms = 0;
    for (int t = 0; t < 2; ++t) {
      ms = ms * 0.9 + 0.1 * g * g;
      p -= 0.1 * g / (inside ? std::sqrt(ms + 1e-2) : std::sqrt(ms) + 1e-2);
    }
    CHECK(two_steps(opt, {g, g})[0] == doctest::Approx(p).epsilon(1e-14));
  }
  {
    optimizers::AdaDelta opt(0.9, 1e-3);
    double p = 1, msg = 0, msdx = 0;
    for (int t = 0; t < 2; ++t) {
      msg = msg * 0.9 + 0.1 * g * g;
      double dx = std::sqrt((msdx + 1e-3) / (msg + 1e-3)) * g;
      msdx = msdx * 0.9 + 0.1 * dx * dx;
      p -= dx;
    }
    CHECK(two_steps(opt, {g, g})[0] == doctest::Approx(p).epsilon(1e-14));
  }
}

TEST_CASE("optimizers: registered by name, with Chainer's hyper-parameter names; state keys") {
  std::vector<std::string> names = optimizers::names();
  for (const char* n : {"sgd", "momentum_sgd", "nesterov_ag", "adagrad", "rmsprop", "adadelta", "adam"})
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  auto adam = optimizers::create("Adam", {{"alpha", 0.002}, {"amsgrad", 1}});
  CHECK(std::string(adam->name()) == "adam");
  CHECK(adam->hyperparam("alpha") == 0.002);
  CHECK(adam->hyperparam("amsgrad") == 1);
  CHECK(adam->hyperparam("beta2") == 0.999);
  CHECK(std::string(optimizers::create("MomentumSGD")->name()) == "momentum_sgd");
  CHECK_THROWS_WITH_AS(optimizers::create("adamw"), doctest::Contains("unknown optimizer 'adamw' (known: adadelta"),
                       Error);
  CHECK_THROWS_WITH_AS(optimizers::create("sgd", {{"alpha", 1}}), "sgd has no hyper-parameter 'alpha' (it has: lr)",
                       Error);
  CHECK_THROWS_WITH_AS(adam->set_hyperparam("amsgrad", 0.5), doctest::Contains("a flag"), Error);
  optimizers::register_optimizer("my_sgd", [] { return std::make_unique<optimizers::SGD>(0.5); });
  CHECK(optimizers::create("my_sgd")->hyperparam("lr") == 0.5);
  CHECK_THROWS_AS(optimizers::register_optimizer("sgd", [] { return std::make_unique<optimizers::SGD>(); }), Error);

  // Per-parameter state under Chainer's keys.
  struct One : Chain {
    Parameter p{Tensor::from_vector(std::vector<double>{1, -2}, Shape{2}, runtime().cpu())};
    One() { register_param("p", p); }
  } link;
  adam->setup(link);
  link.p.set_grad(Tensor::from_vector(std::vector<double>{0.5, -1}, Shape{2}, runtime().cpu()));
  adam->update();
  std::vector<std::string> keys;
  for (auto& [k, t] : adam->namedstates()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"/p/m", "/p/v", "/p/vhat"});
}

TEST_CASE("optimizer hooks: WeightDecay, Lasso, GradientClipping, GradientHardClipping, GradientNoise") {
  auto step = [](std::shared_ptr<OptimizerHook> hook, const std::vector<double>& grad) {
    optimizers::SGD sgd(1.0);  // p -= g: the change is the hooked gradient
    sgd.add_hook(hook);
    std::vector<double> p = two_steps(sgd, grad);
    return std::vector<double>{1 - p[0], -2 - p[1]};  // the sum of the two hooked gradients
  };
  // WeightDecay: g += rate p (p changes between the steps).
  std::vector<double> d = step(std::make_shared<optimizer_hooks::WeightDecay>(0.1), {0.5, -1});
  double p0 = 1, s0 = 0;
  for (int t = 0; t < 2; ++t) {
    double gg = 0.5 + 0.1 * p0;
    s0 += gg;
    p0 -= gg;
  }
  CHECK(d[0] == doctest::Approx(s0).epsilon(1e-14));
  // Lasso: g += rate sign(p).
  d = step(std::make_shared<optimizer_hooks::Lasso>(0.1), {0.0, 0.0});
  CHECK(d[0] == doctest::Approx(0.2));
  CHECK(d[1] == doctest::Approx(-0.2));
  // GradientClipping: |(3, 4)| = 5 scaled to 1.
  d = step(std::make_shared<optimizer_hooks::GradientClipping>(1.0), {3, 4});
  CHECK(d[0] == doctest::Approx(2 * 0.6));
  CHECK(d[1] == doctest::Approx(2 * 0.8));
  d = step(std::make_shared<optimizer_hooks::GradientClipping>(10.0), {3, 4});  // under the threshold
  CHECK(d[0] == doctest::Approx(6));
  // GradientHardClipping.
  d = step(std::make_shared<optimizer_hooks::GradientHardClipping>(-0.5, 0.25), {3, -4});
  CHECK(d[0] == doctest::Approx(0.5));
  CHECK(d[1] == doctest::Approx(-1.0));
  // GradientNoise changes the gradient by a random amount of the right scale.
  seed(4);
  d = step(std::make_shared<optimizer_hooks::GradientNoise>(0.01), {0, 0});
  CHECK(d[0] != 0.0);
  CHECK(std::abs(d[0]) < 1.0);
  // Hook names are unique; remove_hook takes one away.
  optimizers::SGD sgd;
  sgd.add_hook(std::make_shared<optimizer_hooks::WeightDecay>(0.1));
  CHECK_THROWS_WITH_AS(sgd.add_hook(std::make_shared<optimizer_hooks::WeightDecay>(0.2)),
                       doctest::Contains("'WeightDecay' is already added"), Error);
  sgd.remove_hook("WeightDecay");
  CHECK_THROWS_AS(sgd.remove_hook("WeightDecay"), Error);
}

TEST_CASE("optimizers: a frozen link is not updated; update(lossfun) clears, backprops and steps") {
  seed(1);
  MLP model;
  Variable x(Tensor::full(Shape{2, 3}, 1.0, float32, runtime().cpu()));
  model.forward(x);  // initialise l1
  optimizers::SGD opt(0.5);
  opt.setup(model);
  model.l1.disable_update();
  std::vector<double> w1 = vals(model.l1.W.array()), b2 = vals(model.l2.b.array());
  Tensor t = Tensor::from_vector(std::vector<int32_t>{0, 0}, Shape{2}, runtime().cpu());
  opt.update([&] { return F::softmax_cross_entropy(model.forward(x), t); });
  CHECK(vals(model.l1.W.array()) == w1);
  CHECK(vals(model.l2.b.array()) != b2);  // the bias always gets a gradient
  optimizers::SGD unset;
  CHECK_THROWS_WITH_AS(unset.update(), doctest::Contains("call setup(link) before update"), Error);
}

namespace {

// Chainer's optimizer test: a linear classifier on linearly separable data, 100 steps of
// batch 32, must exceed 90 % accuracy.
double train_linear(Optimizer& opt, Device& d) {
  seed(7);
  struct Model : Chain {
    L::Linear l{10, 2};
    Model() { register_link("l", l); }
  } model;
  model.to_device(d);
  opt.setup(model);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> w(10);
  for (auto& v : w) v = normal(rng);
  auto batch = [&](int n, Tensor* xs, Tensor* ts) {
    std::vector<float> x(size_t(n) * 10);
    std::vector<int32_t> t(n);
    for (int i = 0; i < n; ++i) {
      float s = 0;
      for (int k = 0; k < 10; ++k) x[i * 10 + k] = normal(rng), s += x[i * 10 + k] * w[k];
      t[i] = s > 0;
    }
    *xs = Tensor::from_vector(x, Shape{n, 10}, d);
    *ts = Tensor::from_vector(t, Shape{n}, d);
  };
  for (int step = 0; step < 100; ++step) {
    Tensor x, t;
    batch(32, &x, &t);
    opt.update([&] { return F::softmax_cross_entropy(model.l(Variable(x)), t); });
  }
  Tensor x, t;
  batch(1000, &x, &t);
  auto guard = no_backprop_mode();
  return F::accuracy(model.l(Variable(x)), t).array().to_vector<float>()[0];
}

}  // namespace

TEST_CASE("optimizers train a linear classifier past 90 % accuracy") {
  // Chainer's test settings for each optimizer.
  const std::vector<std::pair<std::string, std::map<std::string, double>>> cases = {
      {"sgd", {{"lr", 0.1}}},          {"momentum_sgd", {{"lr", 0.05}}}, {"nesterov_ag", {{"lr", 0.05}}},
      {"adagrad", {{"lr", 0.1}}},      {"rmsprop", {{"lr", 0.01}}},      {"adadelta", {{"eps", 1e-5}}},
      {"adam", {{"alpha", 0.05}}},     {"adam", {{"alpha", 0.05}, {"amsgrad", 1}}}};
  for (auto& [name, hp] : cases) {
    CAPTURE(name);
    auto opt = optimizers::create(name, hp);
    CHECK(train_linear(*opt, runtime().cpu()) > 0.9);
  }
}

TEST_CASE("a link moves to a device without host memory and trains there") {
  optimizers::Adam adam(0.05);
  CHECK(train_linear(adam, device("opaque:0")) > 0.9);
  optimizers::MomentumSGD mom(0.05);  // its fused update falls back to the CPU with copies
  CHECK(train_linear(mom, device("opaque:0")) > 0.9);
}
