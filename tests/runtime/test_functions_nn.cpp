// Gradient checks (first and second order) for the neural-network functions, over
// dtypes and non-contiguous inputs; dropout's randomness; batch normalization's running
// statistics; float16 for linear and convolution_2d.
#include "../support.hpp"

#include <catena/config.hpp>
#include <catena/functions.hpp>
#include <catena/gradient_check.hpp>
#include <catena/random.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <functional>

using namespace catena;
namespace gc = catena::gradient_check;

namespace {

Device& dev() { return default_device(); }
using catena_test::device_dtypes;

// Where the cases run: the default device; on the cpu also a device without host memory
// (the test backend "opaque": everything it lacks falls back).
std::vector<Device*> devices() {
  if (!dev().is_cpu()) return {&dev()};
  return {&dev(), &device("opaque:0")};
}

using catena_test::input;
using catena_test::vals;

Tensor labels(std::vector<int32_t> v, Device& d = default_device()) {
  return Tensor::from_vector(v, Shape{int64_t(v.size())}, d);
}

struct Case {
  const char* name;
  std::function<std::vector<Variable>(const std::vector<Variable>&)> f;
  std::vector<Shape> in;
  std::vector<Shape> out;
  double tol;  // atol = rtol for float64; float32 uses 10x
  bool double_backward = true;
};

gc::Options opts(Dtype dt, double tol) {
  gc::Options o;
  o.atol = o.rtol = dt == float32 ? tol * 10 : tol;
  return o;
}

void run(const Case& c, Dtype dt) {
  for (Device* d : devices()) {
    CAPTURE(std::string(c.name));
    CAPTURE(dt.name());
    CAPTURE(d->name());
    std::vector<Tensor> xs, gys, ggs;
    uint32_t seed = 100;
    for (const Shape& s : c.in) xs.push_back(input(s, dt, seed++, 0.2, 1.2).to(*d));
    for (const Shape& s : c.out) gys.push_back(input(s, dt, seed++).to(*d));
    for (const Shape& s : c.in) ggs.push_back(input(s, dt, seed++).to(*d));
    std::vector<std::vector<double>> before;
    for (const Tensor& x : xs) before.push_back(x.astype(float64).to_vector<double>());
    CHECK_NOTHROW(gc::check_backward(c.f, xs, gys, opts(dt, c.tol)));
    if (c.double_backward) CHECK_NOTHROW(gc::check_double_backward(c.f, xs, gys, ggs, opts(dt, c.tol * 10)));
    for (size_t i = 0; i < xs.size(); ++i) CHECK(xs[i].astype(float64).to_vector<double>() == before[i]);
  }
}

std::vector<Variable> one(const Variable& v) { return {v}; }

}  // namespace

TEST_CASE("convolution and pooling: first and second order gradients") {
  std::vector<Case> cases = {
      {"convolution_2d", [](const std::vector<Variable>& v) { return one(F::convolution_2d(v[0], v[1], v[2], 2, 1)); },
       {Shape{2, 3, 5, 5}, Shape{4, 3, 3, 3}, Shape{4}}, {Shape{2, 4, 3, 3}}, 1e-4},
      {"convolution_2d groups dilate",
       [](const std::vector<Variable>& v) { return one(F::convolution_2d(v[0], v[1], Variable(), 1, 2, false, 2, 2)); },
       {Shape{1, 4, 5, 5}, Shape{2, 2, 3, 3}}, {Shape{1, 2, 5, 5}}, 1e-4},
      {"deconvolution_2d", [](const std::vector<Variable>& v) { return one(F::deconvolution_2d(v[0], v[1], v[2], 2, 1)); },
       {Shape{2, 4, 3, 3}, Shape{4, 3, 3, 3}, Shape{3}}, {Shape{2, 3, 5, 5}}, 1e-4},
      {"max_pooling_2d", [](const std::vector<Variable>& v) { return one(F::max_pooling_2d(v[0], 3, 2, 1)); },
       {Shape{2, 2, 5, 5}}, {Shape{2, 2, 3, 3}}, 1e-4},
      {"average_pooling_2d", [](const std::vector<Variable>& v) { return one(F::average_pooling_2d(v[0], 2)); },
       {Shape{2, 2, 4, 6}}, {Shape{2, 2, 2, 3}}, 1e-4},
  };
  for (const Case& c : cases)
    for (Dtype dt : device_dtypes({float32, float64})) run(c, dt);
}

