// The CPU's int8 product, by each of its kernels (oneDNN's, the VNNI one, the scalar one),
// against exact integer arithmetic
// over the shapes that reach its edges: K around multiples of 64 (the vector width), M and
// N around its 4 x 4 blocks, the full int8 range (-128 included) and sums that wrap.
#include "../../../backends/cpu/kernels.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

std::vector<int32_t> reference(const std::vector<int8_t>& a, const std::vector<int8_t>& b, int64_t m, int64_t n,
                               int64_t k) {
  std::vector<int32_t> y(size_t(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t p = 0; p < k; ++p) s += int64_t(a[size_t(i * k + p)]) * int64_t(b[size_t(j * k + p)]);
      y[size_t(i * n + j)] = int32_t(uint32_t(uint64_t(s)));  // modulo 2^32
    }
  return y;
}

using catena_cpu::Int8Kernel;
const Int8Kernel kKernels[] = {Int8Kernel::scalar, Int8Kernel::vnni, Int8Kernel::onednn};
const char* name(Int8Kernel k) { return k == Int8Kernel::scalar ? "scalar" : k == Int8Kernel::vnni ? "vnni" : "onednn"; }

}  // namespace

TEST_CASE("the int8 product is exact in 32-bit integers on every kernel") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(-128, 127);
  for (int64_t k : {0, 1, 3, 63, 64, 65, 130, 784})
    for (int64_t m : {1, 3, 4, 5, 9})
      for (int64_t n : {1, 4, 5, 17}) {
        std::vector<int8_t> a(size_t(m * k)), b(size_t(n * k));
        for (auto& v : a) v = int8_t(byte(rng));
        for (auto& v : b) v = int8_t(byte(rng));
        if (k > 0) a[0] = b[0] = -128;
        const std::vector<int32_t> want = reference(a, b, m, n, k);
        for (Int8Kernel kernel : kKernels) {
          std::vector<int32_t> got(size_t(m * n), 12345);
          if (!catena_cpu::gemm_i8_for_tests(kernel, a.data(), b.data(), m, n, k, got.data())) {
            MESSAGE(std::string(name(kernel)) << " cannot run here (no oneDNN, or no AVX-512 VNNI)");
            continue;
          }
          CAPTURE(std::string(name(kernel)));
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(k);
          CHECK(got == want);
        }
      }
}

TEST_CASE("the int8 product wraps modulo 2^32 like the reference") {
  // 140,000 products of -128 · -128 = 16384 sum past 2^31.
  const int64_t k = 140000;
  std::vector<int8_t> a(size_t(k), -128), b(size_t(k), -128);
  const std::vector<int32_t> want = reference(a, b, 1, 1, k);
  CHECK(want[0] < 0);
  for (Int8Kernel kernel : kKernels) {
    int32_t got = 0;
    if (!catena_cpu::gemm_i8_for_tests(kernel, a.data(), b.data(), 1, 1, k, &got)) continue;
    CAPTURE(std::string(name(kernel)));
    CHECK(got == want[0]);
  }
}
