// LSTM and NStepLSTM against Chainer 7.8.1 (values from tests/data/make_rnn_reference.py),
// and Link::copy.
#include "../support.hpp"

#include <catena/config.hpp>
#include <catena/gradient_check.hpp>
#include <catena/links.hpp>
#include <catena/models.hpp>

#include <doctest/doctest.h>

#include <cmath>

using namespace catena;

namespace {

const std::vector<double> nstep_hy = {0.22382392, 0.208430722, 0.178042278, 0.170623958, 0.150499865, 0.0877355337, -0.0169487577, -0.05981021, -0.0941187069, -0.0733492374, -0.0795872733, -0.0672035739, -0.00803692639, -0.045900017, -0.0734364614, -0.0315419957, -0.052512832, -0.0334888697};
const std::vector<double> nstep_cy = {0.441448838, 0.42838034, 0.364172816, 0.351264894, 0.325591266, 0.188990265, -0.034859553, -0.125428259, -0.194230765, -0.172562927, -0.180269465, -0.145070136, -0.0182220563, -0.100455761, -0.154562443, -0.0648407936, -0.104585931, -0.0640876591};
const std::vector<double> nstep_ys = {-0.00230350764, -0.00312701007, -0.0244364496, -0.0440717861, -0.0490475819, -0.0471754633, -0.0733492374, -0.0795872733, -0.0672035739, -0.00803692639, -0.045900017, -0.0734364614, -0.0212864541, -0.0644732937, -0.0599602051, -0.0315419957, -0.052512832, -0.0334888697};
const std::vector<double> lstm_y1 = {0.0165768228, 0.0821864158, 0.107656814, 0.0160525255, 0.0767038763, 0.0978386179};
const std::vector<double> lstm_y2 = {0.0372279696, 0.0856498256, 0.0735100806};
const std::vector<double> lstm_h = {0.0372279696, 0.0856498256, 0.0735100806, 0.0160525255, 0.0767038763, 0.0978386179};
const std::vector<double> lstm_c = {0.0730615556, 0.16141744, 0.130708501, 0.0307200532, 0.133363247, 0.15619126};
const std::vector<double> lstm_fresh_bias = {0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0};

double w_value(int k, int i, int j) { return 0.3 * std::sin(k + 0.1 * i + 0.03 * j); }
double b_value(int k, int i) { return 0.1 * std::cos(k + i); }
double x_value(int s, int t, int j) { return std::sin(1.0 + s + 0.5 * t + 0.25 * j); }

void set(Parameter& p, const std::function<double(int, int)>& f) {
  const Shape& s = p.shape();
  int rows = int(s[0]), cols = s.ndim() > 1 ? int(s[1]) : 1;
  std::vector<double> v;
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) v.push_back(f(i, j));
  p = Parameter(Tensor::from_vector(v, s, runtime().cpu()).astype(float32));
}

Tensor tensor(const std::vector<double>& v, const Shape& s) {
  return Tensor::from_vector(v, s, runtime().cpu()).astype(float32);
}

void check_close(const Tensor& got, const std::vector<double>& want) {
  std::vector<double> g = got.astype(float64).to_vector<double>();
  REQUIRE(g.size() == want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    CAPTURE(i);
    CHECK(g[i] == doctest::Approx(want[i]).epsilon(1e-5).scale(1e-6));
  }
}

}  // namespace

TEST_CASE("L::LSTM matches Chainer: forget bias 1, a shrinking batch, kept state") {
  L::LSTM fresh(2, 3);
  check_close(fresh.upward.b.array(), lstm_fresh_bias);
  L::LSTM m(2, 3);
  set(m.upward.W, [](int i, int j) { return w_value(0, i, j); });
  set(m.upward.b, [](int i, int) { return b_value(1, i); });
  set(m.lateral.W, [](int i, int j) { return w_value(2, i, j); });
  std::vector<double> x1, x2;
  for (int s = 0; s < 2; ++s)
    for (int j = 0; j < 2; ++j) x1.push_back(x_value(s, 0, j));
  for (int j = 0; j < 2; ++j) x2.push_back(x_value(5, 1, j));
  check_close(m(Variable(tensor(x1, Shape{2, 2}))).array(), lstm_y1);
  check_close(m(Variable(tensor(x2, Shape{1, 2}))).array(), lstm_y2);
  check_close(m.h.array(), lstm_h);
  check_close(m.c.array(), lstm_c);
  CHECK_THROWS_WITH_AS(m(Variable(tensor(std::vector<double>(6, 0.0), Shape{3, 2}))),
                       doctest::Contains("reset_state()"), Error);
  m.reset_state();
  CHECK(m(Variable(tensor(std::vector<double>(6, 0.0), Shape{3, 2}))).shape() == Shape{3, 3});
}

