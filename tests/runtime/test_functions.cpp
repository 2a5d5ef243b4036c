// Every function: forward against a reference formula, then check_backward and
// check_double_backward (Chainer's algorithm) over dtypes, on non-contiguous inputs;
// inputs are checked to be left unmodified. Runs on the default device (CATENA_DEVICE):
// the OpenCL suite runs these cases again on opencl:0 with CATENA_FALLBACK=error.
#include "../support.hpp"

#include <catena/function_node.hpp>
#include <catena/functions.hpp>
#include <catena/gradient_check.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <functional>

using namespace catena;
namespace gc = catena::gradient_check;

namespace {

Device& dev() { return default_device(); }
using catena_test::device_dtypes;

using catena_test::input;

using catena_test::vals;

void check_close(const std::vector<double>& got, const std::vector<double>& want, double atol, double rtol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", want " << want[i]);
    CHECK(std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i]));
  }
}

double fwd_tol(Dtype dt) { return dt == float16 ? 1e-3 : dt == float32 ? 1e-5 : 1e-12; }

struct Unary {
  const char* name;
  std::function<Variable(const Variable&)> f;
  std::function<double(double)> ref;
  double lo, hi;
  bool double_backward;
};

std::vector<Unary> unary_functions() {
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  return {
      {"exp", [](const Variable& x) { return F::exp(x); }, [](double x) { return std::exp(x); }, -1, 1, true},
      {"log", [](const Variable& x) { return F::log(x); }, [](double x) { return std::log(x); }, 0.5, 2, true},
      {"sqrt", [](const Variable& x) { return F::sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.5, 2, true},
      {"square", [](const Variable& x) { return F::square(x); }, [](double x) { return x * x; }, -1, 1, true},
      {"absolute", [](const Variable& x) { return F::absolute(x); }, [](double x) { return std::abs(x); }, 0.2, 1, true},
      {"sin", [](const Variable& x) { return F::sin(x); }, [](double x) { return std::sin(x); }, -1, 1, true},
      {"cos", [](const Variable& x) { return F::cos(x); }, [](double x) { return std::cos(x); }, -1, 1, true},
      {"neg", [](const Variable& x) { return F::neg(x); }, [](double x) { return -x; }, -1, 1, true},
      {"identity", [](const Variable& x) { return F::identity(x); }, [](double x) { return x; }, -1, 1, true},
      {"relu", [](const Variable& x) { return F::relu(x); }, [](double x) { return x > 0 ? x : 0; }, 0.1, 1, true},
      {"leaky_relu", [](const Variable& x) { return F::leaky_relu(x, 0.2); },
       [](double x) { return x > 0 ? x : 0.2 * x; }, -1, -0.1, true},
      {"sigmoid", [](const Variable& x) { return F::sigmoid(x); }, sig, -2, 2, true},
      {"tanh", [](const Variable& x) { return F::tanh(x); }, [](double x) { return std::tanh(x); }, -2, 2, true},
      {"softplus", [](const Variable& x) { return F::softplus(x); },
       [](double x) { return std::log1p(std::exp(x)); }, -2, 2, true},
      {"elu", [](const Variable& x) { return F::elu(x); },
       [](double x) { return x > 0 ? x : std::exp(x) - 1; }, -1, -0.1, true},
      {"selu", [](const Variable& x) { return F::selu(x); },
       [](double x) { return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (std::exp(x) - 1)); }, 0.1, 1, true},
      {"clip", [](const Variable& x) { return F::clip(x, -0.5, 0.5); },
       [](double x) { return std::min(std::max(x, -0.5), 0.5); }, -0.4, 0.4, true},
      {"pow 3", [](const Variable& x) { return F::pow(x, 3.0); }, [](double x) { return x * x * x; }, -1, 1, true},
      {"x + 2", [](const Variable& x) { return x + 2.0; }, [](double x) { return x + 2; }, -1, 1, true},
      {"3 - x", [](const Variable& x) { return 3.0 - x; }, [](double x) { return 3 - x; }, -1, 1, true},
      {"x * 4", [](const Variable& x) { return x * 4.0; }, [](double x) { return 4 * x; }, -1, 1, true},
      {"2 / x", [](const Variable& x) { return 2.0 / x; }, [](double x) { return 2 / x; }, 0.5, 2, true},
  };
}

}  // namespace

