// The OpenCL backend on opencl:0 (PoCL's CPU device in CI): the device is listed, the
// conformance kit passes on it (every op against the cpu backend, every function's
// gradient checks), and what the kit does not check: asynchronous errors, the optimizer
// updates to the last bit, no driver at all.
#include "../../support.hpp"

#include <catena/conformance.hpp>
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

TEST_CASE("opencl: the conformance kit passes on opencl:0, declining only what the backend says it lacks") {
  // Every op of OPS.md in every dtype, layout and edge size, then every function's
  // gradient checks (catena conformance --device opencl:0).
  conformance::Options o;
  o.device = "opencl:0";
  const conformance::Summary s = conformance::run(o);
  CHECK(s.failed == 0);
  for (const conformance::Row& row : s.rows) {
    CAPTURE(row.op + " " + row.dtype + " " + row.variant + ": " + row.detail);
    if (row.outcome == conformance::Outcome::failed) FAIL_CHECK("failed");
    if (row.outcome == conformance::Outcome::declined)
      CHECK((row.detail == "float16/bfloat16 not supported" || row.detail == "integer GEMM is not implemented on OpenCL" ||
             row.detail == "needs a dense gradient"));
  }
  CHECK(s.passed > 2000);
  CHECK(s.fallbacks == 0);  // the gradient checks ran on the device alone
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
