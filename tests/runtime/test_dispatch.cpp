// Dispatch on a device whose memory the host cannot address (the opaque test backend):
// data moves only by copies, missing ops fall back to the CPU one by one, and the
// fallback is counted, reported once, and can be forbidden.
#include "../support.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

using namespace catena;

namespace {

// Capture what the runtime writes to stderr while `fn` runs.
template <class F>
std::string capture_stderr(F&& fn) {
  std::fflush(stderr);
  char path[] = "/tmp/catena-stderr-XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  unlink(path);
  return ss.str();
}

struct FallbackModeGuard {
  FallbackMode saved = runtime().fallback_mode();
  ~FallbackModeGuard() { runtime().set_fallback_mode(saved); }
};

}  // namespace

TEST_CASE("opaque devices are listed with their properties") {
  Device& d = device("opaque:1");
  CHECK(d.name() == "opaque:1");
  CHECK(d.kind() == "opaque");
  CHECK_FALSE(d.host_addressable());
  CHECK_FALSE(d.is_cpu());
  CHECK(&device("opaque") == &device("opaque:0"));
  CHECK_THROWS_WITH_AS(device("opaque:7"), doctest::Contains("Devices here: cpu, opaque:0, opaque:1"), Error);
}

TEST_CASE("data reaches an opaque device and comes back by copies only") {
  Device& d = device("opaque:0");
  std::vector<float> v = catena_test::random_floats(1000, 1);
  Tensor t = Tensor::from_vector(v, Shape{10, 100}, d);
  CHECK(&t.device() == &d);
  CHECK(t.to_vector<float>() == v);
  CHECK(t.to(runtime().cpu()).to_vector<float>() == v);
  CHECK(t.to(device("opaque:1")).to_vector<float>() == v);
  Tensor back = Tensor::from_vector(v, Shape{1000}, runtime().cpu()).to(d);
  CHECK(back.to_vector<float>() == v);
}

TEST_CASE("an op the device has runs there; one it lacks falls back, op by op") {
  Device& d = device("opaque:0");
  std::vector<float> a = catena_test::random_floats(64, 2), b = catena_test::random_floats(64, 3);
  Tensor ta = Tensor::from_vector(a, Shape{8, 8}, d), tb = Tensor::from_vector(b, Shape{8, 8}, d);
  uint64_t before_add = d.fallback_counts()["core.add"];
  Tensor s = ops::add(ta, tb);
  CHECK(d.fallback_counts()["core.add"] == before_add);  // native
  uint64_t before_exp = d.fallback_counts()["core.exp"];
  Tensor e = ops::exp(s);  // no exp kernel on the opaque device
  CHECK(d.fallback_counts()["core.exp"] == before_exp + 1);
  CHECK(&e.device() == &d);  // the result lives on the device all the same
  std::vector<float> got = e.to_vector<float>();
  for (int i = 0; i < 64; ++i) CHECK(got[i] == std::exp(a[i] + b[i]));
  // float64, a transposed operand, broadcasting, a reduction and a GEMM all fall back.
  Tensor t2 = ops::add(ta.transpose(), tb);
  std::vector<float> g2 = t2.to_vector<float>();
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) CHECK(g2[i * 8 + j] == a[j * 8 + i] + b[i * 8 + j]);
  CHECK(ops::sum(ta).to_vector<float>()[0] == doctest::Approx(ops::sum(ta.to(runtime().cpu())).to_vector<float>()[0]));
  Tensor g = ops::gemm(ta, tb);
  CHECK(g.to_vector<float>() == ops::gemm(ta.to(runtime().cpu()), tb.to(runtime().cpu())).to_vector<float>());
  CHECK(d.fallback_total() >= 4);
}

TEST_CASE("supports_op is asked once per kind of call, then answered from the cache") {
  Device& d = device("opaque:1");
  Tensor a = Tensor::full(Shape{3, 5}, 1.0, float32, d);
  (void)ops::add(a, a);
  uint64_t after_first = d.support_queries();
  for (int i = 0; i < 10; ++i) (void)ops::add(a, a);
  Tensor b = Tensor::full(Shape{7, 2}, 2.0, float32, d);  // other extents, same kind of call
  (void)ops::add(b, b);
  CHECK(d.support_queries() == after_first);
  (void)ops::add(a.transpose(), a.transpose());  // another layout class: a new question
  CHECK(d.support_queries() == after_first + 1);
}