TEST_CASE("unary functions: forward, backward and double backward, float16/32/64, non-contiguous") {
  for (const Unary& u : unary_functions()) {
    for (Dtype dt : device_dtypes({float16, float32, float64})) {
      CAPTURE(std::string(u.name));
      CAPTURE(dt.name());
      Tensor x = input(Shape{3, 4}, dt, 7, u.lo, u.hi);
      std::vector<double> before = vals(x);
      std::vector<double> want;
      for (double v : before) want.push_back(u.ref(v));
      Variable y = u.f(Variable(x));
      CHECK(y.dtype() == dt);
      CHECK(y.shape() == Shape{3, 4});
      check_close(vals(y.array()), want, fwd_tol(dt), fwd_tol(dt));
      CHECK(vals(x) == before);
      auto fn = [&](const std::vector<Variable>& v) { return std::vector<Variable>{u.f(v[0])}; };
      Tensor gy = input(Shape{3, 4}, dt, 8);
      CHECK_NOTHROW(gc::check_backward(fn, {x}, {gy}, gc::backward_options_for(dt)));
      if (u.double_backward && dt != float16) {
        Tensor ggx = input(Shape{3, 4}, dt, 9);
        CHECK_NOTHROW(gc::check_double_backward(fn, {x}, {gy}, {ggx}, gc::double_backward_options_for(dt)));
      }
    }
  }
}

TEST_CASE("binary functions broadcast, with gradients summed back to each input's shape") {
  struct Binary {
    const char* name;
    std::function<Variable(const Variable&, const Variable&)> f;
    std::function<double(double, double)> ref;
  };
  std::vector<Binary> fns = {
      {"add", [](const Variable& a, const Variable& b) { return a + b; }, [](double a, double b) { return a + b; }},
      {"sub", [](const Variable& a, const Variable& b) { return a - b; }, [](double a, double b) { return a - b; }},
      {"mul", [](const Variable& a, const Variable& b) { return a * b; }, [](double a, double b) { return a * b; }},
      {"div", [](const Variable& a, const Variable& b) { return a / b; }, [](double a, double b) { return a / b; }},
      {"pow", [](const Variable& a, const Variable& b) { return F::pow(a, b); },
       [](double a, double b) { return std::pow(a, b); }},
      {"maximum", [](const Variable& a, const Variable& b) { return F::maximum(a, b); },
       [](double a, double b) { return std::max(a, b); }},
      {"minimum", [](const Variable& a, const Variable& b) { return F::minimum(a, b); },
       [](double a, double b) { return std::min(a, b); }},
  };
  for (const Binary& bf : fns) {
    for (Dtype dt : device_dtypes({float32, float64})) {
      CAPTURE(std::string(bf.name));
      CAPTURE(dt.name());
      Tensor a = input(Shape{2, 3, 4}, dt, 11, 0.5, 1.5);
      Tensor b = input(Shape{3, 1}, dt, 12, 0.5, 1.5);
      Variable y = bf.f(Variable(a), Variable(b));
      REQUIRE(y.shape() == Shape{2, 3, 4});
      std::vector<double> av = vals(a), bv = vals(b), want;
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
          for (int k = 0; k < 4; ++k) want.push_back(bf.ref(av[(i * 3 + j) * 4 + k], bv[j]));
      check_close(vals(y.array()), want, fwd_tol(dt), fwd_tol(dt));
      auto fn = [&](const std::vector<Variable>& v) { return std::vector<Variable>{bf.f(v[0], v[1])}; };
      Tensor gy = input(Shape{2, 3, 4}, dt, 13);
      CHECK_NOTHROW(gc::check_backward(fn, {a, b}, {gy}, gc::backward_options_for(dt)));
      CHECK_NOTHROW(gc::check_double_backward(fn, {a, b}, {gy}, {input(Shape{2, 3, 4}, dt, 14), input(Shape{3, 1}, dt, 15)},
                                              gc::double_backward_options_for(dt)));
    }
  }
}

