// The CUDA backend's host side, without a GPU: the caching allocator's bookkeeping on fake
// memory, the driver check's messages, the elementwise semantics (float16 and bfloat16
// against the compiler's own types, copy's conversions), and the op planning.
#include "../../../backends/cuda/allocator.hpp"
#include "../../../backends/cuda/driver.hpp"
#include "../../../backends/cuda/plan.hpp"

#include <catena/ops.hpp>
#include <catena/runtime.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace catena_cuda;

namespace {

// Fake device memory: addresses from a counter, a budget of bytes, and markers that are
// done only when the test says the stream has caught up.
class FakeMemory : public Memory {
 public:
  explicit FakeMemory(uint64_t budget) : budget(budget) {}
  void* allocate(uint64_t bytes) override {
    if (used + bytes > budget) return nullptr;
    used += bytes;
    ++allocations;
    void* p = reinterpret_cast<void*>(next += 1 << 20);
    sizes[p] = bytes;
    return p;
  }
  void release(void* p) override {
    used -= sizes.at(p);
    sizes.erase(p);
  }
  void* mark(void* stream) override {
    auto* m = new Marker{stream, ++enqueued[stream]};
    live.insert(m);
    return m;
  }
  bool done(void* marker) override {
    auto* m = static_cast<Marker*>(marker);
    return m->position <= completed[m->stream];
  }
  void wait(void* marker) override {
    auto* m = static_cast<Marker*>(marker);
    completed[m->stream] = std::max(completed[m->stream], m->position);
  }
  void forget(void* marker) override {
    live.erase(static_cast<Marker*>(marker));
    delete static_cast<Marker*>(marker);
  }
  void catch_up(void* stream) { completed[stream] = enqueued[stream]; }

  struct Marker {
    void* stream;
    uint64_t position;
  };
  uint64_t budget, used = 0, allocations = 0;
  uintptr_t next = 0;
  std::map<void*, uint64_t> sizes, enqueued, completed;
  std::set<Marker*> live;
};

void* const S1 = reinterpret_cast<void*>(0x1);
void* const S2 = reinterpret_cast<void*>(0x2);

}  // namespace

TEST_CASE("cuda allocator: a block freed on a stream is reused on it at once, elsewhere only when its work is done") {
  FakeMemory mem(64 << 20);
  CachingAllocator a(mem);
  Block* b = a.allocate(1000, S1);
  REQUIRE(b);
  CHECK(b->size == 1024);  // 512-byte steps
  void* p = b->ptr;
  a.free(b, S1);
  CHECK(a.stats().cached == 1024);
  // Same stream: reused although the stream has not caught up; the marker is handed over.
  void* pending = nullptr;
  Block* again = a.allocate(900, S1, &pending);
  CHECK(again->ptr == p);
  CHECK(pending != nullptr);
  mem.forget(pending);
  a.free(again, S1);
  // Another stream: not while S1's work may still run; then yes.
  Block* other = a.allocate(1000, S2);
  CHECK(other->ptr != p);
  CHECK(mem.allocations == 2);
  mem.catch_up(S1);
  Block* later = a.allocate(1000, S2);
  CHECK(later->ptr == p);
  CHECK(a.stats().reuses == 2);
  a.free(other, S2);
  a.free(later, S2);
  a.release_cached();
  CHECK(mem.used == 0);
  CHECK(mem.live.empty());
}

TEST_CASE("cuda allocator: sizes are rounded, small requests do not take much larger blocks") {
  CHECK(CachingAllocator::round(0) == 0);
  CHECK(CachingAllocator::round(1) == 512);
  CHECK(CachingAllocator::round(512) == 512);
  CHECK(CachingAllocator::round(513) == 1024);
  CHECK(CachingAllocator::round((1 << 20) + 1) == (1 << 20) + (128 << 10));
  FakeMemory mem(64 << 20);
  CachingAllocator a(mem);
  Block* big = a.allocate(8 << 20, S1);
  a.free(big, S1);
  Block* small = a.allocate(512, S1);  // would waste the 8 MiB block: a new one
  CHECK(small->ptr != big->ptr);
  Block* zero = a.allocate(0, S1);
  CHECK(zero->ptr == nullptr);
  a.free(zero, S1);
  a.free(small, S1);
}