TEST_CASE("fallback into a strided output keeps the bytes the view skips") {
  Device& d = device("opaque:0");
  Tensor dst = Tensor::full(Shape{4, 6}, 9.0, float32, d);
  Tensor src = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, Shape{4, 1}, runtime().cpu()).to(d);
  ops::copy(dst.slice(1, 1, 6, 2), src);  // strided and broadcast: falls back
  std::vector<float> got = dst.to_vector<float>();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) CHECK(got[i * 6 + j] == (j % 2 == 1 ? float(i + 1) : 9.f));
}

TEST_CASE("fallback warns once per op and device; CATENA_FALLBACK=error forbids it") {
  FallbackModeGuard guard;
  Device& d = device("opaque:1");
  Tensor x = Tensor::full(Shape{4}, 1.0, float32, d);
  runtime().set_fallback_mode(FallbackMode::warn);
  std::string first = capture_stderr([&] { ops::sqrt(x); });
  std::string second = capture_stderr([&] { ops::sqrt(x); });
  CHECK(catena_test::contains(first, "core.sqrt (float32(4,)) is not supported on opaque:1"));
  CHECK(catena_test::contains(first, "CATENA_FALLBACK=error"));
  CHECK(second.empty());
  runtime().set_fallback_mode(FallbackMode::silent);
  CHECK(capture_stderr([&] { ops::sin(x); }).empty());
  runtime().set_fallback_mode(FallbackMode::error);
  CHECK_THROWS_WITH_AS(ops::cos(x), doctest::Contains("CATENA_FALLBACK=error forbids"), Error);
  CHECK_NOTHROW(ops::add(x, x));  // native ops still run
}

TEST_CASE("tensors on different devices are refused with a remedy") {
  Tensor a = Tensor::zeros(Shape{3}, float32, runtime().cpu());
  Tensor b = Tensor::zeros(Shape{3}, float32, device("opaque:0"));
  CHECK_THROWS_WITH_AS(ops::add(a, b), doctest::Contains("different devices (cpu and opaque:0)"), Error);
  Tensor out = Tensor::empty(Shape{3}, float32, device("opaque:0"));
  CHECK_THROWS_WITH_AS(launch("core.add", 1, {a, a}, {out}), doctest::Contains("move it first with .to(device)"), Error);
}

TEST_CASE("an asynchronous device error surfaces at the next synchronisation, naming the device") {
  Device& d = device("opaque:0");
  Tensor x = Tensor::zeros(Shape{2}, float32, d);
  launch("test.fault", 1, {}, {x});  // enqueued fine; fails later on the device
  CHECK_THROWS_WITH_AS(d.synchronize(), doctest::Contains("device fault injected by test.fault"), Error);
  CHECK_NOTHROW(d.synchronize());  // reported once, then cleared
  CHECK(x.to_vector<float>() == std::vector<float>{0, 0});
}

TEST_CASE("an op no backend implements is an error, not a crash") {
  Tensor x = Tensor::zeros(Shape{2}, float32, runtime().cpu());
  CHECK_THROWS_WITH_AS(launch("acme.frobnicate", 1, {x}, {x}), doctest::Contains("the cpu backend cannot run it"),
                       Error);
  Tensor y = Tensor::zeros(Shape{2}, float32, device("opaque:0"));
  CHECK_THROWS_AS(launch("acme.frobnicate", 1, {y}, {y}), Error);
}

TEST_CASE("launch with operands that break an op's rules is refused, even after a valid call of the same kind") {
  Tensor a = Tensor::zeros(Shape{4}, float32, runtime().cpu()), y = Tensor::empty(Shape{4}, float32, runtime().cpu());
  CHECK_NOTHROW(launch("core.add", 1, {a, a}, {y}));
  Tensor big = Tensor::empty(Shape{400}, float32, runtime().cpu());  // same kind of call, wrong extent
  CHECK_THROWS_WITH_AS(launch("core.add", 1, {a, a}, {big}), doctest::Contains("inputs must have the output's shape"),
                       Error);
}

TEST_CASE("launch: an op name passed from a reused buffer is read anew each time") {
  // A std::string's buffer keeps its address when it is assigned another short name: the
  // runtime must not answer by address alone (it once ran core.neg for core.abs here).
  catena::Tensor x = catena::Tensor::from_vector(std::vector<float>{-2, 3}, catena::Shape{2});
  catena::Tensor y = catena::Tensor::empty(catena::Shape{2}, catena::float32);
  std::string name = "core.neg";
  const char* address = name.c_str();
  catena::launch(name.c_str(), 1, {x}, {y});
  CHECK(y.to_vector<float>() == std::vector<float>{2, -3});
  name = "core.abs";
  REQUIRE(name.c_str() == address);
  catena::launch(name.c_str(), 1, {x}, {y});
  CHECK(y.to_vector<float>() == std::vector<float>{2, 3});
}