TEST_CASE("reductions: sum, mean, max, min, logsumexp over axes") {
  for (Dtype dt : device_dtypes({float32, float64})) {
    CAPTURE(dt.name());
    Tensor x = input(Shape{2, 3, 4}, dt, 21);
    std::vector<double> xv = vals(x);
    auto at = [&](int i, int j, int k) { return xv[(i * 3 + j) * 4 + k]; };
    std::vector<double> s1, m1, l02;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) {
        double s = 0, m = -1e9;
        for (int j = 0; j < 3; ++j) s += at(i, j, k), m = std::max(m, at(i, j, k));
        s1.push_back(s);
        m1.push_back(m);
      }
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 4; ++k) s += std::exp(at(i, j, k));
      l02.push_back(std::log(s));
    }
    double t = fwd_tol(dt);
    check_close(vals(F::sum(Variable(x), {1}).array()), s1, t, t);
    check_close(vals(F::max(Variable(x), {1}).array()), m1, t, t);
    check_close(vals(F::logsumexp(Variable(x), {0, 2}).array()), l02, t, t);
    CHECK(F::mean(Variable(x), {-1}, true).shape() == Shape{2, 3, 1});
    struct R {
      const char* name;
      std::function<Variable(const Variable&)> f;
      Shape out;
    };
    for (const R& r : std::vector<R>{
             {"sum(1)", [](const Variable& v) { return F::sum(v, {1}); }, Shape{2, 4}},
             {"sum(all)", [](const Variable& v) { return F::sum(v); }, Shape{}},
             {"mean(0,2)", [](const Variable& v) { return F::mean(v, {0, 2}); }, Shape{3}},
             {"max(1)", [](const Variable& v) { return F::max(v, {1}); }, Shape{2, 4}},
             {"min(2, keepdims)", [](const Variable& v) { return F::min(v, {2}, true); }, Shape{2, 3, 1}},
             {"logsumexp(1)", [](const Variable& v) { return F::logsumexp(v, {1}); }, Shape{2, 4}},
         }) {
      CAPTURE(r.name);
      auto fn = [&](const std::vector<Variable>& v) { return std::vector<Variable>{r.f(v[0])}; };
      Tensor gy = Tensor::from_vector(catena_test::random_doubles(r.out.numel(), 22), r.out, dev()).astype(dt);
      CHECK_NOTHROW(gc::check_backward(fn, {x}, {gy}, gc::backward_options_for(dt)));
      CHECK_NOTHROW(gc::check_double_backward(fn, {x}, {gy}, {input(Shape{2, 3, 4}, dt, 23)},
                                              gc::double_backward_options_for(dt)));
    }
  }
}

TEST_CASE("broadcast and argmax") {
  Variable a(input(Shape{2, 1}, float64, 1)), b(input(Shape{3}, float64, 2));
  std::vector<Variable> ab = F::broadcast({a, b});
  CHECK(ab[0].shape() == Shape{2, 3});
  CHECK(ab[1].shape() == Shape{2, 3});
  F::sum(ab[0] * ab[1]).backward();
  CHECK(a.grad().shape() == Shape{2, 1});
  CHECK_THROWS_WITH_AS(F::broadcast({a, Variable(input(Shape{3, 2}, float64, 3))}),
                       doctest::Contains("broadcast: shape (3, 2) of argument 1 does not broadcast with (2, 1)"), Error);
  Variable s(Tensor::from_vector(std::vector<float>{0.1f, 0.7f, 0.2f, 0.9f, 0.0f, 0.1f}, Shape{2, 3}, dev()));
  Variable am = F::argmax(s, 1);
  CHECK(am.dtype() == int32);
  CHECK_FALSE(am.requires_grad());
  CHECK(am.array().to_vector<int32_t>() == std::vector<int32_t>{1, 0});
}