TEST_CASE("cuda allocator: under pressure the cache goes back to the device and the allocation is tried again") {
  FakeMemory mem(4 << 20);
  CachingAllocator a(mem);
  Block* x = a.allocate(3 << 20, S1);
  a.free(x, S1);  // cached: 3 MiB of the 4 the device has
  Block* y = a.allocate(2 << 20, S2);
  REQUIRE(y);     // only after the cached block was released (waiting for its work)
  CHECK(a.stats().releases == 1);
  CHECK(a.allocate(3 << 20, S2) == nullptr);  // really out of memory: null, no crash
  a.free(y, S2);
}

TEST_CASE("cuda allocator: the cache is held under its limit, oldest blocks first") {
  FakeMemory mem(64 << 20);
  CachingAllocator a(mem, 2 << 20);
  Block* x = a.allocate(1 << 20, S1);
  Block* y = a.allocate(1 << 20, S1);
  Block* z = a.allocate(1 << 20, S1);
  void* first = x->ptr;
  a.free(x, S1);
  a.free(y, S1);
  a.free(z, S1);
  CHECK(a.stats().cached == 2 << 20);
  CHECK(mem.sizes.count(first) == 0);  // the oldest went back
}

TEST_CASE("cuda driver check: a missing driver and an old one are named, with what to do") {
  const DriverCheck none = check_driver(13000, "libcatena-no-such-driver.so.1");
  CHECK(!none.ok);
  CHECK(none.message.find("no NVIDIA driver (libcatena-no-such-driver.so.1 not found)") != std::string::npos);
  CHECK(none.message.find("install the NVIDIA driver") != std::string::npos);
  const char* fake = std::getenv("CATENA_TEST_FAKE_DRIVER");
  REQUIRE(fake);
  setenv("CATENA_TEST_DRIVER_VERSION", "12040", 1);
  const DriverCheck old = check_driver(13000, fake);
  CHECK(!old.ok);
  CHECK(old.driver_version == 12040);
  CHECK(old.message.find("supports CUDA 12.4") != std::string::npos);
  CHECK(old.message.find("needs a driver for CUDA 13.0 or newer") != std::string::npos);
  setenv("CATENA_TEST_DRIVER_VERSION", "13010", 1);
  CHECK(check_driver(13000, fake).ok);
  unsetenv("CATENA_TEST_DRIVER_VERSION");
  CHECK(cuda_version_string(13000) == "13.0");
}

TEST_CASE("cuda kernels' float16 and bfloat16 conversions round as the compiler's (nearest even)") {
  for (uint32_t h = 0; h < 65536; ++h) {
    _Float16 v;
    const uint16_t bits = uint16_t(h);
    std::memcpy(&v, &bits, 2);
    const float want = float(v), got = f16_to_float(bits);
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
    } else if (float_bits(got) != float_bits(want)) {
      FAIL_CHECK("half " << h << ": " << got << " instead of " << want);
    }
  }
  // float -> half over every exponent, both signs, halfway cases and their neighbours.
  int bad = 0;
  for (uint32_t e = 0; e < 256; ++e)
    for (uint32_t m : {0u, 1u, 0xfffu, 0x1000u, 0x1001u, 0x2000u, 0x3000u, 0x7fffffu, 0x400000u, 0x401000u})
      for (uint32_t sign : {0u, 0x80000000u}) {
        const float f = bits_float(sign | (e << 23) | m);
        const _Float16 want = _Float16(f);
        uint16_t wb;
        std::memcpy(&wb, &want, 2);
        const uint16_t got = float_to_f16(f);
        if (std::isnan(f) ? (got & 0x7c00u) != 0x7c00u || (got & 0x3ffu) == 0 : got != wb) ++bad;
      }
  CHECK(bad == 0);
  CHECK(float_to_bf16(1.0f) == 0x3f80);
  CHECK(float_to_bf16(bits_float(0x3f808000u)) == 0x3f80);  // a tie rounds to even
  CHECK(float_to_bf16(bits_float(0x3f818000u)) == 0x3f82);
  CHECK(bf16_to_float(0x3f80) == 1.0f);
}