TEST_CASE("normalization, lstm and indexing: first and second order gradients") {
  std::vector<Case> cases = {
      {"batch_normalization", [](const std::vector<Variable>& v) { return one(F::batch_normalization(v[0], v[1], v[2])); },
       {Shape{4, 3, 2, 2}, Shape{3}, Shape{3}}, {Shape{4, 3, 2, 2}}, 1e-3},
      {"fixed_batch_normalization",
       [](const std::vector<Variable>& v) { return one(F::fixed_batch_normalization(v[0], v[1], v[2], v[3], v[4])); },
       {Shape{4, 3}, Shape{3}, Shape{3}, Shape{3}, Shape{3}}, {Shape{4, 3}}, 1e-4},
      {"lstm",
       [](const std::vector<Variable>& v) {
         auto [c, h] = F::lstm(v[0], v[1]);
         return std::vector<Variable>{c, h};
       },
       {Shape{3, 2}, Shape{3, 8}}, {Shape{3, 2}, Shape{3, 2}}, 1e-4},
      {"get_item", [](const std::vector<Variable>& v) { return one(F::get_item(v[0], {F::Index::range(1, {}), 2})); },
       {Shape{3, 4}}, {Shape{2}}, 1e-4},
      {"concat", [](const std::vector<Variable>& v) { return one(F::concat({v[0], v[1]}, 0)); },
       {Shape{2, 3}, Shape{1, 3}}, {Shape{3, 3}}, 1e-4},
      {"softmax_cross_entropy",
       [](const std::vector<Variable>& v) { return one(F::softmax_cross_entropy(v[0], labels({1, 0, -1, 3}, v[0].device()))); },
       {Shape{4, 5}}, {Shape{}}, 1e-4},
      {"sigmoid_cross_entropy",
       [](const std::vector<Variable>& v) {
         return one(F::sigmoid_cross_entropy(v[0], Tensor::from_vector(std::vector<int32_t>{1, 0, -1, 1, 0, 1},
                                                                        Shape{2, 3}, v[0].device())));
       },
       {Shape{2, 3}}, {Shape{}}, 1e-4},
      {"hinge L2", [](const std::vector<Variable>& v) { return one(F::hinge(v[0], labels({1, 0, 2}, v[0].device()), "L2")); },
       {Shape{3, 3}}, {Shape{}}, 1e-4},
      {"contrastive", [](const std::vector<Variable>& v) { return one(F::contrastive(v[0], v[1], labels({1, 0, 1}, v[0].device()), 2.0)); },
       {Shape{3, 2}, Shape{3, 2}}, {Shape{}}, 1e-4},
      {"triplet", [](const std::vector<Variable>& v) { return one(F::triplet(v[0], v[1], v[2], 1.0)); },
       {Shape{3, 2}, Shape{3, 2}, Shape{3, 2}}, {Shape{}}, 1e-4},
  };
  for (const Case& c : cases)
    for (Dtype dt : device_dtypes({float32, float64})) run(c, dt);
}

TEST_CASE("embed_id: gradients to W accumulate repeated ids; ignored rows are zero") {
  Tensor ids = Tensor::from_vector(std::vector<int32_t>{2, 0, 2, -1}, Shape{4}, dev());
  Variable W(Tensor::from_vector(catena_test::random_doubles(12, 3), Shape{3, 4}, dev()));
  Variable y = F::embed_id(ids, W, -1);
  std::vector<double> yv = y.array().to_vector<double>(), wv = W.array().to_vector<double>();
  for (int k = 0; k < 4; ++k) CHECK(yv[12 + k] == 0);
  for (int k = 0; k < 4; ++k) CHECK(yv[k] == wv[8 + k]);
  F::sum(y).backward();
  std::vector<double> g = W.grad().to_vector<double>();
  CHECK(g == std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2});
  // On the cpu the call throws; a device that runs asynchronously reports it at the next
  // synchronisation.
  CHECK_THROWS_WITH_AS(
      {
        Variable bad = F::embed_id(Tensor::from_vector(std::vector<int32_t>{5}, Shape{1}, dev()), W);
        dev().synchronize();
      },
      doctest::Contains(dev().is_cpu() ? "index 5 is out of range for an axis of extent 3" : "out of range"), Error);
  auto fn = [&](const std::vector<Variable>& v) { return one(F::embed_id(ids, v[0], -1)); };
  CHECK_NOTHROW(gc::check_backward(fn, {W.array()}, {input(Shape{4, 4}, float64, 5)}));
  CHECK_NOTHROW(gc::check_double_backward(fn, {W.array()}, {input(Shape{4, 4}, float64, 5)}, {input(Shape{3, 4}, float64, 6)}));
}

