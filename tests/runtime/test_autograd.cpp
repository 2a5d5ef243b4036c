// Chainer's autograd semantics: graph recording, backward order, accumulation, retention,
// no_backprop_mode, unchain_backward, double backprop, debug mode.
#include "../support.hpp"

#include <catena/config.hpp>
#include <catena/function_node.hpp>
#include <catena/functions.hpp>

#include <doctest/doctest.h>

using namespace catena;

namespace {

Variable var(std::vector<double> v, Shape s, bool requires_grad = true) {
  return Variable(Tensor::from_vector(v, s, runtime().cpu()), requires_grad);
}
using catena_test::vals;

}  // namespace

TEST_CASE("autograd: y = x*x + 3x gives dy/dx = 2x + 3") {
  Variable x = var({1, -2, 0.5}, Shape{3});
  Variable y = x * x + 3.0 * x;
  CHECK(vals(y.array()) == std::vector<double>{4, -2, 1.75});
  CHECK(bool(y.creator()));
  CHECK(y.rank() > x.rank());
  y.set_grad(Tensor::full(Shape{3}, 1.0, float64, runtime().cpu()));
  y.backward();
  CHECK(vals(x.grad()) == std::vector<double>{5, -1, 4});
}

TEST_CASE("autograd: leaf gradients accumulate until cleargrad; intermediates keep none") {
  Variable x = var({2}, Shape{});
  Variable h = x * x;
  Variable y = F::sum(h * 2.0);
  y.backward();
  CHECK(vals(x.grad()) == std::vector<double>{8});
  CHECK_FALSE(h.grad().defined());  // intermediate: not retained
  Variable y2 = F::sum(x * x * 2.0);
  y2.backward();
  CHECK(vals(x.grad()) == std::vector<double>{16});  // accumulated
  x.cleargrad();
  Variable y3 = F::sum(x * x * 2.0);
  y3.backward(/*retain_grad=*/true);
  CHECK(vals(x.grad()) == std::vector<double>{8});
}

TEST_CASE("autograd: a diamond sums the gradients of both paths") {
  Variable a = var({3}, Shape{});
  Variable b = F::exp(a), c = F::sin(a);
  Variable d = b * c;  // d' = e^a sin a + e^a cos a
  d.backward();
  double want = std::exp(3.0) * (std::sin(3.0) + std::cos(3.0));
  CHECK(vals(a.grad())[0] == doctest::Approx(want).epsilon(1e-12));
}

TEST_CASE("autograd: the same variable twice in one function") {
  Variable x = var({3}, Shape{});
  (x * x).backward();
  CHECK(vals(x.grad())[0] == 6);
}

TEST_CASE("autograd: no_backprop_mode records nothing; force_backprop_mode overrides it") {
  Variable x = var({1, 2}, Shape{2});
  {
    auto guard = no_backprop_mode();
    CHECK_FALSE(config().enable_backprop);
    Variable y = F::exp(x);
    CHECK_FALSE(bool(y.creator()));
    CHECK(y.requires_grad());  // still computed from the inputs, as in Chainer
    {
      auto force = force_backprop_mode();
      CHECK(bool(F::exp(x).creator()));
    }
    CHECK_FALSE(bool(F::exp(x).creator()));
  }
  CHECK(config().enable_backprop);
}

TEST_CASE("autograd: integer variables never require gradients") {
  Variable i(Tensor::from_vector(std::vector<int32_t>{1, 2}, Shape{2}, runtime().cpu()));
  CHECK_FALSE(i.requires_grad());
  Variable c = var({1, 2}, Shape{2}, false);
  CHECK_FALSE(bool(F::exp(c).creator()));  // nothing requires a gradient: no graph
}

TEST_CASE("autograd: backward from a multi-element output needs its gradient") {
  Variable x = var({1, 2}, Shape{2});
  Variable y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("set its gradient first"), Error);
  CHECK_THROWS_WITH_AS(y.set_grad(Tensor::zeros(Shape{3}, float64, runtime().cpu())),
                       doctest::Contains("but the variable is float64(2,)"), Error);
}