TEST_CASE("cuda kernels' copy conversions follow api/OPS.md") {
  auto convert = [](double v, Ty to) {
    const Scalar s{true, v, 0};
    int64_t out = 0;
    store_scalar(&out, to, s);
    return out;
  };
  CHECK(int8_t(convert(300.7, Ty::i8)) == 127);  // saturated
  CHECK(int8_t(convert(-1e9, Ty::i8)) == -128);
  CHECK(int32_t(convert(-2.9, Ty::i32)) == -2);  // toward zero
  CHECK(int32_t(convert(NAN, Ty::i32)) == 0);
  CHECK(uint8_t(convert(-5, Ty::u8)) == 0);
  CHECK(uint8_t(convert(NAN, Ty::boolean)) == 1);
  CHECK(uint8_t(convert(0.0, Ty::boolean)) == 0);
  int8_t narrow = 0;
  store_scalar(&narrow, Ty::i8, Scalar{false, 0, 300});  // int -> int wraps
  CHECK(narrow == 44);
  // double -> float16 rounds once (not through float32 first).
  const double just_above_tie = 1.0 + 1.0 / 2048 + 1e-12;  // 1 + half an ulp of float16, a hair more
  uint16_t h = 0;
  store_scalar(&h, Ty::f16, Scalar{true, just_above_tie, 0});
  CHECK(h == 0x3c01);
}

TEST_CASE("cuda kernels' integer ops wrap") {
  CHECK(wrap_unary<int8_t>(Unary::neg, -128) == -128);
  CHECK(wrap_unary<int32_t>(Unary::abs, -5) == 5);
  CHECK(wrap_unary<uint8_t>(Unary::relu, 200) == 200);
  CHECK(wrap_binary<int32_t>(Binary::add, 2147483647, 1) == -2147483647 - 1);
  CHECK(wrap_binary<int64_t>(Binary::mul, int64_t(1) << 62, 4) == 0);
  CHECK(std::isnan(apply_binary<float>(Binary::maximum, NAN, 1.0f)));
  CHECK(apply_unary<float>(Unary::sigmoid, 0.0f) == 0.5f);
}

TEST_CASE("cuda op planning merges dimensions where every operand allows") {
  int64_t shape[3] = {2, 3, 4}, dense[3] = {12, 4, 1}, sliced[3] = {24, 4, 1};
  ct_tensor a{}, b{};
  a.dl.ndim = b.dl.ndim = 3;
  a.dl.shape = b.dl.shape = shape;
  a.dl.strides = dense;
  b.dl.strides = sliced;
  a.dl.dtype = b.dl.dtype = ct_dtype{CT_DTYPE_FLOAT, 32, 1};
  const ct_tensor* both[2] = {&a, &b};
  Space s;
  Operand ops[2];
  REQUIRE(plan_space(both, 2, s, ops));
  CHECK(s.count == 24);
  REQUIRE(s.ndim == 2);  // (3, 4) merge in both; the batch does not in b
  CHECK(s.shape[0] == 2);
  CHECK(s.shape[1] == 12);
  CHECK(ops[1].strides[0] == 24);
  const ct_tensor* one[1] = {&a};
  REQUIRE(plan_space(one, 1, s, ops));
  CHECK(s.ndim == 1);
  CHECK(s.shape[0] == 24);
  CHECK(ops[0].ty == Ty::f32);
}

TEST_CASE("cuda GEMM operands: row-major, column-major (a transposed view), or copied first") {
  MatrixLayout r = matrix_layout(3, 4, 4, 1);
  CHECK((r.usable && !r.col_major && r.ld == 4));
  MatrixLayout c = matrix_layout(3, 4, 1, 3);
  CHECK((c.usable && c.col_major && c.ld == 3));
  CHECK(!matrix_layout(3, 4, 8, 2).usable);  // every other column: copied
  CHECK(!matrix_layout(3, 4, 0, 1).usable);  // broadcast rows: copied
  MatrixLayout row = matrix_layout(1, 5, 0, 1);
  CHECK((row.usable && row.ld == 5));
}