TEST_CASE("softmax and log_softmax in float16") {
  if (!catena_test::computes_in(float16)) return;  // the device has no float16
  Tensor x = input(Shape{3, 5}, float16, 34, -3, 3);
  Variable p = F::softmax(Variable(x));
  CHECK(p.dtype() == float16);
  std::vector<float> pv = p.array().astype(float32).to_vector<float>();
  for (int i = 0; i < 3; ++i) {
    float s = 0;
    for (int j = 0; j < 5; ++j) s += pv[i * 5 + j];
    CHECK(s == doctest::Approx(1.0).epsilon(5e-3));
  }
  auto sm = [](const std::vector<Variable>& v) { return std::vector<Variable>{F::log_softmax(v[0])}; };
  CHECK_NOTHROW(gc::check_backward(sm, {x}, {input(Shape{3, 5}, float16, 35)}, gc::backward_options_for(float16)));
}

TEST_CASE("softmax and log_softmax: rows sum to one, gradients check") {
  for (Dtype dt : device_dtypes({float32, float64})) {
    CAPTURE(dt.name());
    Tensor x = input(Shape{3, 5}, dt, 31, -3, 3);
    std::vector<double> p = vals(F::softmax(Variable(x)).array());
    for (int i = 0; i < 3; ++i) {
      double s = 0;
      for (int j = 0; j < 5; ++j) s += p[i * 5 + j];
      CHECK(s == doctest::Approx(1.0).epsilon(1e-5));
    }
    std::vector<double> lp = vals(F::log_softmax(Variable(x)).array());
    for (size_t i = 0; i < p.size(); ++i) CHECK(lp[i] == doctest::Approx(std::log(p[i])).epsilon(1e-4));
    for (int axis : {0, 1}) {
      auto sm = [&](const std::vector<Variable>& v) { return std::vector<Variable>{F::softmax(v[0], axis)}; };
      auto lsm = [&](const std::vector<Variable>& v) { return std::vector<Variable>{F::log_softmax(v[0], axis)}; };
      Tensor gy = input(Shape{3, 5}, dt, 32), gg = input(Shape{3, 5}, dt, 33);
      CHECK_NOTHROW(gc::check_backward(sm, {x}, {gy}, gc::backward_options_for(dt)));
      CHECK_NOTHROW(gc::check_backward(lsm, {x}, {gy}, gc::backward_options_for(dt)));
      CHECK_NOTHROW(gc::check_double_backward(sm, {x}, {gy}, {gg}, gc::double_backward_options_for(dt)));
      CHECK_NOTHROW(gc::check_double_backward(lsm, {x}, {gy}, {gg}, gc::double_backward_options_for(dt)));
    }
  }
  // Large logits do not overflow.
  Tensor big = Tensor::from_vector(std::vector<float>{1000, 0, -1000}, Shape{1, 3}, dev());
  std::vector<float> p = F::softmax(Variable(big)).array().to_vector<float>();
  CHECK(p[0] == 1.0f);
  CHECK(p[2] == 0.0f);
}