TEST_CASE("float16: linear and convolution_2d store in 16 bits and compute in 32") {
  if (!catena_test::computes_in(float16)) return;  // the device has no float16
  Tensor x = input(Shape{4, 3}, float16, 1), W = input(Shape{2, 3}, float16, 2);
  Variable y = F::linear(Variable(x), Variable(W));
  CHECK(y.dtype() == float16);
  std::vector<float> yv = y.array().astype(float32).to_vector<float>();
  std::vector<float> xv = x.astype(float32).to_vector<float>(), wv = W.astype(float32).to_vector<float>();
  for (int i = 0; i < 4; ++i)
    for (int o = 0; o < 2; ++o) {
      float s = 0;
      for (int k = 0; k < 3; ++k) s += xv[i * 3 + k] * wv[o * 3 + k];
      CHECK(yv[i * 2 + o] == float(_Float16(s)));
    }
  Tensor cx = input(Shape{1, 2, 4, 4}, float16, 3), cw = input(Shape{3, 2, 3, 3}, float16, 4);
  Variable cy = F::convolution_2d(Variable(cx), Variable(cw), Variable(), 1, 1);
  CHECK(cy.dtype() == float16);
  Variable c32 = F::convolution_2d(Variable(cx.astype(float32)), Variable(cw.astype(float32)), Variable(), 1, 1);
  std::vector<float> a = cy.array().astype(float32).to_vector<float>(), b = c32.array().to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(2e-3));
  auto fn = [](const std::vector<Variable>& v) { return one(F::convolution_2d(v[0], v[1], Variable(), 1, 1)); };
  gc::Options o = gc::backward_options_for(float16);
  CHECK_NOTHROW(gc::check_backward(fn, {cx, cw}, {input(Shape{1, 3, 4, 4}, float16, 5)}, o));
  auto lin = [](const std::vector<Variable>& v) { return one(F::linear(v[0], v[1])); };
  CHECK_NOTHROW(gc::check_backward(lin, {x, W}, {input(Shape{4, 2}, float16, 6)}, o));
}

TEST_CASE("dropout: seeded, reproducible, identity outside training, unbiased") {
  Tensor x = Tensor::full(Shape{200, 100}, 1.0, float32, dev());
  seed(42);
  std::vector<float> a = F::dropout(Variable(x), 0.3).array().to_vector<float>();
  uint64_t after = default_generator().offset();
  std::vector<float> b = F::dropout(Variable(x), 0.3).array().to_vector<float>();
  CHECK(a != b);  // the generator moved on
  seed(42);
  CHECK(F::dropout(Variable(x), 0.3).array().to_vector<float>() == a);  // same seed, same mask
  default_generator().set_state(42, after);
  CHECK(F::dropout(Variable(x), 0.3).array().to_vector<float>() == b);  // resumed from a saved state
  double kept = 0, total = 0;
  for (float v : a) {
    CHECK((v == 0.0f || v == doctest::Approx(1 / 0.7)));
    kept += v != 0.0f;
    total += v;
  }
  CHECK(kept / a.size() == doctest::Approx(0.7).epsilon(0.03));
  CHECK(total / a.size() == doctest::Approx(1.0).epsilon(0.05));
  {
    UsingConfig test_mode(&Config::train, false);
    CHECK(F::dropout(Variable(x), 0.5).array().to_vector<float>() == x.to_vector<float>());
  }
  CHECK_THROWS_WITH_AS(F::dropout(Variable(x), 1.0), doctest::Contains("ratio must be in [0, 1)"), Error);
  // The gradient uses the same mask as the forward pass.
  Variable v(x);
  Variable y = F::dropout(v, 0.5);
  F::sum(y).backward();
  CHECK(v.grad().to_vector<float>() == y.array().to_vector<float>());
}

