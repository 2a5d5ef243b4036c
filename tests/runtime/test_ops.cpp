// The CPU backend's kernels against reference formulas, over dtypes, broadcasting and
// non-contiguous inputs; inputs stay unmodified; results are reproducible bit for bit.
#include "../support.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using namespace catena;
using catena_test::random_doubles;
using catena_test::random_floats;

namespace {

Device& cpu() { return runtime().cpu(); }

// The elements of a view, computed from its base buffer by strides (no kernels).
template <class T>
std::vector<T> logical(const std::vector<T>& base, const Tensor& view) {
  std::vector<T> out;
  int n = view.ndim();
  std::vector<int64_t> idx(n, 0);
  for (int64_t k = 0; k < view.numel(); ++k) {
    int64_t off = view.offset();
    for (int i = 0; i < n; ++i) off += idx[i] * view.strides()[i];
    out.push_back(base[off]);
    for (int i = n - 1; i >= 0; --i) {
      if (++idx[i] < view.shape()[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double rtol, double atol = 1e-12) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got[i]));
      continue;
    }
    INFO("element " << i << ": got " << got[i] << ", want " << want[i]);
    CHECK(std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i]));
  }
}

std::vector<double> as_doubles(const Tensor& t) { return t.astype(float64).to_vector<double>(); }

struct UnaryCase {
  const char* op;
  std::function<double(double)> ref;
  double lo, hi;
};

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cases = {
      {"core.neg", [](double x) { return -x; }, -3, 3},
      {"core.abs", [](double x) { return std::abs(x); }, -3, 3},
      {"core.square", [](double x) { return x * x; }, -3, 3},
      {"core.relu", [](double x) { return x > 0 ? x : 0; }, -3, 3},
      {"core.sqrt", [](double x) { return std::sqrt(x); }, 0.01, 5},
      {"core.exp", [](double x) { return std::exp(x); }, -3, 3},
      {"core.log", [](double x) { return std::log(x); }, 0.01, 5},
      {"core.sin", [](double x) { return std::sin(x); }, -3, 3},
      {"core.cos", [](double x) { return std::cos(x); }, -3, 3},
      {"core.tanh", [](double x) { return std::tanh(x); }, -3, 3},
      {"core.sigmoid", [](double x) { return 1 / (1 + std::exp(-x)); }, -6, 6},
  };
  return cases;
}

}  // namespace

TEST_CASE("unary ops match their formulas on contiguous and strided float32/float64 inputs") {
  for (const UnaryCase& c : unary_cases()) {
    for (Dtype dt : {float32, float64}) {
      CAPTURE(c.op);
      CAPTURE(dt.name());
      std::vector<double> base = random_doubles(6 * 8, 7, c.lo, c.hi);
      Tensor x = Tensor::from_vector(base, Shape{6, 8}, cpu()).astype(dt);
      std::vector<double> exact = as_doubles(x);  // the values after rounding to dt
      double rtol = dt == float32 ? 2e-6 : 1e-13;
      // contiguous
      std::vector<double> want;
      for (double v : exact) want.push_back(c.ref(v));
      check_close(as_doubles(ops::unary(c.op, x)), want, rtol);
      // transposed and stepped: strides (1, 8) then a step of 2
      Tensor v = x.transpose().slice(0, 1, 8, 2);
      std::vector<double> wv;
      for (double e : logical(exact, v)) wv.push_back(c.ref(e));
      check_close(as_doubles(ops::unary(c.op, v)), wv, rtol);
      CHECK(as_doubles(x) == exact);  // the input is unmodified
    }
  }
}

TEST_CASE("float16 elementwise: stored in 16 bits, computed in float32") {
  std::vector<float> base = random_floats(64, 3, -2, 2);
  Tensor x = Tensor::from_vector(base, Shape{64}, cpu()).astype(float16);
  CHECK(x.dtype().size() == 2);
  std::vector<float> xf = x.astype(float32).to_vector<float>();
  Tensor y = ops::tanh(ops::add(x, x));
  CHECK(y.dtype() == float16);
  std::vector<float> got = y.astype(float32).to_vector<float>();
  for (size_t i = 0; i < got.size(); ++i) {
    float want = static_cast<float>(static_cast<_Float16>(std::tanh(static_cast<float>(static_cast<_Float16>(xf[i] + xf[i])))));
    CHECK(got[i] == want);
  }
}

