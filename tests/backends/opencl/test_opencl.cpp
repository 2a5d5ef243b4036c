// The OpenCL backend on opencl:0 (PoCL's CPU device in CI): the device is listed, and a
// conformance pass runs every op the backend implements natively — contiguous and
// strided operands — and compares it with the CPU backend on the same random inputs.
#include "../../support.hpp"

#include <catena/ops.hpp>
#include <catena/runtime.hpp>

#include <array>
#include <cmath>
#include <functional>

#include <doctest/doctest.h>

using namespace catena;
using catena_test::contains;

namespace {

Device& ocl() {
  for (Device* d : runtime().devices())
    if (d->name() == "opencl:0") return *d;
  FAIL("no opencl:0 device: install an OpenCL driver (Debian: pocl-opencl-icd) and check `catena devices`");
  throw 0;
}

// One op case: inputs made on a device by `make` (the same values on every device), the
// outputs' shapes and dtypes, the attributes.
using Maker = std::function<std::vector<Tensor>(Device&)>;
struct Case {
  Case(std::string n, Maker m, std::vector<std::pair<Shape, Dtype>> o, Attrs a, double t = 1e-5, std::vector<int> rw = {})
      : name(std::move(n)), make(std::move(m)), outputs(std::move(o)), attrs(std::move(a)), tol(t), read_write(std::move(rw)) {}
  std::string name;
  Maker make;
  std::vector<std::pair<Shape, Dtype>> outputs;
  Attrs attrs;
  double tol;
  std::vector<int> read_write;  // outputs that the op reads too (optim.*): preset with values
};

std::vector<Tensor> run(const Case& c, Device& d, const std::vector<Tensor>& preset) {
  std::vector<Tensor> in = c.make(d), out;
  for (size_t i = 0; i < c.outputs.size(); ++i) {
    Tensor t = Tensor::empty(c.outputs[i].first, c.outputs[i].second, d);
    if (i < preset.size() && preset[i].defined()) ops::copy(t, preset[i].to(d));
    out.push_back(t);
  }
  launch(c.name.c_str(), 1, in, out, c.attrs);
  return out;
}

void check(const Case& c) {
  CAPTURE(c.name);
  Device& dev = ocl();
  Device& cpu = runtime().cpu();
  std::vector<Tensor> preset;
  for (int i : c.read_write) {
    if (preset.size() <= size_t(i)) preset.resize(size_t(i) + 1);
    preset[size_t(i)] = catena_test::input(c.outputs[size_t(i)].first, c.outputs[size_t(i)].second, 70 + uint32_t(i), 0.1, 1);
  }
  // Native on the device, not by fallback.
  std::vector<Tensor> probe_in = c.make(dev), probe_out;
  for (auto& [s, t] : c.outputs) probe_out.push_back(Tensor::empty(s, t, dev));
  auto [support, reason] = query_support(dev, c.name.c_str(), 1, probe_in, probe_out, c.attrs);
  INFO(reason);
  REQUIRE(support == CT_SUPPORTED);
  std::vector<Tensor> want = run(c, cpu, preset), got = run(c, dev, preset);
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    std::vector<double> a = catena_test::vals(want[i]), b = catena_test::vals(got[i].to(cpu));
    REQUIRE(a.size() == b.size());
    size_t bad = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      const bool same = (std::isnan(a[k]) && std::isnan(b[k])) || a[k] == b[k] ||
                        std::abs(a[k] - b[k]) <= c.tol * (1 + std::abs(a[k]));
      if (!same && bad++ < 3) FAIL_CHECK("element " << k << ": cpu " << a[k] << ", opencl " << b[k]);
    }
    CHECK(bad == 0);
  }
}

using catena_test::input;

Maker inputs(std::vector<std::pair<Shape, Dtype>> specs, bool strided = true,
                                                   double lo = -2, double hi = 2) {
  return [=](Device& d) {
    std::vector<Tensor> v;
    uint32_t seed = 11;
    for (auto& [s, t] : specs) {
      Tensor x = input(s, t, seed++, lo, hi, d);
      v.push_back(strided ? x : x.contiguous());
    }
    return v;
  };
}

}  // namespace