TEST_CASE("random numbers are the same on every device for one (seed, offset)") {
  Tensor u_cpu = ops::random_uniform(Shape{1000}, float32, runtime().cpu(), 7, 3);
  Tensor u_dev = ops::random_uniform(Shape{1000}, float32, *devices().back(), 7, 3);
  CHECK(u_cpu.to_vector<float>() == u_dev.to_vector<float>());
  std::vector<float> u = u_cpu.to_vector<float>();
  double mean = 0;
  for (float v : u) {
    CHECK(v >= 0.0f);
    CHECK(v < 1.0f);
    mean += v;
  }
  CHECK(mean / u.size() == doctest::Approx(0.5).epsilon(0.05));
  std::vector<double> n = ops::random_normal(Shape{20000}, float64, dev(), 1, 0).to_vector<double>();
  double m = 0, s2 = 0;
  for (double v : n) m += v, s2 += v * v;
  m /= n.size();
  CHECK(std::abs(m) < 0.03);
  CHECK(s2 / n.size() - m * m == doctest::Approx(1.0).epsilon(0.05));
  // float64 numbers at a position do not depend on how many were drawn before it.
  std::vector<double> first = ops::random_uniform(Shape{10}, float64, dev(), 9, 0).to_vector<double>();
  std::vector<double> later = ops::random_uniform(Shape{4}, float64, dev(), 9, 3).to_vector<double>();
  CHECK(later[0] == first[6]);
}

TEST_CASE("batch_normalization updates running statistics as Chainer does") {
  Tensor x = input(Shape{4, 3}, float64, 11);
  Tensor rm = Tensor::zeros(Shape{3}, float64, dev()), rv = Tensor::full(Shape{3}, 1.0, float64, dev());
  Variable g(Tensor::full(Shape{3}, 1.0, float64, dev())), b(Tensor::zeros(Shape{3}, float64, dev()));
  F::batch_normalization(Variable(x), g, b, 2e-5, rm, rv, 0.9);
  std::vector<double> xv = x.to_vector<double>(), m = rm.to_vector<double>(), v = rv.to_vector<double>();
  for (int c = 0; c < 3; ++c) {
    double mu = 0, var = 0;
    for (int i = 0; i < 4; ++i) mu += xv[i * 3 + c];
    mu /= 4;
    for (int i = 0; i < 4; ++i) var += (xv[i * 3 + c] - mu) * (xv[i * 3 + c] - mu);
    var /= 4;
    CHECK(m[c] == doctest::Approx(0.1 * mu).epsilon(1e-12));
    CHECK(v[c] == doctest::Approx(0.9 + 0.1 * var * 4.0 / 3.0).epsilon(1e-12));
  }
}

TEST_CASE("margin_ranking and accuracy") {
  Variable x1(Tensor::from_vector(std::vector<double>{1.0, 0.2, 0.5}, Shape{3}, dev()));
  Variable x2(Tensor::from_vector(std::vector<double>{0.5, 0.4, 0.5}, Shape{3}, dev()));
  Tensor y = Tensor::from_vector(std::vector<double>{1, 1, -1}, Shape{3}, dev());
  // max(0, -y (x1 - x2) + 0.1) = {0, 0.3, 0.1}; mean 0.4/3
  CHECK(F::margin_ranking(x1, x2, y, 0.1).array().to_vector<double>()[0] == doctest::Approx(0.4 / 3));
  auto fn = [&](const std::vector<Variable>& v) { return one(F::margin_ranking(v[0], v[1], y, 0.1)); };
  CHECK_NOTHROW(gc::check_backward(fn, {x1.array(), x2.array()}, {}));
  Variable scores(Tensor::from_vector(std::vector<float>{0.1f, 0.9f, 0.8f, 0.2f, 0.3f, 0.7f}, Shape{3, 2}, dev()));
  CHECK(F::accuracy(scores, labels({1, 0, 0})).array().to_vector<float>()[0] == doctest::Approx(2.0 / 3));
  CHECK(F::accuracy(scores, labels({1, 0, -1}), -1).array().to_vector<float>()[0] == doctest::Approx(1.0));
  CHECK(F::accuracy(scores, labels({-1, -1, -1}), -1).array().to_vector<float>()[0] == 0.0f);
}