TEST_CASE("array functions: reshape, broadcast_to, sum_to, transpose, expand_dims, squeeze, flatten, cast") {
  Tensor x = input(Shape{2, 3}, float64, 41);
  std::vector<double> xv = vals(x);
  CHECK(vals(F::transpose(Variable(x)).array()) == std::vector<double>{xv[0], xv[3], xv[1], xv[4], xv[2], xv[5]});
  CHECK(F::expand_dims(Variable(x), 1).shape() == Shape{2, 1, 3});
  CHECK(F::squeeze(F::expand_dims(Variable(x), 0)).shape() == Shape{2, 3});
  CHECK(F::flatten(Variable(x)).shape() == Shape{6});
  CHECK(F::cast(Variable(x), float32).dtype() == float32);
  CHECK_THROWS_WITH_AS(F::reshape(Variable(x), Shape{4}), doctest::Contains("reshape: cannot reshape (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(F::squeeze(Variable(x), {0}), doctest::Contains("has extent 2, not 1"), Error);
  struct A {
    const char* name;
    std::function<Variable(const Variable&)> f;
    Shape out;
  };
  for (const A& a : std::vector<A>{
           {"reshape", [](const Variable& v) { return F::reshape(v, Shape{3, 2}); }, Shape{3, 2}},
           {"broadcast_to", [](const Variable& v) { return F::broadcast_to(v, Shape{4, 2, 3}); }, Shape{4, 2, 3}},
           {"sum_to", [](const Variable& v) { return F::sum_to(v, Shape{1, 3}); }, Shape{1, 3}},
           {"transpose", [](const Variable& v) { return F::transpose(v, {1, 0}); }, Shape{3, 2}},
           {"expand_dims", [](const Variable& v) { return F::expand_dims(v, -1); }, Shape{2, 3, 1}},
           {"flatten", [](const Variable& v) { return F::flatten(v); }, Shape{6}},
           {"cast", [](const Variable& v) { return F::cast(F::cast(v, float32), float64); }, Shape{2, 3}},
       }) {
    CAPTURE(a.name);
    auto fn = [&](const std::vector<Variable>& v) { return std::vector<Variable>{a.f(v[0])}; };
    Tensor gy = Tensor::from_vector(catena_test::random_doubles(a.out.numel(), 42), a.out, dev());
    gc::Options o;
    o.atol = 1e-4;
    o.rtol = 1e-3;  // the float32 round trip of "cast"
    CHECK_NOTHROW(gc::check_backward(fn, {x}, {gy}, o));
    CHECK_NOTHROW(gc::check_double_backward(fn, {x}, {gy}, {input(Shape{2, 3}, float64, 43)}, o));
  }
}

TEST_CASE("linear and matmul: forward, gradients, transposes, batches") {
  for (Dtype dt : device_dtypes({float32, float64})) {
    CAPTURE(dt.name());
    Tensor x = input(Shape{4, 3}, dt, 51), W = input(Shape{2, 3}, dt, 52), b = input(Shape{2}, dt, 53);
    std::vector<double> xv = vals(x), wv = vals(W), bv = vals(b), want;
    for (int i = 0; i < 4; ++i)
      for (int o = 0; o < 2; ++o) {
        double s = bv[o];
        for (int k = 0; k < 3; ++k) s += xv[i * 3 + k] * wv[o * 3 + k];
        want.push_back(s);
      }
    double t = fwd_tol(dt) * 10;
    check_close(vals(F::linear(Variable(x), Variable(W), Variable(b)).array()), want, t, t);
    auto lin = [](const std::vector<Variable>& v) { return std::vector<Variable>{F::linear(v[0], v[1], v[2])}; };
    auto lin_nob = [](const std::vector<Variable>& v) { return std::vector<Variable>{F::linear(v[0], v[1])}; };
    Tensor gy = input(Shape{4, 2}, dt, 54);
    gc::Options o = gc::backward_options_for(dt);
    o.atol = o.rtol = 1e-2;  // Chainer's tolerance for linear
    CHECK_NOTHROW(gc::check_backward(lin, {x, W, b}, {gy}, o));
    CHECK_NOTHROW(gc::check_backward(lin_nob, {x, W}, {gy}, o));
    CHECK_NOTHROW(gc::check_double_backward(lin, {x, W, b}, {gy},
                                            {input(Shape{4, 3}, dt, 55), input(Shape{2, 3}, dt, 56), input(Shape{2}, dt, 57)},
                                            o));
    // n_batch_axes: (2, 2, 3) -> (2, 2, 2)
    Tensor x3 = input(Shape{2, 2, 3}, dt, 58);
    CHECK(F::linear(Variable(x3), Variable(W), Variable(b), 2).shape() == Shape{2, 2, 2});
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        CAPTURE(ta);
        CAPTURE(tb);
        Tensor a = input(ta ? Shape{3, 4} : Shape{4, 3}, dt, 61), bb = input(tb ? Shape{5, 3} : Shape{3, 5}, dt, 62);
        auto mm = [&](const std::vector<Variable>& v) { return std::vector<Variable>{F::matmul(v[0], v[1], ta, tb)}; };
        CHECK_NOTHROW(gc::check_backward(mm, {a, bb}, {input(Shape{4, 5}, dt, 63)}, o));
        CHECK_NOTHROW(gc::check_double_backward(mm, {a, bb}, {input(Shape{4, 5}, dt, 63)},
                                                {input(a.shape(), dt, 64), input(bb.shape(), dt, 65)}, o));
      }
    // batched, with a shared right operand
    Tensor a3 = input(Shape{2, 4, 3}, dt, 66), b3 = input(Shape{1, 3, 5}, dt, 67);
    auto bmm = [](const std::vector<Variable>& v) { return std::vector<Variable>{F::matmul(v[0], v[1])}; };
    CHECK_NOTHROW(gc::check_backward(bmm, {a3, b3}, {input(Shape{2, 4, 5}, dt, 68)}, o));
  }
}

TEST_CASE("mean_squared_error") {
  Tensor a = input(Shape{3, 4}, float64, 71), b = input(Shape{3, 4}, float64, 72);
  std::vector<double> av = vals(a), bv = vals(b);
  double want = 0;
  for (size_t i = 0; i < av.size(); ++i) want += (av[i] - bv[i]) * (av[i] - bv[i]);
  want /= av.size();
  CHECK(vals(F::mean_squared_error(Variable(a), Variable(b)).array())[0] == doctest::Approx(want).epsilon(1e-12));
  auto fn = [](const std::vector<Variable>& v) { return std::vector<Variable>{F::mean_squared_error(v[0], v[1])}; };
  CHECK_NOTHROW(gc::check_backward(fn, {a, b}, {}));
  CHECK_NOTHROW(gc::check_double_backward(fn, {a, b}, {Tensor::full(Shape{}, 1.0, float64, dev())},
                                          {input(Shape{3, 4}, float64, 73), input(Shape{3, 4}, float64, 74)}));
  CHECK_THROWS_WITH_AS(F::mean_squared_error(Variable(a), Variable(input(Shape{4, 3}, float64, 1))),
                       doctest::Contains("must have the same shape"), Error);
}

TEST_CASE("gradient checks pass on a device without host memory, through fallback" * doctest::test_suite("fallback")) {
  Device& d = device("opaque:1");
  Tensor x = input(Shape{3, 4}, float32, 81, -1, 1, d);
  Tensor W = input(Shape{2, 4}, float32, 82, -1, 1, d);
  auto fn = [](const std::vector<Variable>& v) {
    return std::vector<Variable>{F::tanh(F::linear(v[0], v[1])) * F::sigmoid(F::linear(v[0], v[1]))};
  };
  gc::Options o = gc::backward_options_for(float32);
  o.atol = o.rtol = 1e-2;
  CHECK_NOTHROW(gc::check_backward(fn, {x, W}, {input(Shape{3, 2}, float32, 83, -1, 1, d)}, o));
}

TEST_CASE("check_backward catches a wrong gradient") {
  // A function whose backward is off by a factor of two must fail the check.
  struct Wrong : FunctionNode {
    std::string label() const override { return "wrong"; }
    std::vector<Tensor> forward(const std::vector<Tensor>& x) override { return {ops::mul(x[0], x[0])}; }
    std::vector<Variable> backward(const std::vector<int>&, const std::vector<Variable>& gy) override {
      return {gy[0] * 4.0};  // should be 2x
    }
  };
  auto fn = [](const std::vector<Variable>& v) { return std::make_shared<Wrong>()->apply(v); };
  Tensor x = input(Shape{5}, float64, 91);
  CHECK_THROWS_WITH_AS(gc::check_backward(fn, {x}, {input(Shape{5}, float64, 92)}),
                       doctest::Contains("gradients differ along a random direction"), Error);
}