TEST_CASE("opencl: the device is listed with its platform, memory and identity") {
  Device& d = ocl();
  auto r = catena_test::run_command(catena_test::catena_tool() + " devices");
  INFO(r.output);
  CHECK(contains(r.output, "opencl:0"));
  CHECK(contains(r.output, "kind:     opencl"));
  CHECK(contains(r.output, "memory is device-only, asynchronous"));
  CHECK(d.name() == "opencl:0");
}

TEST_CASE("opencl: elementwise, comparisons, where, copies and fills match the CPU, strided or not") {
  const Shape s{3, 5, 7};
  for (bool strided : {true, false}) {
    CAPTURE(strided);
    for (const char* op : {"core.neg", "core.abs", "core.square", "core.relu", "core.exp", "core.sin", "core.cos",
                           "core.tanh", "core.sigmoid"})
      check({op, inputs({{s, float32}}, strided), {{s, float32}}, {}});
    for (const char* op : {"core.sqrt", "core.log"}) check({op, inputs({{s, float32}}, strided, 0.1, 3), {{s, float32}}, {}});
    for (const char* op : {"core.neg", "core.abs", "core.square", "core.relu"})
      check({op, inputs({{s, int32}}, strided, -50, 50), {{s, int32}}, {}});
    for (const char* op : {"core.add", "core.sub", "core.mul", "core.div", "core.maximum", "core.minimum",
                           "core.relu_grad"})
      check({op, inputs({{s, float32}, {s, float32}}, strided), {{s, float32}}, {}});
    check({"core.pow", inputs({{s, float32}, {s, float32}}, strided, 0.1, 2), {{s, float32}}, {}});
    for (const char* op : {"core.add", "core.sub", "core.mul", "core.maximum", "core.minimum"})
      check({op, inputs({{s, int64}, {s, int64}}, strided, -1000, 1000), {{s, int64}}, {}});
    for (const char* op : {"core.equal", "core.not_equal", "core.less", "core.less_equal", "core.greater",
                           "core.greater_equal"})
      check({op, inputs({{s, float32}, {s, float32}}, strided, -1, 1), {{s, bool_}}, {}});
    check({"core.where", inputs({{s, bool_}, {s, float32}, {s, float32}}, strided, 0, 1.999), {{s, float32}}, {}});
    for (Dtype to : {int32, int64, int8, uint8, bool_, float64})
      check({"core.copy", inputs({{s, float32}}, strided, -300, 300), {{s, to}}, {}});
    check({"core.copy", inputs({{s, int64}}, strided, -300, 300), {{s, float32}}, {}});
  }
  for (Dtype t : {float32, int32, int8, bool_, float64})
    check({"core.fill", [](Device&) { return std::vector<Tensor>{}; }, {{Shape{4, 6}, t}}, Attrs().f("value", -3.75)});
}