TEST_CASE("bad arguments name the function, the argument and the shapes") {
  Variable x(Tensor::zeros(Shape{2, 3, 5, 5}, float32, dev()));
  Variable W(Tensor::zeros(Shape{4, 2, 3, 3}, float32, dev()));
  CHECK_THROWS_WITH_AS(F::convolution_2d(x, W), doctest::Contains("convolution_2d: x has 3 channels but W (4, 2, 3, 3) expects 2"),
                       Error);
  CHECK_THROWS_WITH_AS(F::softmax_cross_entropy(Variable(Tensor::zeros(Shape{2, 3}, float32, dev())), labels({0, 5})),
                       doctest::Contains("a label is outside [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(F::softmax_cross_entropy(Variable(Tensor::zeros(Shape{2, 3}, float32, dev())), labels({0})),
                       doctest::Contains("must be (N, classes, ...)"), Error);
  CHECK_THROWS_WITH_AS(F::max_pooling_2d(Variable(Tensor::zeros(Shape{2, 3}, float32, dev())), 2),
                       doctest::Contains("max_pooling_2d: x must be 4-D"), Error);
  CHECK_THROWS_WITH_AS(F::lstm(Variable(Tensor::zeros(Shape{2, 3}, float32, dev())),
                               Variable(Tensor::zeros(Shape{2, 8}, float32, dev()))),
                       doctest::Contains("lstm: c_prev (2, 3) does not match x (2, 8)"), Error);
  CHECK_THROWS_WITH_AS(F::get_item(x, {0, 0, 0, 0, 0}), doctest::Contains("5 indices for an array of 4 dimensions"),
                       Error);
  CHECK_THROWS_WITH_AS(F::split_axis(x, 2, 1), doctest::Contains("does not split into 2 equal sections"), Error);
  CHECK_THROWS_WITH_AS(F::hinge(Variable(Tensor::zeros(Shape{2, 3}, float32, dev())), labels({0, 1}), "L3"),
                       doctest::Contains("norm must be"), Error);
}

TEST_CASE("conv and pooling: the dense fast paths agree with the strided general ones") {
  // Contiguous operands take the fast paths; the same values through strided views take
  // the general ones. Ties and a NaN exercise max pooling's tie and NaN rules.
  for (int64_t h : {6, 7}) {
    Tensor strided = catena_test::input(Shape{2, 3, h, 8}, float32, 11);
    std::vector<float> v = strided.to_vector<float>();
    v[5] = v[4];  // a tie in a window
    v[20] = std::numeric_limits<float>::quiet_NaN();
    Tensor wide = Tensor::zeros(Shape{2, 3, h, 16}, float32);
    Tensor view = wide.slice(3, 0, 16, 2);
    ops::copy(view, Tensor::from_vector(v, Shape{2, 3, h, 8}));
    Tensor dense = view.contiguous();
    for (int k : {2, 3}) {
      ops::Pool2d p;
      p.kh = p.kw = p.sy = p.sx = k;
      p.cover_all = true;
      auto [yd, id] = ops::max_pool2d(dense, p);
      auto [ys, is] = ops::max_pool2d(view, p);
      std::vector<float> a = yd.to_vector<float>(), b = ys.to_vector<float>();
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i) CHECK(((a[i] == b[i]) || (std::isnan(a[i]) && std::isnan(b[i]))));
      CHECK(id.to_vector<int32_t>() == is.to_vector<int32_t>());
      Tensor gy = catena_test::input(yd.shape(), float32, 12);
      CHECK(ops::max_pool2d_grad(gy.contiguous(), id, dense.shape(), p).to_vector<float>() ==
            ops::max_pool2d_grad(gy, is, dense.shape(), p).to_vector<float>());
    }
    // Convolution with padding and stride 2: dense and strided operands give the same.
    Tensor w = catena_test::input(Shape{4, 3, 3, 3}, float32, 13);
    ops::Conv2d g;
    g.sy = g.sx = 2;
    g.ph = g.pw = 1;
    Tensor finite = catena_test::input(Shape{2, 3, h, 8}, float32, 14);
    Tensor yd = ops::conv2d(finite.contiguous(), w.contiguous(), Tensor(), g);
    Tensor ys = ops::conv2d(finite, w, Tensor(), g);
    std::vector<float> a = yd.to_vector<float>(), b = ys.to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
    Tensor gy = catena_test::input(yd.shape(), float32, 15);
    a = ops::conv2d_grad_input(gy.contiguous(), w.contiguous(), finite.shape(), g).to_vector<float>();
    b = ops::conv2d_grad_input(gy, w, finite.shape(), g).to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
  }
}