TEST_CASE("L::NStepLSTM matches Chainer on sequences of different lengths, and has Chainer's names") {
  L::NStepLSTM n(2, 2, 3);
  std::vector<std::string> names;
  for (auto& [k, p] : n.namedparams()) names.push_back(k);
  CHECK(names.size() == 32);
  CHECK(names[0] == "/0/w0");
  CHECK(names[8] == "/0/b0");
  CHECK(names[31] == "/1/b7");
  auto params = n.namedparams();
  for (int l = 0; l < 2; ++l)
    for (int k = 0; k < 8; ++k) {
      set(*params[size_t(l * 16 + k)].second, [=](int i, int j) { return w_value(k + 8 * l, i, j); });
      set(*params[size_t(l * 16 + 8 + k)].second, [=](int i, int) { return b_value(k + 8 * l, i); });
    }
  const int lengths[3] = {3, 1, 2};
  std::vector<Variable> xs;
  for (int s = 0; s < 3; ++s) {
    std::vector<double> v;
    for (int t = 0; t < lengths[s]; ++t)
      for (int j = 0; j < 2; ++j) v.push_back(x_value(s, t, j));
    xs.push_back(Variable(tensor(v, Shape{lengths[s], 2})));
  }
  std::vector<double> hx, cx;
  for (int l = 0; l < 2; ++l)
    for (int s = 0; s < 3; ++s)
      for (int j = 0; j < 3; ++j) hx.push_back(0.1 * std::cos(l + s + j)), cx.push_back(0.2 * std::sin(l + s + j));
  UsingConfig test_mode(&Config::train, false);
  auto [hy, cy, ys] = n.forward(Variable(tensor(hx, Shape{2, 3, 3})), Variable(tensor(cx, Shape{2, 3, 3})), xs);
  check_close(hy.array(), nstep_hy);
  check_close(cy.array(), nstep_cy);
  std::vector<Variable> parts = ys;
  check_close(F::concat(parts, 0).array(), nstep_ys);
}

TEST_CASE("NStepLSTM and LSTM gradients pass the gradient check") {
  L::NStepLSTM n(1, 2, 2);
  std::vector<Tensor> inputs = {catena_test::input(Shape{3, 2}, float64, 1), catena_test::input(Shape{2, 2}, float64, 2)};
  for (auto& [k, p] : n.namedparams()) *p = Parameter(p->array().astype(float64));
  gradient_check::check_backward(
      [&](const std::vector<Variable>& in) {
        auto [hy, cy, ys] = n.forward(Variable(), Variable(), in);
        return std::vector<Variable>{F::concat(ys, 0), hy, cy};
      },
      inputs, {catena_test::input(Shape{5, 2}, float64, 3), catena_test::input(Shape{1, 2, 2}, float64, 4),
               catena_test::input(Shape{1, 2, 2}, float64, 5)});
}

TEST_CASE("Link::copy shares, copies or re-initialises; gradients are never shared") {
  models::MLP mlp(4, 2);
  mlp.forward(Variable(Tensor::zeros(Shape{1, 3}, float32)));
  auto shared = mlp.copy(Link::CopyMode::share);
  auto copied = mlp.copy(Link::CopyMode::copy);
  auto fresh = mlp.copy(Link::CopyMode::init);
  auto first = [](Link& l) { return l.namedparams()[0].second->array().to_vector<float>()[0]; };
  float w = first(mlp);
  CHECK(first(*shared) == w);
  CHECK(first(*copied) == w);
  ops::fill(mlp.l1.W.array(), 7.0);
  CHECK(first(*shared) == 7.0f);  // the same array
  CHECK(first(*copied) == w);     // its own array
  CHECK_FALSE(fresh->namedparams()[0].second->is_initialized());  // lazy l1, made again
  CHECK(shared->forward(Variable(Tensor::zeros(Shape{1, 3}, float32))).shape() == Shape{1, 2});
  CHECK_FALSE(shared->namedparams()[0].second->grad().defined());
  L::Classifier clf(std::make_shared<L::Linear>(3, 2));
  auto clf2 = clf.copy(Link::CopyMode::copy);
  CHECK(clf2->namedparams()[0].first == "/predictor/W");
  struct Mine : Chain {};
  Mine mine;
  CHECK_THROWS_WITH_AS(mine.copy(), doctest::Contains("make_like()"), Error);
}
