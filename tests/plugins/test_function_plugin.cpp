// A FunctionNode defined by a plugin through the C ABI is differentiable exactly like a
// built-in one, on any device.
#include "../support.hpp"

#include <catena/function_registry.hpp>
#include <catena/functions.hpp>
#include <catena/gradient_check.hpp>

#include <doctest/doctest.h>

#include <cmath>

using namespace catena;
namespace gc = catena::gradient_check;

namespace {

Variable swish(const Variable& x) { return call_function("test.swish", {x})[0]; }
Variable scale(const Variable& x, double factor) {
  Attrs a;
  a.f("factor", factor);
  return call_function("test.scale", {x}, a.data(), a.size())[0];
}

}  // namespace

TEST_CASE("function plugin: loaded, registered by name, listed in the load report") {
  CHECK(has_function("test.swish"));
  CHECK(has_function("test.scale"));
  bool seen = false;
  for (const LoadRecord& r : runtime().load_report())
    if (r.name == "testfns") seen = r.result == LoadResult::loaded && r.kind == "functions";
  CHECK(seen);
  CHECK_THROWS_WITH_AS(call_function("acme.nothing", {}), doctest::Contains("plugin functions: frozen.scale, frozen.swish, test.scale, test.swish"),
                       Error);
}

TEST_CASE("function plugin: forward, backward and double backward like a built-in function") {
  for (Dtype dt : {float32, float64}) {
    CAPTURE(dt.name());
    std::vector<double> xv = catena_test::random_doubles(12, 1, -2, 2);
    Tensor x = Tensor::from_vector(xv, Shape{3, 4}, runtime().cpu()).astype(dt);
    std::vector<double> y = swish(Variable(x)).array().astype(float64).to_vector<double>();
    std::vector<double> xr = x.astype(float64).to_vector<double>();
    for (size_t i = 0; i < y.size(); ++i)
      CHECK(y[i] == doctest::Approx(xr[i] / (1 + std::exp(-xr[i]))).epsilon(dt == float32 ? 1e-6 : 1e-12));
    auto fn = [](const std::vector<Variable>& v) { return std::vector<Variable>{swish(v[0])}; };
    Tensor gy = Tensor::from_vector(catena_test::random_doubles(12, 2), Shape{3, 4}, runtime().cpu()).astype(dt);
    Tensor gg = Tensor::from_vector(catena_test::random_doubles(12, 3), Shape{3, 4}, runtime().cpu()).astype(dt);
    CHECK_NOTHROW(gc::check_backward(fn, {x}, {gy}, gc::backward_options_for(dt)));
    CHECK_NOTHROW(gc::check_double_backward(fn, {x}, {gy}, {gg}, gc::double_backward_options_for(dt)));
    auto sc = [](const std::vector<Variable>& v) { return std::vector<Variable>{scale(v[0], -2.5)}; };
    CHECK_NOTHROW(gc::check_backward(sc, {x}, {gy}, gc::backward_options_for(dt)));
  }
}

TEST_CASE("function plugin: composes with built-in functions in one graph") {
  Variable x(Tensor::from_vector(std::vector<double>{0.5, -1.0}, Shape{2}, runtime().cpu()));
  Variable loss = F::sum(F::square(scale(swish(x), 3.0)));
  loss.backward();
  std::vector<double> g = x.grad().to_vector<double>();
  for (int i = 0; i < 2; ++i) {
    double v = i == 0 ? 0.5 : -1.0, s = 1 / (1 + std::exp(-v)), sw = v * s;
    double want = 2 * 3 * sw * 3 * (s * (1 + v * (1 - s)));
    CHECK(g[i] == doctest::Approx(want).epsilon(1e-12));
  }
}

TEST_CASE("function plugin: runs on a device without host memory") {
  Device& d = device("opaque:0");
  Tensor x = Tensor::from_vector(std::vector<float>{0.5f, -1.0f, 2.0f}, Shape{3}, d);
  Variable vx(x);
  Variable y = swish(vx);
  CHECK(&y.device() == &d);
  F::sum(y).backward();
  CHECK(&vx.grad().device() == &d);
  auto fn = [](const std::vector<Variable>& v) { return std::vector<Variable>{swish(v[0])}; };
  CHECK_NOTHROW(gc::check_backward(fn, {x}, {Tensor::full(Shape{3}, 1.0, float32, d)}, gc::backward_options_for(float32)));
}

TEST_CASE("function plugin: a plugin's error comes back as an exception naming the function") {
  Variable i(Tensor::from_vector(std::vector<int32_t>{1, 2}, Shape{2}, runtime().cpu()));
  CHECK_THROWS_WITH_AS(scale(i, 2.0), doctest::Contains("test.scale (forward): test functions take float32 or float64"),
                       Error);
  CHECK_THROWS_WITH_AS(call_function("test.swish", {}), doctest::Contains("test.swish: takes 1 inputs, got 0"), Error);
}

TEST_CASE("plugins built against the frozen ABI 1.0 headers load and work") {
  // A FunctionNode plugin compiled against tests/abi/v1.0.
  Variable x(Tensor::from_vector(std::vector<double>{0.5, -1.0}, Shape{2}, runtime().cpu()));
  Variable y = call_function("frozen.swish", {x})[0];
  F::sum(y).backward();
  std::vector<double> g = x.grad().to_vector<double>();
  double s = 1 / (1 + std::exp(-0.5));
  CHECK(g[0] == doctest::Approx(s * (1 + 0.5 * (1 - s))).epsilon(1e-12));
  // A backend compiled against tests/abi/v1.0: its device works (every op by fallback).
  Device& d = device("frozen:0");
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2}, Shape{2}, d);
  CHECK(ops::mul(t, t).to_vector<float>() == std::vector<float>{1, 4});
  for (const LoadRecord& r : runtime().load_report())
    if (r.name == "frozen" || r.name == "frozenfns") {
      CHECK(r.result == LoadResult::loaded);
      CHECK(r.abi_major == 1);
      CHECK(r.abi_minor == 0);
    }
}