TEST_CASE("binary ops broadcast like numpy") {
  std::vector<double> a = random_doubles(3 * 1 * 5, 11), b = random_doubles(4 * 5, 12, 0.5, 2);
  Tensor ta = Tensor::from_vector(a, Shape{3, 1, 5}, cpu());
  Tensor tb = Tensor::from_vector(b, Shape{4, 5}, cpu());
  struct Case {
    const char* op;
    std::function<double(double, double)> f;
  } cases[] = {
      {"core.add", [](double x, double y) { return x + y; }},
      {"core.sub", [](double x, double y) { return x - y; }},
      {"core.mul", [](double x, double y) { return x * y; }},
      {"core.div", [](double x, double y) { return x / y; }},
      {"core.maximum", [](double x, double y) { return std::max(x, y); }},
      {"core.minimum", [](double x, double y) { return std::min(x, y); }},
      {"core.pow", [](double x, double y) { return std::pow(std::abs(x), y); }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.op);
    Tensor lhs = std::string(c.op) == "core.pow" ? ops::abs(ta) : ta;
    Tensor y = ops::binary(c.op, lhs, tb);
    REQUIRE(y.shape() == Shape{3, 4, 5});
    std::vector<double> want;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 5; ++k) want.push_back(c.f(a[i * 5 + k], b[j * 5 + k]));
    check_close(y.to_vector<double>(), want, 1e-14);
  }
  CHECK(ta.to_vector<double>() == a);
  CHECK(tb.to_vector<double>() == b);
}

TEST_CASE("binary ops: scalars, integers, strided operands and errors") {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, Shape{2, 2}, cpu());
  Tensor s = Tensor::from_vector(std::vector<float>{10}, Shape{}, cpu());
  CHECK(ops::add(x, s).to_vector<float>() == std::vector<float>{11, 12, 13, 14});
  CHECK(ops::sub(s, x).to_vector<float>() == std::vector<float>{9, 8, 7, 6});
  CHECK(ops::mul(x.transpose(), x).to_vector<float>() == std::vector<float>{1, 6, 6, 16});
  Tensor i = Tensor::from_vector(std::vector<int32_t>{1, -2, 3}, Shape{3}, cpu());
  CHECK(ops::add(i, i).to_vector<int32_t>() == std::vector<int32_t>{2, -4, 6});
  CHECK(ops::maximum(i, ops::neg(i)).to_vector<int32_t>() == std::vector<int32_t>{1, 2, 3});
  CHECK_THROWS_WITH_AS(ops::add(x, i), doctest::Contains("different dtypes (float32 and int32)"), Error);
  Tensor y = Tensor::zeros(Shape{3, 2}, float32, cpu());
  CHECK_THROWS_WITH_AS(ops::add(x, y), doctest::Contains("cannot broadcast shapes (2, 2) and (3, 2)"), Error);
  CHECK_THROWS_WITH_AS(ops::div(i, i), doctest::Contains("floating-point"), Error);
  CHECK_THROWS_WITH_AS(ops::exp(Tensor()), doctest::Contains("undefined"), Error);
}

TEST_CASE("maximum, minimum and relu propagate NaN") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = Tensor::from_vector(std::vector<float>{nan, 1, 2}, Shape{3}, cpu());
  Tensor b = Tensor::from_vector(std::vector<float>{0, nan, 3}, Shape{3}, cpu());
  auto mx = ops::maximum(a, b).to_vector<float>();
  CHECK(std::isnan(mx[0]));
  CHECK(std::isnan(mx[1]));
  CHECK(mx[2] == 3);
  CHECK(std::isnan(ops::relu(a).to_vector<float>()[0]));
}