TEST_CASE("opencl: reductions, argmax, gemm, take and take_add match the CPU") {
  const Shape s{4, 6, 5};
  for (const char* op : {"core.sum", "core.mean", "core.max", "core.min"}) {
    check({op, inputs({{s, float32}}), {{Shape{4, 1, 5}, float32}}, Attrs().ints("axes", {1})});
    check({op, inputs({{s, float32}}), {{Shape{1, 6, 1}, float32}}, Attrs().ints("axes", {0, 2})});
  }
  check({"core.sum", inputs({{s, int64}}, true, -100, 100), {{Shape{4, 6, 1}, int64}}, Attrs().ints("axes", {2})});
  check({"core.argmax", inputs({{s, float32}}), {{Shape{4, 1, 5}, int64}}, Attrs().i("axis", 1)});
  // GEMM: plain, transposed operands (strided views), batched, with C.
  check({"core.gemm", inputs({{Shape{17, 33}, float32}, {Shape{33, 19}, float32}}), {{Shape{17, 19}, float32}}, {}, 1e-4});
  check({"core.gemm",
         [](Device& d) {
           return std::vector<Tensor>{input(Shape{33, 17}, float32, 1, -1, 1, d), input(Shape{19, 33}, float32, 2, -1, 1, d),
                                      input(Shape{17, 19}, float32, 3, -1, 1, d)};
         },
         {{Shape{17, 19}, float32}},
         Attrs().b("trans_a", true).b("trans_b", true).f("alpha", 0.5).f("beta", 2.0),
         1e-4});
  check({"core.gemm", inputs({{Shape{3, 9, 20}, float32}, {Shape{3, 20, 7}, float32}}), {{Shape{3, 9, 7}, float32}}, {}, 1e-4});
  // The fast GEMM forms, each with partial blocks of rows and columns and a K remainder:
  // "dot" (both operands contiguous along K: A B^T), "rows" (B contiguous along N: A B and
  // A^T B), float32 and float64, batched with a shared operand, with alpha, beta and C.
  for (Dtype dt : {float32, float64}) {
    for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 5, 17}, {37, 45, 70}, {100, 33, 129}}) {
      CAPTURE(dt.name());
      CAPTURE(m);
      CAPTURE(n);
      CAPTURE(k);
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          CAPTURE(ta);
          CAPTURE(tb);
          check({"core.gemm", inputs({{ta ? Shape{k, m} : Shape{m, k}, dt}, {tb ? Shape{n, k} : Shape{k, n}, dt}}, false),
                 {{Shape{m, n}, dt}}, Attrs().b("trans_a", ta).b("trans_b", tb), 1e-4});
        }
      check({"core.gemm", inputs({{Shape{m, k}, dt}, {Shape{n, k}, dt}, {Shape{m, n}, dt}}, false), {{Shape{m, n}, dt}},
             Attrs().b("trans_b", true).f("alpha", -0.5).f("beta", 1.5), 1e-4});
      check({"core.gemm",
             [=](Device& d) {
               return std::vector<Tensor>{input(Shape{2, m, k}, dt, 5, -1, 1, d).contiguous(),
                                          input(Shape{k, n}, dt, 6, -1, 1, d).contiguous().expand_dims(0).broadcast_to(Shape{2, k, n})};
             },
             {{Shape{2, m, n}, dt}}, {}, 1e-4});
    }
  }
  auto take_inputs = [](Device& d) {
    Tensor x = input(Shape{5, 7, 3}, float32, 4, -1, 1, d);
    Tensor idx = Tensor::from_vector(std::vector<int64_t>{6, 0, -1, 3, 3}, Shape{5}, runtime().cpu()).to(d);
    return std::vector<Tensor>{x, idx};
  };
  check({"core.take", take_inputs, {{Shape{5, 5, 3}, float32}}, Attrs().i("axis", 1)});
  check({"core.take_add",
         [&](Device& d) {
           std::vector<Tensor> v = take_inputs(d);
           v.push_back(input(Shape{5, 5, 3}, float32, 9, -1, 1, d));
           return v;
         },
         {{Shape{5, 7, 3}, float32}},
         Attrs().i("axis", 1)});
}

TEST_CASE("opencl: an index out of range in core.take is an error at the next synchronisation") {
  Device& d = ocl();
  Tensor x = Tensor::zeros(Shape{4, 3}, float32, d);
  Tensor idx = Tensor::from_vector(std::vector<int64_t>{1, 9}, Shape{2}, runtime().cpu()).to(d);
  Tensor y = Tensor::empty(Shape{2, 3}, float32, d);
  launch("core.take", 1, {x, idx}, {y}, Attrs().i("axis", 0));
  CHECK_THROWS_WITH_AS(d.synchronize(), doctest::Contains("core.take: an index is out of range"), Error);
  d.synchronize();  // reported once
}