TEST_CASE("cuda reduction planning: kept and reduced dimensions, extents of 1 dropped") {
  // x (2, 1, 3, 4) summed over axes 1 and 3 into y (2, 1, 3, 1).
  int64_t xs[4] = {2, 1, 3, 4}, xst[4] = {12, 12, 4, 1}, ys[4] = {2, 1, 3, 1}, yst[4] = {3, 3, 1, 1};
  ct_tensor x{}, y{};
  x.dl.ndim = y.dl.ndim = 4;
  x.dl.shape = xs, x.dl.strides = xst, y.dl.shape = ys, y.dl.strides = yst;
  x.dl.dtype = y.dl.dtype = ct_dtype{CT_DTYPE_FLOAT, 32, 1};
  const bool reduced[4] = {false, true, false, true};
  ReduceSpace r;
  REQUIRE(plan_reduce(&x, &y, reduced, r));
  CHECK(r.outputs == 6);
  CHECK(r.per_output == 4);
  REQUIRE(r.kept_ndim == 2);
  CHECK(r.kept_shape[0] == 2);
  CHECK(r.x_kept_strides[0] == 12);
  CHECK(r.y_kept_strides[0] == 3);
  REQUIRE(r.red_ndim == 1);
  CHECK(r.red_shape[0] == 4);
  CHECK(r.x_red_strides[0] == 1);
  // An empty reduced extent: nothing per output (sum 0, mean NaN).
  int64_t es[4] = {2, 0, 3, 4};
  x.dl.shape = es;
  REQUIRE(plan_reduce(&x, &y, reduced, r));
  CHECK(r.per_output == 0);
  CHECK(r.outputs == 6);
}

TEST_CASE("cuda optimizer updates follow api/OPS.md") {
  Hyper<double> h{};
  h.lr = 0.1, h.mu = 0.9, h.eps = 1e-8, h.eta = 1, h.b1 = 1 - 0.9, h.b2 = 1 - 0.999;
  double p = 1, s0 = 0, s1 = 0, s2 = 0;
  update_element(Update::sgd, h, 2.0, p, s0, s1, s2);
  CHECK(p == doctest::Approx(0.8));
  p = 1, s0 = 0.5;
  update_element(Update::momentum_sgd, h, 2.0, p, s0, s1, s2);
  CHECK(s0 == doctest::Approx(0.5 * 0.9 - 0.2));
  CHECK(p == doctest::Approx(1 + 0.5 * 0.9 - 0.2));
  // Adam's first step from zero state: m = 0.1 g, v = 0.001 g², p -= lr m / (√v + eps).
  h.lr = 0.001;
  p = 1, s0 = 0, s1 = 0;
  update_element(Update::adam, h, 1.0, p, s0, s1, s2);
  CHECK(s0 == doctest::Approx(0.1));
  CHECK(s1 == doctest::Approx(0.001));
  CHECK(p == doctest::Approx(1 - 0.001 * 0.1 / (std::sqrt(0.001) + 1e-8)));
  // AMSGrad keeps the largest v; a NaN wins.
  h.amsgrad = true;
  p = 1, s0 = 0, s1 = 0, s2 = 5;
  update_element(Update::adam, h, 1.0, p, s0, s1, s2);
  CHECK(s2 == 5);
  s1 = NAN;
  update_element(Update::adam, h, 1.0, p, s0, s1, s2);
  CHECK(std::isnan(s2));
}

TEST_CASE("cuda random numbers: the cpu backend's, bit for bit (uniform) and to its last bits (normal)") {
  catena::Device& cpu = catena::runtime().cpu();
  const int64_t n = 1001;
  const uint64_t seed = 0x1234567890abcdefull, offset = 77;
  const std::vector<double> u =
      catena::ops::random_uniform(catena::Shape{n}, catena::float64, cpu, seed, offset, -2, 3).to_vector<double>();
  const std::vector<double> g =
      catena::ops::random_normal(catena::Shape{n}, catena::float64, cpu, seed, offset, 1, 0.5).to_vector<double>();
  int64_t same = 0, close = 0;
  for (int64_t i = 0; i < n; ++i) {
    same += random_value(false, seed, offset, i, -2, 3) == u[size_t(i)];
    close += std::fabs(random_value(true, seed, offset, i, 1, 0.5) - g[size_t(i)]) <= 1e-12;
  }
  CHECK(same == n);
  CHECK(close == n);
}