TEST_CASE("comparisons give bool; where selects") {
  Tensor a = Tensor::from_vector(std::vector<float>{1, 5, 3}, Shape{3}, cpu());
  Tensor b = Tensor::from_vector(std::vector<float>{2, 5, 1}, Shape{3}, cpu());
  Tensor lt = ops::less(a, b);
  CHECK(lt.dtype() == bool_);
  CHECK(lt.astype(uint8).to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 0});
  CHECK(ops::equal(a, b).astype(uint8).to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 0});
  CHECK(ops::compare("core.greater_equal", a, b).astype(uint8).to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 1});
  CHECK(ops::where(ops::greater(a, b), a, b).to_vector<float>() == std::vector<float>{2, 5, 3});
  CHECK_THROWS_WITH_AS(ops::where(a, a, b), doctest::Contains("cond must be bool"), Error);
}

TEST_CASE("copy casts: truncation toward zero, saturation, NaN to 0, bool") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor f = Tensor::from_vector(std::vector<float>{1.9f, -1.9f, 1e20f, -1e20f, nan, 0.f}, Shape{6}, cpu());
  CHECK(f.astype(int32).to_vector<int32_t>() ==
        std::vector<int32_t>{1, -1, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(), 0, 0});
  CHECK(f.astype(uint8).to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 255, 0, 0, 0});
  CHECK(f.astype(bool_).astype(uint8).to_vector<uint8_t>() == std::vector<uint8_t>{1, 1, 1, 1, 1, 0});
  Tensor big = Tensor::from_vector(std::vector<int64_t>{(1LL << 53) + 1}, Shape{1}, cpu());
  CHECK(big.astype(int64).to_vector<int64_t>()[0] == (1LL << 53) + 1);
  CHECK(f.astype(bfloat16).astype(float32).to_vector<float>()[0] == 1.8984375f);  // round to nearest even
  // A broadcasting, transposing copy into a strided destination.
  Tensor dst = Tensor::zeros(Shape{3, 4}, float64, cpu());
  Tensor row = Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{3, 1}, cpu());
  ops::copy(dst.slice(1, 0, 4, 2), row);
  CHECK(dst.to_vector<double>() == std::vector<double>{1, 0, 1, 0, 2, 0, 2, 0, 3, 0, 3, 0});
}

TEST_CASE("reductions over any axes, keepdims, strided inputs") {
  std::vector<double> v = random_doubles(2 * 3 * 4, 21);
  Tensor x = Tensor::from_vector(v, Shape{2, 3, 4}, cpu());
  auto at = [&](int i, int j, int k) { return v[(i * 3 + j) * 4 + k]; };
  // sum over axis 1
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) want.push_back(at(i, 0, k) + at(i, 1, k) + at(i, 2, k));
  Tensor s1 = ops::sum(x, {1});
  CHECK(s1.shape() == Shape{2, 4});
  check_close(s1.to_vector<double>(), want, 1e-14);
  CHECK(ops::sum(x, {1}, true).shape() == Shape{2, 1, 4});
  // sum over (0, 2) and over a negative axis
  std::vector<double> w02(3, 0.0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) w02[j] += at(i, j, k);
  check_close(ops::sum(x, {0, -1}).to_vector<double>(), w02, 1e-14);
  // everything
  double total = 0, mx = -1e9, mn = 1e9;
  for (double e : v) total += e, mx = std::max(mx, e), mn = std::min(mn, e);
  check_close(ops::sum(x).to_vector<double>(), {total}, 1e-14);
  check_close(ops::mean(x).to_vector<double>(), {total / 24}, 1e-14);
  CHECK(ops::max(x).to_vector<double>()[0] == mx);
  CHECK(ops::min(x).to_vector<double>()[0] == mn);
  // on a transposed view
  Tensor xt = x.transpose({2, 0, 1});
  std::vector<double> wt;
  for (int k = 0; k < 4; ++k) {
    double m = -1e9;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) m = std::max(m, at(i, j, k));
    wt.push_back(m);
  }
  CHECK(ops::max(xt, {1, 2}).to_vector<double>() == wt);
  CHECK(x.to_vector<double>() == v);
  CHECK_THROWS_WITH_AS(ops::sum(x, {3}), doctest::Contains("axis 3 is out of range"), Error);
  CHECK_THROWS_WITH_AS(ops::sum(x, {1, 1}), doctest::Contains("repeated"), Error);
}