TEST_CASE("opencl: random numbers are the CPU's (uniform bit for bit)") {
  check({"core.random_uniform", [](Device&) { return std::vector<Tensor>{}; }, {{Shape{9, 31}, float32}},
         Attrs().i("seed", 1234).i("offset", 77).f("low", -2).f("high", 3), 0});
  check({"core.random_normal", [](Device&) { return std::vector<Tensor>{}; }, {{Shape{9, 31}, float32}},
         Attrs().i("seed", 99).i("offset", 5).f("mean", 1).f("stddev", 2), 1e-6});
}

TEST_CASE("opencl: convolution and pooling, forward and backward, match the CPU") {
  const Attrs geometry = Attrs().ints("stride", {2, 1}).ints("pad", {1, 2}).ints("dilation", {1, 2}).i("groups", 2);
  // x (2, 4, 9, 8), W (6, 2, 3, 3): y (2, 6, 5, 8) with these strides, pads and dilations.
  check({"core.conv2d", inputs({{Shape{2, 4, 9, 8}, float32}, {Shape{6, 2, 3, 3}, float32}, {Shape{6}, float32}}),
         {{Shape{2, 6, 5, 8}, float32}}, geometry, 1e-4});
  check({"core.conv2d_grad_input", inputs({{Shape{2, 6, 5, 8}, float32}, {Shape{6, 2, 3, 3}, float32}}),
         {{Shape{2, 4, 9, 8}, float32}}, geometry, 1e-4});
  check({"core.conv2d_grad_weight", inputs({{Shape{2, 4, 9, 8}, float32}, {Shape{2, 6, 5, 8}, float32}}),
         {{Shape{6, 2, 3, 3}, float32}}, geometry, 1e-4});
  // Groups of one run as columns and products (im2col, the register-blocked GEMM, col2im),
  // in chunks of images: one chunk, then one image per chunk (CATENA_OPENCL_COLUMNS=1).
  const Attrs one_group = Attrs().ints("stride", {2, 1}).ints("pad", {1, 2}).ints("dilation", {1, 2});
  for (const char* columns : {"", "1"}) {
    CAPTURE(columns);
    setenv("CATENA_OPENCL_COLUMNS", columns, 1);
    for (Dtype dt : {float32, float64})
      for (bool strided : {true, false}) {
        CAPTURE(dt.name());
        CAPTURE(strided);
        // x (3, 4, 9, 8), W (5, 4, 3, 3): y (3, 5, 5, 8).
        check({"core.conv2d", inputs({{Shape{3, 4, 9, 8}, dt}, {Shape{5, 4, 3, 3}, dt}, {Shape{5}, dt}}, strided),
               {{Shape{3, 5, 5, 8}, dt}}, one_group, 1e-4});
        check({"core.conv2d", inputs({{Shape{3, 4, 9, 8}, dt}, {Shape{5, 4, 3, 3}, dt}}, strided), {{Shape{3, 5, 5, 8}, dt}},
               one_group, 1e-4});
        check({"core.conv2d_grad_input", inputs({{Shape{3, 5, 5, 8}, dt}, {Shape{5, 4, 3, 3}, dt}}, strided),
               {{Shape{3, 4, 9, 8}, dt}}, one_group, 1e-4});
        check({"core.conv2d_grad_weight", inputs({{Shape{3, 4, 9, 8}, dt}, {Shape{3, 5, 5, 8}, dt}}, strided),
               {{Shape{5, 4, 3, 3}, dt}}, one_group, 1e-4});
      }
  }
  unsetenv("CATENA_OPENCL_COLUMNS");
  const Attrs pool = Attrs().ints("ksize", {3, 2}).ints("stride", {2, 2}).ints("pad", {1, 0}).b("cover_all", true);
  // x (2, 3, 7, 6): y (2, 3, 4, 3) with cover_all.
  check({"core.max_pool2d", inputs({{Shape{2, 3, 7, 6}, float32}}), {{Shape{2, 3, 4, 3}, float32}, {Shape{2, 3, 4, 3}, int32}},
         pool});
  check({"core.avg_pool2d", inputs({{Shape{2, 3, 7, 6}, float32}}), {{Shape{2, 3, 4, 3}, float32}}, pool});
  check({"core.avg_pool2d_grad", inputs({{Shape{2, 3, 4, 3}, float32}}), {{Shape{2, 3, 7, 6}, float32}}, pool});
  // The max-pooling gradient and gather take the indexes the forward found.
  auto with_indexes = [&](bool gather) {
    return [=](Device& d) {
      Tensor x = input(Shape{2, 3, 7, 6}, float32, 5, -1, 1, d);
      Tensor y = Tensor::empty(Shape{2, 3, 4, 3}, float32, d), idx = Tensor::empty(Shape{2, 3, 4, 3}, int32, d);
      launch("core.max_pool2d", 1, {x}, {y, idx}, pool);
      Tensor other = input(gather ? Shape{2, 3, 7, 6} : Shape{2, 3, 4, 3}, float32, 6, -1, 1, d);
      return std::vector<Tensor>{other, idx};
    };
  };
  check({"core.max_pool2d_grad", with_indexes(false), {{Shape{2, 3, 7, 6}, float32}}, pool});
  check({"core.max_pool2d_gather", with_indexes(true), {{Shape{2, 3, 4, 3}, float32}}, pool});
}