TEST_CASE("stride-1 convolutions: the direct kernels match a reference in double, all three directions") {
  // float32 with stride 1 and one group takes the direct (no columns) kernels on AVX-512;
  // the shapes cover output-channel blocks with tails, wide rows longer and shorter than a
  // vector, dilation, asymmetric padding, 5 x 5 filters (direct forward, columns for the
  // weight gradient), a padding beyond the filter (columns), and float16 stored, float32
  // computed, and enough images for the weight gradient to go in two chunks. The
  // reference is a plain loop in double.
  struct Geo {
    Shape x, w;
    int64_t ph, pw, dy, dx;
    Dtype dt;
  };
  for (const Geo& c : std::vector<Geo>{{Shape{3, 5, 7, 9}, Shape{11, 5, 3, 3}, 1, 1, 1, 1, float32},
                                       {Shape{2, 4, 6, 20}, Shape{6, 4, 3, 3}, 0, 2, 2, 1, float32},
                                       {Shape{2, 2, 9, 9}, Shape{3, 2, 5, 5}, 2, 2, 1, 1, float32},
                                       {Shape{1, 4, 5, 5}, Shape{9, 4, 3, 3}, 3, 1, 1, 1, float32},
                                       {Shape{2, 8, 14, 14}, Shape{16, 8, 3, 3}, 1, 1, 1, 1, float16},
                                       {Shape{24, 16, 14, 14}, Shape{32, 16, 3, 3}, 1, 1, 1, 1, float32}}) {
    CAPTURE(c.x.str());
    CAPTURE(c.w.str());
    CAPTURE(c.dt.name());
    if (!catena_test::computes_in(c.dt)) continue;  // (the suite also runs on opencl:0)
    ops::Conv2d g;
    g.ph = c.ph, g.pw = c.pw, g.dy = c.dy, g.dx = c.dx;
    const int64_t n = c.x[0], ch = c.x[1], h = c.x[2], w = c.x[3], oc = c.w[0], kh = c.w[2], kw = c.w[3];
    const int64_t oh = g.out_h(h, kh), ow = g.out_w(w, kw);
    Tensor x = catena_test::input(c.x, c.dt, 21).contiguous(), W = catena_test::input(c.w, c.dt, 22).contiguous();
    Tensor b = catena_test::input(Shape{oc}, c.dt, 23).contiguous();
    Tensor gy = catena_test::input(Shape{n, oc, oh, ow}, c.dt, 24).contiguous();
    std::vector<double> xv = vals(x), wv = vals(W), bv = vals(b), gyv = vals(gy);
    std::vector<double> y_ref(size_t(n * oc * oh * ow)), gx_ref(size_t(n * ch * h * w), 0.0), gw_ref(wv.size(), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < oc; ++o)
        for (int64_t r = 0; r < oh; ++r)
          for (int64_t q = 0; q < ow; ++q) {
            const size_t yi = size_t(((i * oc + o) * oh + r) * ow + q);
            double s = bv[size_t(o)];
            for (int64_t k = 0; k < ch; ++k)
              for (int64_t ky = 0; ky < kh; ++ky)
                for (int64_t kx = 0; kx < kw; ++kx) {
                  const int64_t iy = r - c.ph + ky * c.dy, ix = q - c.pw + kx * c.dx;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                  const size_t xi = size_t(((i * ch + k) * h + iy) * w + ix), wi = size_t(((o * ch + k) * kh + ky) * kw + kx);
                  s += wv[wi] * xv[xi];
                  gx_ref[xi] += wv[wi] * gyv[yi];
                  gw_ref[wi] += xv[xi] * gyv[yi];
                }
            y_ref[yi] = s;
          }
    const double tol = c.dt == float16 ? 2e-2 : 1e-4;
    auto close = [&](const std::vector<double>& got, const std::vector<double>& want, const char* what) {
      REQUIRE(got.size() == want.size());
      size_t bad = 0;
      for (size_t i = 0; i < got.size(); ++i)
        if (std::abs(got[i] - want[i]) > tol * (1 + std::abs(want[i])) && bad++ < 3)
          FAIL_CHECK(std::string(what) << " element " << i << ": " << got[i] << ", want " << want[i]);
      CHECK(bad == 0);
    };
    close(vals(ops::conv2d(x, W, b, g)), y_ref, "y");
    close(vals(ops::conv2d_grad_input(gy, W, x.shape(), g)), gx_ref, "gx");
    close(vals(ops::conv2d_grad_weight(x, gy, W.shape(), g)), gw_ref, "gW");
    // Twice the same call gives the same bits.
    CHECK(vals(ops::conv2d_grad_weight(x, gy, W.shape(), g)) == vals(ops::conv2d_grad_weight(x, gy, W.shape(), g)));
  }
  {
    // An infinite input reaches exactly the weights whose windows cover it: the direct
    // layout's dropped columns must not carry it into the others.
    ops::Conv2d g;
    g.ph = g.pw = 1;
    Tensor x = catena_test::input(Shape{2, 4, 6, 7}, float32, 41).contiguous();
    std::vector<float> xv = x.to_vector<float>();
    xv[6] = std::numeric_limits<float>::infinity();  // image 0, channel 0, row 0, last column
    x = Tensor::from_vector(xv, x.shape(), x.device());
    Tensor gy = catena_test::input(Shape{2, 5, 6, 7}, float32, 42).contiguous();
    std::vector<float> gw = ops::conv2d_grad_weight(x, gy, Shape{5, 4, 3, 3}, g).to_vector<float>();
    for (int64_t o = 0; o < 5; ++o)
      for (int64_t k = 0; k < 4; ++k)
        for (int64_t t = 0; t < 9; ++t) {
          // Input (0, 6) with pad 1 is read by output (oy, ox) through tap (ky, kx) when
          // oy + ky = 1 and ox + kx = 7: ky in {0, 1}, kx in {1, 2}, input channel 0.
          const bool touched = k == 0 && t / 3 <= 1 && t % 3 >= 1;
          CAPTURE(o);
          CAPTURE(k);
          CAPTURE(t);
          CHECK(std::isfinite(gw[size_t((o * 4 + k) * 9 + t)]) == !touched);
        }
  }
  // First and second order gradients through F::convolution_2d on the direct path.
  auto fn = [](const std::vector<Variable>& v) { return one(F::convolution_2d(v[0], v[1], v[2], 1, 1)); };
  gc::Options o = gc::backward_options_for(float32);
  o.atol = o.rtol = 1e-2;
  Tensor x = catena_test::input(Shape{2, 4, 5, 6}, float32, 31), W = catena_test::input(Shape{5, 4, 3, 3}, float32, 32);
  Tensor b = catena_test::input(Shape{5}, float32, 33), gy = catena_test::input(Shape{2, 5, 5, 6}, float32, 34);
  CHECK_NOTHROW(gc::check_backward(fn, {x, W, b}, {gy}, o));
  CHECK_NOTHROW(gc::check_double_backward(
      fn, {x, W, b}, {gy},
      {catena_test::input(x.shape(), float32, 35), catena_test::input(W.shape(), float32, 36), catena_test::input(b.shape(), float32, 37)},
      o));
}