TEST_CASE("reductions: integers, NaN, empty axes, argmax ties") {
  Tensor i = Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4}, Shape{2, 2}, cpu());
  CHECK(ops::sum(i, {0}).to_vector<int32_t>() == std::vector<int32_t>{4, 6});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor f = Tensor::from_vector(std::vector<float>{1, nan, 3}, Shape{3}, cpu());
  CHECK(std::isnan(ops::max(f).to_vector<float>()[0]));
  CHECK(ops::argmax(f, 0).to_vector<int64_t>()[0] == 1);
  Tensor e = Tensor::zeros(Shape{0, 3}, float32, cpu());
  CHECK(ops::sum(e, {0}).to_vector<float>() == std::vector<float>{0, 0, 0});
  CHECK_THROWS_WITH_AS(ops::max(e, {0}), doctest::Contains("empty axis"), Error);
  Tensor t = Tensor::from_vector(std::vector<float>{3, 7, 7, 1, 0, 0}, Shape{2, 3}, cpu());
  CHECK(ops::argmax(t, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0});  // the first of tied maxima
  CHECK(ops::argmax(t, 0, true).shape() == Shape{1, 3});
}

TEST_CASE("large reductions are accurate and reproducible bit for bit") {
  const int64_t n = 1 << 20;
  std::vector<float> v = random_floats(n, 5, 0, 1);
  Tensor x = Tensor::from_vector(v, Shape{n}, cpu());
  double want = 0;
  for (float e : v) want += e;
  float a = ops::sum(x).to_vector<float>()[0];
  float b = ops::sum(x).to_vector<float>()[0];
  CHECK(std::memcmp(&a, &b, sizeof a) == 0);
  CHECK(a == doctest::Approx(want).epsilon(1e-6));
  Tensor m = x.reshape(Shape{1024, 1024});
  CHECK(ops::sum(m, {0}).to_vector<float>() == ops::sum(m, {0}).to_vector<float>());
}

namespace {

std::vector<double> naive_gemm(const std::vector<double>& a, const std::vector<double>& b, int m, int k, int n,
                               bool ta, bool tb) {
  std::vector<double> y(m * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < k; ++p) y[i * n + j] += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
  return y;
}

}  // namespace

TEST_CASE("gemm: every transpose combination, float32 and float64") {
  const int m = 37, k = 19, n = 23;
  std::vector<double> a = random_doubles(m * k, 1), b = random_doubles(k * n, 2);
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (Dtype dt : {float32, float64}) {
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(dt.name());
        Tensor A = Tensor::from_vector(a, ta ? Shape{k, m} : Shape{m, k}, cpu()).astype(dt);
        Tensor B = Tensor::from_vector(b, tb ? Shape{n, k} : Shape{k, n}, cpu()).astype(dt);
        std::vector<double> want = naive_gemm(as_doubles(A), as_doubles(B), m, k, n, ta, tb);
        Tensor Y = ops::gemm(A, B, ta, tb, 1.0);
        CHECK(Y.shape() == Shape{m, n});
        check_close(as_doubles(Y), want, dt == float32 ? 1e-5 : 1e-12, dt == float32 ? 1e-5 : 1e-12);
      }
}

TEST_CASE("gemm: alpha, beta with a broadcast bias, strided operands, batches") {
  const int m = 8, k = 5, n = 6;
  std::vector<double> a = random_doubles(m * k * 2, 3), b = random_doubles(k * n, 4), c = random_doubles(n, 5);
  Tensor A2 = Tensor::from_vector(a, Shape{m, 2 * k}, cpu()).slice(1, 0, 2 * k, 2);  // column step 2
  Tensor B = Tensor::from_vector(b, Shape{k, n}, cpu());
  Tensor C = Tensor::from_vector(c, Shape{n}, cpu());
  std::vector<double> av = logical(a, A2);
  std::vector<double> want = naive_gemm(av, b, m, k, n, false, false);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) want[i * n + j] = 0.5 * want[i * n + j] + 2.0 * c[j];
  check_close(ops::gemm(A2, B, C, false, false, 0.5, 2.0).to_vector<double>(), want, 1e-12, 1e-12);

  // batched, with the right operand shared across the batch
  std::vector<double> ab = random_doubles(3 * m * k, 6);
  Tensor A3 = Tensor::from_vector(ab, Shape{3, m, k}, cpu());
  Tensor Y3 = ops::gemm(A3, B.expand_dims(0), false, false, 1.0);
  CHECK(Y3.shape() == Shape{3, m, n});
  std::vector<double> y3 = Y3.to_vector<double>();
  for (int bi = 0; bi < 3; ++bi) {
    std::vector<double> ai(ab.begin() + bi * m * k, ab.begin() + (bi + 1) * m * k);
    std::vector<double> w = naive_gemm(ai, b, m, k, n, false, false);
    check_close(std::vector<double>(y3.begin() + bi * m * n, y3.begin() + (bi + 1) * m * n), w, 1e-12, 1e-12);
  }
  CHECK_THROWS_WITH_AS(ops::gemm(B, B), doctest::Contains("has 6 columns but b (5, 6) has 5 rows"), Error);
}