TEST_CASE("opencl: every optimizer's fused update matches the CPU bit for bit") {
  const Shape s{33, 7};
  auto g = [s](Device& d) { return std::vector<Tensor>{input(s, float32, 3, -1, 1, d).contiguous()}; };
  auto rw = [&](int n) {
    std::vector<int> v;
    for (int i = 0; i < n; ++i) v.push_back(i);
    return v;
  };
  auto outs = [&](int n) { return std::vector<std::pair<Shape, Dtype>>(size_t(n), {s, float32}); };
  check({"optim.sgd", g, outs(1), Attrs().f("lr", 0.1), 0, rw(1)});
  check({"optim.momentum_sgd", g, outs(2), Attrs().f("lr", 0.1).f("momentum", 0.9), 0, rw(2)});
  check({"optim.nesterov_ag", g, outs(2), Attrs().f("lr", 0.1).f("momentum", 0.9), 0, rw(2)});
  check({"optim.adagrad", g, outs(2), Attrs().f("lr", 0.01).f("eps", 1e-8), 0, rw(2)});
  check({"optim.rmsprop", g, outs(2), Attrs().f("lr", 0.01).f("alpha", 0.99).f("eps", 1e-8), 0, rw(2)});
  check({"optim.adadelta", g, outs(3), Attrs().f("rho", 0.95).f("eps", 1e-6), 0, rw(3)});
  const Attrs adam = Attrs().f("lr", 0.001).f("beta1", 0.9).f("beta2", 0.999).f("eps", 1e-8).f("eta", 1.0).f(
      "weight_decay_rate", 0.01);
  check({"optim.adam", g, outs(3), adam, 0, rw(3)});
  Attrs ams = adam;
  ams.b("amsgrad", true);
  check({"optim.adam", g, outs(4), ams, 0, rw(4)});
}

TEST_CASE("opencl: with no OpenCL driver, catena plugins says why and everything else works") {
  // OCL_ICD_VENDORS pointing at an empty folder: the ICD loader finds no driver.
  const std::string tool = catena_test::catena_tool();
  auto r = catena_test::run_command("OCL_ICD_VENDORS=/nonexistent-catena-icd " + tool + " plugins");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "no OpenCL platform found: install an OpenCL driver (Debian: pocl-opencl-icd"));
  auto d = catena_test::run_command("OCL_ICD_VENDORS=/nonexistent-catena-icd " + tool + " devices");
  INFO(d.output);
  CHECK(d.status == 0);
  CHECK(contains(d.output, "  cpu\n"));
  CHECK(!contains(d.output, "opencl:0"));
}