TEST_CASE("autograd: a function keeps only the arrays it retained") {
  Variable x = var({1, -1}, Shape{2});
  Variable y = F::relu(x);  // relu keeps a mask, not its input
  CHECK_FALSE(x.node()->retained.defined());
  Variable z = x * x;  // mul needs both inputs
  CHECK(x.node()->retained.defined());
  // The input array of y's graph is released when its variable goes.
  std::weak_ptr<VariableImpl> weak;
  Variable out;
  {
    Variable tmp = F::exp(x);  // exp retains its output, not its input
    weak = tmp.impl();
    out = F::relu(tmp);
  }
  CHECK(weak.expired());
  F::sum(out).backward();
  CHECK(vals(x.grad())[0] == doctest::Approx(std::exp(1.0)));
}

TEST_CASE("autograd: retained arrays survive their variables") {
  Variable x = var({0.5}, Shape{});
  Variable y;
  {
    Variable t = F::exp(x);  // retains its output
    y = F::sum(F::sigmoid(t));
  }
  y.backward();  // needs exp's output, whose Variable is gone
  double e = std::exp(0.5), s = 1 / (1 + std::exp(-e));
  CHECK(vals(x.grad())[0] == doctest::Approx(s * (1 - s) * e).epsilon(1e-12));
}

TEST_CASE("autograd: unchain_backward cuts the graph") {
  Variable x = var({2}, Shape{});
  Variable h = x * x;
  Variable y = F::exp(h);
  y.unchain_backward();
  CHECK_FALSE(bool(y.creator()));
  y.backward();
  CHECK_FALSE(x.grad().defined());
  Variable z = F::exp(x);
  z.unchain();
  CHECK_FALSE(bool(z.creator()));
}

TEST_CASE("autograd: double backprop gives the gradient of a gradient") {
  Variable x = var({2}, Shape{});
  Variable y = x * x * x;
  y.backward(false, /*enable_double_backprop=*/true);
  Variable gx = x.grad_var();
  CHECK(vals(gx.array())[0] == 12);  // 3x^2
  CHECK(bool(gx.creator()));
  x.cleargrad();
  gx.backward();
  CHECK(vals(x.grad())[0] == 12);  // 6x
}

TEST_CASE("autograd: config().debug names the function that made a NaN") {
  Variable x = var({-1}, Shape{});
  config().debug = true;
  CHECK_THROWS_WITH_AS(F::log(x), doctest::Contains("log: output 0 () contains 1 NaN or infinite"), Error);
  config().debug = false;
  CHECK_NOTHROW(F::log(x));
}

TEST_CASE("autograd: type checks name the function, the argument and the shapes") {
  Variable x = var(std::vector<double>(784 * 2, 0.1), Shape{2, 784});
  Variable W = var(std::vector<double>(100 * 10, 0.1), Shape{10, 100});
  CHECK_THROWS_WITH_AS(F::linear(x, W), doctest::Contains("linear: x has 784 features but W (10, 100) expects 100"),
                       Error);
  Variable f32(Tensor::zeros(Shape{2}, float32, runtime().cpu()));
  CHECK_THROWS_WITH_AS(F::add(f32, var({1, 2}, Shape{2})), doctest::Contains("add: operands have different dtypes"),
                       Error);
  CHECK_THROWS_WITH_AS(F::add(var({1, 2, 3}, Shape{3}), var({1, 2}, Shape{2})),
                       doctest::Contains("add: shapes (3,) and (2,) do not broadcast"), Error);
  CHECK_THROWS_WITH_AS(F::exp(Variable()), doctest::Contains("undefined"), Error);
}

TEST_CASE("autograd: the graph runs on a device without host memory, with fallback") {
  Device& d = device("opaque:0");
  Variable x(Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{3}, d));
  Variable y = F::sum(F::exp(x) * x);  // exp and sum fall back; mul runs natively
  y.backward();
  CHECK(&x.grad().device() == &d);
  std::vector<float> g = x.grad().to_vector<float>();
  for (int i = 0; i < 3; ++i) CHECK(g[i] == doctest::Approx(std::exp(float(i + 1)) * (i + 2)).epsilon(1e-5));
}

TEST_CASE("autograd: a very deep graph is released without recursion") {
  Variable x = var({1}, Shape{1});
  Variable y = x;
  for (int i = 0; i < 200000; ++i) y = y + x;
  CHECK(y.rank() == 200000);
  y = Variable();  // drops 200000 function nodes; a recursive release would overflow the stack
  CHECK(x.defined());
}