TEST_CASE("gemm: products split over the threads (wide, tall, one row) match a reference") {
  // Large enough that the CPU backend splits them over its pool: along the columns when
  // the product is wide, along the rows when it is tall, and one-row products (GEMV) along
  // their outputs; the sizes are not multiples of the split's block. A one-row product over
  // a matrix of more than 1 MB (tb) walks each thread's rows in the opposite direction on
  // the next call with the same matrix: the second run below is that walk.
  struct Case {
    int m, k, n;
  };
  for (Case cs : {Case{37, 300, 1007}, Case{1005, 300, 40}, Case{1, 200, 3001}, Case{1, 333, 2049}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (Dtype dt : {float32, float64}) {
          const int m = cs.m, k = cs.k, n = cs.n;
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(dt.name());
          // C is a bias broadcast over the rows, or (with tb) a dense matrix of its own.
          const bool dense_c = tb;
          std::vector<double> a = random_doubles(m * k, 31), b = random_doubles(k * n, 32);
          std::vector<double> c = random_doubles(dense_c ? m * n : n, 33);
          Tensor A = Tensor::from_vector(a, ta ? Shape{k, m} : Shape{m, k}, cpu()).astype(dt);
          Tensor B = Tensor::from_vector(b, tb ? Shape{n, k} : Shape{k, n}, cpu()).astype(dt);
          Tensor C = Tensor::from_vector(c, dense_c ? Shape{m, n} : Shape{n}, cpu()).astype(dt);
          std::vector<double> want = naive_gemm(as_doubles(A), as_doubles(B), m, k, n, ta, tb);
          std::vector<double> cd = as_doubles(C);
          for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) want[i * n + j] = 0.5 * want[i * n + j] + 2.0 * cd[dense_c ? i * n + j : j];
          const double tol = dt == float32 ? 2e-4 : 1e-11;
          Tensor Y = ops::gemm(A, B, C, ta, tb, 0.5, 2.0);
          REQUIRE(Y.shape() == Shape{m, n});
          check_close(as_doubles(Y), want, tol, tol);
          // The same bits on a second run: the split depends only on the shape.
          CHECK(as_doubles(ops::gemm(A, B, C, ta, tb, 0.5, 2.0)) == as_doubles(Y));
        }
}

TEST_CASE("gemm: float16, bfloat16 and int32") {
  const int m = 4, k = 3, n = 2;
  std::vector<double> a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, b = {1, -1, 2, -2, 0.5, 0.25};
  std::vector<double> want = naive_gemm(a, b, m, k, n, false, false);
  for (Dtype dt : {float16, bfloat16}) {
    Tensor A = Tensor::from_vector(a, Shape{m, k}, cpu()).astype(dt);
    Tensor B = Tensor::from_vector(b, Shape{k, n}, cpu()).astype(dt);
    Tensor Y = ops::gemm(A, B);
    CHECK(Y.dtype() == dt);
    check_close(as_doubles(Y), want, 1e-2);
  }
  Tensor Ai = Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4}, Shape{2, 2}, cpu());
  CHECK(ops::matmul(Ai, Ai).to_vector<int32_t>() == std::vector<int32_t>{7, 10, 15, 22});
}

