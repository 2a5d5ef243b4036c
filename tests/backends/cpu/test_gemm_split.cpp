// Products the CPU backend splits over its threads with parts sized by each thread's
// measured speed: the seam between the parts moves from call to call, and the bits of
// the result must not (gemm.cpp balances only where its probe found OpenBLAS
// bit-identical across seams).
#include "../../support.hpp"

#include "../../../backends/cpu/kernels.hpp"
#include "../../../backends/cpu/openblas.hpp"
#include "../../../backends/cpu/threadpool.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <vector>

using catena_cpu::dense_gemm;
using catena_cpu::set_thread_speeds;
using catena_cpu::thread_speeds;

namespace {

template <class T>
std::vector<T> random_values(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> v(n);
  for (T& x : v) x = T(u(rng));
  return v;
}

}  // namespace

TEST_CASE_TEMPLATE("split products give the same bits wherever the threads' parts meet", T, float, double) {
  if (catena_cpu::num_threads() < 2) {
    MESSAGE("one thread: products are not split");
    return;
  }
  struct Case {
    bool ta, tb;
    int m, k, n;
    T alpha, beta;
    bool large;  // every part is large enough to be balanced
  };
  // The MLP's products at batch 100 (forward with its bias, weight and input gradients),
  // a tall one split along its rows, one with alpha and beta not 1, and one whose parts
  // would be small enough for OpenBLAS's other kernels (small-matrix, direct), which
  // round differently: it must keep a fixed split.
  const Case cases[] = {{false, true, 100, 784, 1000, T(1), T(1), true},   {true, false, 1000, 100, 784, T(1), T(0), true},
                        {false, false, 100, 1000, 1000, T(1), T(0), true}, {false, true, 2000, 300, 64, T(1), T(0), true},
                        {true, true, 96, 700, 1013, T(0.5), T(2), true},   {false, false, 2048, 64, 64, T(1), T(0), false},
                        {false, false, 1005, 300, 40, T(1), T(0), false}};
  for (const Case& c : cases) {
    CAPTURE(c.ta);
    CAPTURE(c.tb);
    CAPTURE(c.m);
    CAPTURE(c.n);
    const bool balanced = catena_cpu::gemm_split_invariant(sizeof(T) == 8, c.ta, c.tb);
    const std::vector<T> a = random_values<T>(size_t(c.m) * c.k, 1), b = random_values<T>(size_t(c.k) * c.n, 2);
    const std::vector<T> c0 = random_values<T>(size_t(c.m) * c.n, 3);
    const int64_t lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.n;
    auto product = [&] {
      std::vector<T> y = c0;
      dense_gemm<T>(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a.data(), lda, b.data(), ldb, c.beta, y.data(), c.n);
      return y;
    };
    // The whole product in one call: inside a parallel region products run inline.
    std::vector<T> whole;
    catena_cpu::parallel_for(2, 1, [&](int64_t first, int64_t) {
      if (first == 0) whole = product();
    });
    const bool two_threads = catena_cpu::num_threads() == 2;
    std::vector<T> even;  // the product with even speeds
    for (const std::vector<double>& speeds : {std::vector<double>{1, 1}, std::vector<double>{0.3, 1},
                                              std::vector<double>{1, 0.3}, std::vector<double>{1, 0.7}}) {
      CAPTURE(speeds[0]);
      CAPTURE(speeds[1]);
      set_thread_speeds(speeds);
      const std::vector<T> y = product();
      if (even.empty()) even = y;
      // With two threads (these machines) and a kernel the probe found split-invariant
      // (the AVX-512 ones), every case's parts are large enough for OpenBLAS's main
      // kernels, so each gives the whole product's bits. Other kernels (Haswell's, e.g.
      // with OPENBLAS_CORETYPE=Haswell) round a part differently from the whole, and with
      // more threads a fixed split's parts may fall under the small-matrix sizes: such a
      // product must give the same bits for every speed, not the whole product's.
      const std::vector<T>& ref = two_threads && balanced ? whole : even;
      CHECK(std::memcmp(y.data(), ref.data(), y.size() * sizeof(T)) == 0);
      // A balanced call measures its parts and moves the estimates; a fixed split does not.
      // (`large` is for two threads: with more, parts get smaller.)
      if (balanced && c.large && speeds[0] != speeds[1] && two_threads)
        CHECK(thread_speeds()[0] != speeds[0]);
      if (!c.large) CHECK(thread_speeds()[0] == speeds[0]);
    }
  }
  set_thread_speeds({});
}