TEST_CASE("gemm and large elementwise ops give the same bits on every run") {
  std::vector<float> a = random_floats(300 * 200, 8), b = random_floats(200 * 100, 9);
  Tensor A = Tensor::from_vector(a, Shape{300, 200}, cpu());
  Tensor B = Tensor::from_vector(b, Shape{200, 100}, cpu());
  std::vector<float> y1 = ops::gemm(A, B).to_vector<float>();
  std::vector<float> y2 = ops::gemm(A, B).to_vector<float>();
  CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)) == 0);
  // Big enough to be split across threads.
  Tensor big = Tensor::from_vector(random_floats(1 << 18, 10), Shape{512, 512}, cpu());
  std::vector<float> e1 = ops::exp(big.transpose()).to_vector<float>();
  std::vector<float> src = big.to_vector<float>();
  for (int i = 0; i < 512; i += 37)
    for (int j = 0; j < 512; j += 41) CHECK(e1[i * 512 + j] == std::exp(src[j * 512 + i]));
}

TEST_CASE("parallel kernels launched from several threads, back to back and after idle pauses, are exact") {
  // The CPU backend's workers spin between kernels and then sleep: launches right after
  // one another meet spinning workers, launches after a pause wake sleeping ones, and
  // launches from several application threads take turns on the pool.
  Tensor x = Tensor::from_vector(random_floats(1 << 18, 41), Shape{512, 512}, cpu());
  std::vector<float> src = x.to_vector<float>();
  Tensor A = Tensor::from_vector(random_floats(64 * 256, 42), Shape{64, 256}, cpu());
  Tensor B = Tensor::from_vector(random_floats(256 * 512, 43), Shape{256, 512}, cpu());
  const std::vector<float> product = ops::gemm(A, B).to_vector<float>();
  std::atomic<int> wrong{0};
  auto work = [&](int id) {
    for (int it = 0; it < 40; ++it) {
      if ((it + id) % 8 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the workers sleep
      std::vector<float> y = ops::neg(x).to_vector<float>();
      for (size_t i = 0; i < y.size(); i += 97)
        if (y[i] != -src[i]) ++wrong;
      if (ops::gemm(A, B).to_vector<float>() != product) ++wrong;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(work, t);
  work(4);
  for (std::thread& t : threads) t.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("a child process forked after parallel kernels ran can run them too") {
  // The CPU backend's pool threads do not exist in a forked child: it must make new ones
  // rather than wait for workers that will never come.
  Tensor x = Tensor::from_vector(random_floats(1 << 18, 44), Shape{512, 512}, cpu());
  std::vector<float> src = x.to_vector<float>();
  REQUIRE(ops::neg(x).to_vector<float>()[7] == -src[7]);  // the pool is running
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(60);  // a hang ends the child with SIGALRM
    std::vector<float> y = ops::neg(x).to_vector<float>();
    bool ok = true;
    for (size_t i = 0; i < y.size(); i += 101) ok = ok && y[i] == -src[i];
    Tensor A = Tensor::from_vector(random_floats(64 * 256, 45), Shape{64, 256}, cpu());
    Tensor B = Tensor::from_vector(random_floats(256 * 512, 46), Shape{256, 512}, cpu());
    ok = ok && ops::gemm(A, B).shape() == Shape{64, 512};
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO("child status " << status);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("reductions: the dense fast paths agree with the general strided one") {
  // Sum over leading axes (bias gradients): the same order, so the same bits.
  Tensor wide = catena_test::input(Shape{50, 100}, float32, 21);  // a strided view
  Tensor dense = wide.contiguous();
  CHECK(ops::sum(dense, {0}).to_vector<float>() == ops::sum(wide, {0}).to_vector<float>());
  CHECK(ops::mean(dense, {0}).to_vector<float>() == ops::mean(wide, {0}).to_vector<float>());
  // Sums of contiguous runs (conv bias gradients) add in lanes: equal to rounding.
  Tensor w4 = catena_test::input(Shape{6, 5, 7, 9}, float32, 22);
  std::vector<float> a = ops::sum(w4.contiguous(), {0, 2, 3}).to_vector<float>();
  std::vector<float> b = ops::sum(w4, {0, 2, 3}).to_vector<float>();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-6));
}