TEST_CASE_TEMPLATE("batch-1 products over large matrices: a thread done early takes the others' rows, same bits",
                   T, float, double) {
  if (catena_cpu::num_threads() < 2 || !catena_cpu::gemv_sweep_split_invariant(sizeof(T) == 8)) {
    MESSAGE("one thread, or this OpenBLAS's matrix-vector products are not split this way");
    return;
  }
  // y = x W^T + bias-like C for a Linear layer at batch 1 (W: n x k, 1 MB or more), with
  // beta != 0: a row computed twice, or not at all, changes the result.
  struct Case {
    int64_t n, k;
    T alpha, beta;
  };
  for (const Case& c : {Case{2000, 1000, T(1), T(1)}, Case{1003, 777, T(0.5), T(2)}, Case{4096, 300, T(1), T(0)}}) {
    CAPTURE(c.n);
    CAPTURE(c.k);
    const std::vector<T> x = random_values<T>(size_t(c.k), 4), w = random_values<T>(size_t(c.n * c.k), 5);
    const std::vector<T> c0 = random_values<T>(size_t(c.n), 6);
    auto product = [&] {
      std::vector<T> y = c0;
      dense_gemm<T>(false, true, 1, c.n, c.k, c.alpha, x.data(), c.k, w.data(), c.k, c.beta, y.data(), c.n);
      return y;
    };
    std::vector<T> whole;  // one thread, inline
    catena_cpu::parallel_for(2, 1, [&](int64_t first, int64_t) {
      if (first == 0) whole = product();
    });
    // Reference: every row on its own, in double.
    for (int64_t j = 0; j < c.n; j += 97) {
      double ref = 0;
      for (int64_t p = 0; p < c.k; ++p) ref += double(x[size_t(p)]) * double(w[size_t(j * c.k + p)]);
      ref = double(c.alpha) * ref + double(c.beta) * double(c0[size_t(j)]);
      CHECK(double(whole[size_t(j)]) == doctest::Approx(ref).epsilon(1e-4));
    }
    // The caller held back, then the worker: the other thread takes rows from the held
    // share (twice each, since the walk changes direction from one call to the next).
    for (const int held : {-1, 0, 1}) {
      for (int call = 0; call < 2; ++call) {
        CAPTURE(held);
        CAPTURE(call);
        if (held >= 0) catena_cpu::hold_sweep_share_for_tests(held, 1000000000);
        const int64_t taken = catena_cpu::sweep_pieces_taken();
        const std::vector<T> y = product();
        catena_cpu::hold_sweep_share_for_tests(0, 0);
        catena_cpu::hold_sweep_share_for_tests(1, 0);
        CHECK(std::memcmp(y.data(), whole.data(), y.size() * sizeof(T)) == 0);
        if (held >= 0) CHECK(catena_cpu::sweep_pieces_taken() > taken);
      }
    }
  }
}

TEST_CASE("OpenBLAS here gives the same bits for split and whole products, so they are balanced") {
  const catena_cpu::Blas& L = catena_cpu::blas();
  INFO(L.error);
  REQUIRE(L.loaded);
  // Debian 12's OpenBLAS 0.3.21 was measured to be, with the AVX-512 kernels these
  // machines get; another build or kernel that is not simply keeps a fixed split.
  const std::string& core = L.corename;
  INFO("OpenBLAS kernel: " << core << ", " << L.config);
  if (core != "Cooperlake" && core != "SkylakeX" && core != "cooperlake" && core != "skylakex") {
    MESSAGE("not checked for OpenBLAS kernel " << core << " (only the AVX-512 kernels were measured)");
    return;
  }
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      CHECK(catena_cpu::gemm_split_invariant(false, ta, tb));
      CHECK(catena_cpu::gemm_split_invariant(true, ta, tb));
    }
  CHECK(catena_cpu::gemv_sweep_split_invariant(false));
  CHECK(catena_cpu::gemv_sweep_split_invariant(true));
}
