// core.gemm: Y = alpha * op(A) @ op(B) + beta * C, rank 2 or batched rank 3.
// float32/float64 go to OpenBLAS; float16/bfloat16 compute in float32; integers use a
// plain loop. Without OpenBLAS a built-in blocked kernel takes over.
#include "kernels.hpp"
#include "openblas.hpp"
#include "scalar.hpp"
#include "threadpool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <type_traits>
#include <vector>

namespace catena_cpu {

namespace {

// A strided matrix view, in elements.
template <class T>
struct Mat {
  T* p;
  int64_t rows, cols, rs, cs;
  T& operator()(int64_t i, int64_t j) const { return p[i * rs + j * cs]; }
};

// How BLAS can read a view: row-major with leading dim ld, possibly as the transpose.
template <class T>
bool blas_layout(const Mat<T>& m, bool* transposed, int64_t* ld) {
  if (m.cs == 1 && m.rs >= std::max<int64_t>(1, m.cols)) return *transposed = false, *ld = m.rs, true;
  if (m.rs == 1 && m.cs >= std::max<int64_t>(1, m.rows)) return *transposed = true, *ld = m.cs, true;
  if (m.rows <= 1 && m.cs == 1) return *transposed = false, *ld = std::max<int64_t>(1, m.cols), true;
  if (m.cols <= 1 && m.rs == 1) return *transposed = true, *ld = std::max<int64_t>(1, m.rows), true;
  return false;
}

template <class T>
std::vector<std::remove_const_t<T>> dense_copy(const Mat<T>& m) {
  std::vector<std::remove_const_t<T>> out(static_cast<size_t>(m.rows * m.cols));
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j) out[i * m.cols + j] = m(i, j);
  return out;
}

// Y (m x n, dense row-major, already holding beta*C or anything when beta == 0) =
// alpha * A(m x k) B(k x n) + beta * Y.
template <class T>
void builtin_gemm(const Mat<const T>& a, const Mat<const T>& b, T* y, int64_t n, T alpha, T beta) {
  int64_t m = a.rows, k = a.cols;
  parallel_for(m, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, k * n)), [&](int64_t r0, int64_t r1) {
    std::vector<T> row(static_cast<size_t>(n));
    for (int64_t i = r0; i < r1; ++i) {
      std::fill(row.begin(), row.end(), T(0));
      for (int64_t p = 0; p < k; ++p) {
        T av = a(i, p);
        if (b.cs == 1) {
          const T* bp = &b(p, 0);
          for (int64_t j = 0; j < n; ++j) row[j] += av * bp[j];
        } else {
          for (int64_t j = 0; j < n; ++j) row[j] += av * b(p, j);
        }
      }
      T* yr = y + i * n;
      for (int64_t j = 0; j < n; ++j) yr[j] = alpha * row[j] + (beta == T(0) ? T(0) : beta * yr[j]);
    }
  });
}

template <class T>
void blas_gemm(const Mat<const T>& a, const Mat<const T>& b, T* y, int64_t n, T alpha, T beta) {
  bool ta, tb;
  int64_t lda, ldb;
  std::vector<T> ca, cb;
  Mat<const T> A = a, B = b;
  if (!blas_layout(A, &ta, &lda)) ca = dense_copy(A), A = {ca.data(), a.rows, a.cols, a.cols, 1}, ta = false, lda = a.cols;
  if (!blas_layout(B, &tb, &ldb)) cb = dense_copy(B), B = {cb.data(), b.rows, b.cols, b.cols, 1}, tb = false, ldb = b.cols;
  lda = std::max<int64_t>(lda, 1);
  ldb = std::max<int64_t>(ldb, 1);
  dense_gemm<T>(ta, tb, a.rows, n, a.cols, alpha, A.p, lda, B.p, ldb, beta, y, std::max<int64_t>(n, 1));
}

template <class T>
void gemm_dense(const Mat<const T>& a, const Mat<const T>& b, T* y, int64_t n, T alpha, T beta) {
  if (a.rows == 0 || n == 0) return;
  if (a.cols == 0) {  // empty sum
    for (int64_t i = 0; i < a.rows * n; ++i) y[i] = beta == T(0) ? T(0) : beta * y[i];
    return;
  }
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    if (blas().loaded) return blas_gemm(a, b, y, n, alpha, beta);
  }
  builtin_gemm(a, b, y, n, alpha, beta);
}

void run_gemm(const ct_op& op) {
  const ct_tensor* A = op.inputs[0];
  const ct_tensor* B = op.inputs[1];
  const ct_tensor* C = op.num_inputs > 2 ? op.inputs[2] : nullptr;
  const ct_tensor* Y = op.outputs[0];
  bool ta = attr_int(op, "trans_a", 0) != 0, tb = attr_int(op, "trans_b", 0) != 0;
  double alpha = attr_float(op, "alpha", 1.0), beta = C ? attr_float(op, "beta", 0.0) : 0.0;
  int r = A->dl.ndim;
  int64_t batch = r == 3 ? Y->dl.shape[0] : 1;
  int64_t m = Y->dl.shape[r - 2], n = Y->dl.shape[r - 1];
  int64_t k = ta ? A->dl.shape[r - 2] : A->dl.shape[r - 1];
  auto bstride = [&](const ct_tensor* t) { return r == 3 ? t->dl.strides[0] : 0; };
  auto view = [&](auto* base, const ct_tensor* t, bool trans, int64_t bi) {
    using P = std::remove_pointer_t<decltype(base)>;
    int64_t rs = t->dl.strides[r - 2], cs = t->dl.strides[r - 1];
    int64_t rows = t->dl.shape[r - 2], cols = t->dl.shape[r - 1];
    P* p = base + bi * bstride(t);
    return trans ? Mat<P>{p, cols, rows, cs, rs} : Mat<P>{p, rows, cols, rs, cs};
  };
  visit(ty_of(Y->dl.dtype), [&](auto tag) {
    using T = decltype(tag);
    using CT = Compute<T>;
    using W = typename CT::type;  // the type we compute in
    using Wc = std::conditional_t<std::is_integral_v<W>, int64_t, W>;
    std::vector<Wc> ybuf, abuf, bbuf;
    for (int64_t bi = 0; bi < batch; ++bi) {
      Mat<const T> a = view(reinterpret_cast<const T*>(base_of(A)), A, ta, bi);
      Mat<const T> b = view(reinterpret_cast<const T*>(base_of(B)), B, tb, bi);
      Mat<T> y = view(reinterpret_cast<T*>(base_of(Y)), Y, false, bi);
      // Write straight into Y when it is dense row-major in the compute type.
      Wc* out;
      bool direct = false;
      if constexpr (std::is_same_v<T, Wc>) direct = y.cs == 1 && y.rs == n;
      if (direct) {
        out = reinterpret_cast<Wc*>(&y(0, 0));
      } else {
        ybuf.resize(static_cast<size_t>(m * n));
        out = ybuf.data();
      }
      if (C) {
        Mat<const T> c = view(reinterpret_cast<const T*>(base_of(C)), C, false, bi);
        bool copied = false;
        if constexpr (std::is_same_v<T, Wc>) {
          if (c.cs == 1 && (c.rs == 0 || c.rs == n)) {  // a bias broadcast over rows, or dense
            for (int64_t i = 0; i < m; ++i) std::memmove(out + i * n, &c(i, 0), size_t(n) * sizeof(T));
            copied = true;
          }
        }
        if (!copied)
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) out[i * n + j] = static_cast<Wc>(CT::load(c(i, j)));
      }
      if constexpr (std::is_same_v<T, Wc>) {
        gemm_dense<Wc>(a, b, out, n, static_cast<Wc>(alpha), static_cast<Wc>(beta));
      } else {
        // Widen the operands once, then multiply in the compute type.
        abuf.resize(static_cast<size_t>(m * k));
        bbuf.resize(static_cast<size_t>(k * n));
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < k; ++j) abuf[i * k + j] = static_cast<Wc>(CT::load(a(i, j)));
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < n; ++j) bbuf[i * n + j] = static_cast<Wc>(CT::load(b(i, j)));
        Mat<const Wc> wa{abuf.data(), m, k, k, 1}, wb{bbuf.data(), k, n, n, 1};
        gemm_dense<Wc>(wa, wb, out, n, static_cast<Wc>(alpha), static_cast<Wc>(beta));
      }
      if (!direct)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) y(i, j) = CT::store(static_cast<W>(out[i * n + j]));
    }
    return 0;
  });
}

const char* support_gemm(const ct_op& op) {
  if (op.num_inputs < 2 || op.num_inputs > 3 || op.num_outputs != 1) return "takes A, B[, C] and one output";
  const ct_tensor* A = op.inputs[0];
  const ct_tensor* B = op.inputs[1];
  const ct_tensor* Y = op.outputs[0];
  Ty t = ty_of(Y->dl.dtype);
  if (t == Ty::unknown || t == Ty::boolean) return "unsupported dtype";
  for (int i = 0; i < op.num_inputs; ++i)
    if (ty_of(op.inputs[i]->dl.dtype) != t) return "all operands must share one dtype";
  int r = A->dl.ndim;
  if ((r != 2 && r != 3) || B->dl.ndim != r || Y->dl.ndim != r) return "operands must all be rank 2 or all rank 3";
  bool ta = attr_int(op, "trans_a", 0) != 0, tb = attr_int(op, "trans_b", 0) != 0;
  int64_t m = ta ? A->dl.shape[r - 1] : A->dl.shape[r - 2];
  int64_t ka = ta ? A->dl.shape[r - 2] : A->dl.shape[r - 1];
  int64_t kb = tb ? B->dl.shape[r - 1] : B->dl.shape[r - 2];
  int64_t n = tb ? B->dl.shape[r - 2] : B->dl.shape[r - 1];
  if (ka != kb || Y->dl.shape[r - 2] != m || Y->dl.shape[r - 1] != n) return "shapes do not multiply";
  if (m > INT32_MAX || n > INT32_MAX || ka > INT32_MAX) return "dimension exceeds 2^31";
  if (r == 3 && (A->dl.shape[0] != Y->dl.shape[0] || B->dl.shape[0] != Y->dl.shape[0]))
    return "batch extents must equal the output's (broadcast with zero strides)";
  if (op.num_inputs == 3 && !same_shape(op.inputs[2], Y)) return "C must have the output's shape";
  return nullptr;
}

}  // namespace

void add_gemm_kernels(std::vector<KernelDef>& k) { k.push_back({"core.gemm", 1, support_gemm, run_gemm}); }

namespace {

// One serial BLAS call: a matrix-vector product for one row of C (which GEMM kernels do
// poorly), else GEMM.
template <class T>
void blas_call(const Blas& L, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
               const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 1 && L.sgemv && L.dgemv) {
    // c[j] = alpha * sum_p a[p] * op(B)[p, j] + beta * c[j].
    const int inca = int(ta ? lda : 1);
    const int tr = tb ? kNoTrans : kTrans;
    const int rows = int(tb ? n : k), cols = int(tb ? k : n);
    if constexpr (std::is_same_v<T, float>)
      L.sgemv(kRowMajor, tr, rows, cols, alpha, b, int(ldb), a, inca, beta, c, 1);
    else
      L.dgemv(kRowMajor, tr, rows, cols, alpha, b, int(ldb), a, inca, beta, c, 1);
    return;
  }
  const int ota = ta ? kTrans : kNoTrans, otb = tb ? kTrans : kNoTrans;
  if constexpr (std::is_same_v<T, float>)
    L.sgemm(kRowMajor, ota, otb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
  else
    L.dgemm(kRowMajor, ota, otb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

// A one-row product over a large matrix — batch-1 inference through a Linear layer,
// y = x W^T with W's rows the outputs — reads its matrix from L3 on every call when the
// model does not fit in the cores' L2 (W5: 7.1 MB against 2 x 2 MB). Each thread walks
// its share of the rows in chunks of kSweepRows, and the walk alternates direction from
// one call on the same matrix to the next, so the rows a thread read last, some still in
// its L2, are the first it reads again (W5: about 3 % faster over 20 interleaved pairs;
// smaller chunks cost more in calls than they gain). A thread done with its share takes
// the rows left at the far end of another's (sweep_pieces), so the pieces' edges move from
// call to call; that is done only when a probe found every row's bits independent of the
// piece it is computed in (gemv_split_invariant): neither the direction nor the edges
// change the result. Without that, each thread walks a fixed share.
constexpr int64_t kSweepRows = 128;
constexpr int64_t kSweepBytes = int64_t(1) << 20;

// Whether this call walks backward: the opposite of the last call on the same matrix, as
// remembered in a small table keyed by its address (a collision or a race between two
// application threads costs only speed).
bool sweep_backward(const void* matrix) {
  static std::atomic<uintptr_t> recent[64];
  const uintptr_t key = reinterpret_cast<uintptr_t>(matrix);  // at least 4-aligned: bit 0 is free
  std::atomic<uintptr_t>& slot = recent[((key >> 6) * 0x9E3779B97F4A7C15ull) >> 58];
  const uintptr_t last = slot.load(std::memory_order_relaxed);
  const bool backward = (last & ~uintptr_t(1)) == key && !(last & 1);
  slot.store(key | uintptr_t(backward), std::memory_order_relaxed);
  return backward;
}

// Split products whose parts are sized by the threads' measured speeds
// (parallel_for_balanced) put the seam between two OpenBLAS calls somewhere new on every
// call. That keeps results reproducible only if every element's bits are independent of
// where its call's edges lie. OpenBLAS's large-matrix path is (each element sums its k in
// the same order whatever tile it falls in); its small-matrix kernels (up to about 2^20
// multiply-adds) and its direct row-major kernel (up to 28 x 512 x 512) are other code
// with other roundings. So products are balanced only when every part stays above
// kBalanceMinMacs, and only after a probe at that size, run once per type and
// transposition, found split and whole products bit-identical for the OpenBLAS in use.
constexpr int64_t kBalanceMinMacs = int64_t(1) << 23;

// The probes' operands: values in (-1, 1) from a linear congruential generator, the same
// on every run.
template <class T>
void fill_probe_values(uint32_t& state, std::vector<T>& v) {
  for (T& e : v) e = T(int32_t((state = state * 1664525u + 1013904223u) >> 8) - (1 << 23)) / T(1 << 23);
}

template <class T>
bool probe_split_invariance(const Blas& L, bool ta, bool tb) {
  // A wide and a tall product, each split in two at a quarter and at half of its long side.
  for (const bool wide : {true, false}) {
    const int64_t k = 256, m = wide ? 128 : 1024, n = wide ? 1024 : 128;
    std::vector<T> a(size_t(m * k)), b(size_t(k * n)), c0(size_t(m * n));  // c0: C before the product
    uint32_t state = 12345;
    fill_probe_values(state, a);
    fill_probe_values(state, b);
    fill_probe_values(state, c0);
    std::vector<T> whole = c0;
    const int64_t lda = ta ? m : k, ldb = tb ? k : n;
    const T alpha = T(0.75), beta = T(1.5);
    blas_call(L, ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, whole.data(), n);
    for (const int64_t seam : {(wide ? n : m) / 4, (wide ? n : m) / 2}) {
      std::vector<T> y = c0;
      if (wide) {
        blas_call(L, ta, tb, m, seam, k, alpha, a.data(), lda, b.data(), ldb, beta, y.data(), n);
        blas_call(L, ta, tb, m, n - seam, k, alpha, a.data(), lda, tb ? b.data() + seam * ldb : b.data() + seam, ldb,
                  beta, y.data() + seam, n);
      } else {
        blas_call(L, ta, tb, seam, n, k, alpha, a.data(), lda, b.data(), ldb, beta, y.data(), n);
        blas_call(L, ta, tb, m - seam, n, k, alpha, ta ? a.data() + seam : a.data() + seam * lda, lda, b.data(), ldb,
                  beta, y.data() + seam * n, n);
      }
      if (std::memcmp(y.data(), whole.data(), y.size() * sizeof(T)) != 0) return false;
    }
  }
  return true;
}

// Whether products of this type and transposition may be balanced (probed once).
template <class T>
bool split_invariant(const Blas& L, bool ta, bool tb) {
  static std::atomic<int> known[4];  // 0: not probed yet, 1: invariant, 2: not
  std::atomic<int>& state = known[(ta ? 2 : 0) + (tb ? 1 : 0)];
  int s = state.load(std::memory_order_acquire);
  if (s == 0) {
    s = probe_split_invariance<T>(L, ta, tb) ? 1 : 2;  // two threads may both probe: same answer
    state.store(s, std::memory_order_release);
  }
  return s == 1;
}

// The same question for the one-row products the sweep below walks (y = x W^T, W's rows
// the outputs, one matrix-vector call per piece): whether a row's result is the same
// whatever piece of rows it is computed in, for pieces that start at multiples of one
// vector. Probed once per type, with a row length that is not a multiple of a vector.
template <class T>
bool probe_gemv_split_invariance(const Blas& L) {
  constexpr int64_t block = 64 / sizeof(T);
  const int64_t n = 64 * block, k = 301;
  std::vector<T> x(static_cast<size_t>(k)), w(static_cast<size_t>(n * k)), c0(static_cast<size_t>(n));
  uint32_t state = 54321;
  fill_probe_values(state, x);
  fill_probe_values(state, w);
  fill_probe_values(state, c0);
  const T alpha = T(0.75), beta = T(1.5);
  std::vector<T> whole = c0;
  blas_call(L, false, true, 1, n, k, alpha, x.data(), k, w.data(), k, beta, whole.data(), n);
  for (const int64_t seam : {block, 3 * block, 17 * block, n / 2, n - block}) {
    std::vector<T> y = c0;
    blas_call(L, false, true, 1, seam, k, alpha, x.data(), k, w.data(), k, beta, y.data(), n);
    blas_call(L, false, true, 1, n - seam, k, alpha, x.data(), k, w.data() + seam * k, k, beta, y.data() + seam, n);
    if (std::memcmp(y.data(), whole.data(), y.size() * sizeof(T)) != 0) return false;
  }
  return true;
}

template <class T>
bool gemv_split_invariant(const Blas& L) {
  static const bool invariant = probe_gemv_split_invariance<T>(L);
  return invariant;
}

// Test hooks (kernels.hpp): a wait before the owner of share 0 or 1 starts, and the
// number of pieces threads took from others' shares.
std::atomic<int64_t> g_sweep_hold_ns[2];
std::atomic<int64_t> g_sweep_pieces_taken{0};

}  // namespace

bool gemv_sweep_split_invariant(bool is_double) {
  const Blas& L = blas();
  if (!L.loaded || !L.single_threaded) return false;
  return is_double ? gemv_split_invariant<double>(L) : gemv_split_invariant<float>(L);
}

void hold_sweep_share_for_tests(int share, int64_t ns) {
  if (share >= 0 && share < 2) g_sweep_hold_ns[share].store(ns, std::memory_order_relaxed);
}

int64_t sweep_pieces_taken() { return g_sweep_pieces_taken.load(std::memory_order_relaxed); }

bool gemm_split_invariant(bool is_double, bool ta, bool tb) {
  const Blas& L = blas();
  if (!L.loaded || !L.single_threaded) return false;
  return is_double ? split_invariant<double>(L, ta, tb) : split_invariant<float>(L, ta, tb);
}

// The sweep's one-row product over the pool, when its probe passed (gemv_split_invariant):
// every thread owns an even share of the rows and walks it in chunks in this call's
// direction; a thread done with its own share takes the rows the others would reach
// last, one vector of rows at a time, so the threads finish together although the
// parts' times differ by several microseconds from call to call (two vCPUs streaming
// from L3: ±4 µs around 75 µs). Each piece of rows is claimed with one compare-and-swap
// on its owner's [front, back) and computed once; all pieces start at multiples of one
// vector of rows, so the bits are those of the whole product.
template <class T>
void sweep_pieces(const Blas& L, bool ta, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
                  int64_t ldb, T beta, T* c, bool backward) {
  constexpr int64_t piece = 64 / sizeof(T);        // rows per unit
  constexpr int64_t chunk = kSweepRows / piece;    // units an owner takes at once, far from the end
  const int64_t units = (n + piece - 1) / piece;
  const int parts = int(std::min<int64_t>({int64_t(num_threads()), units / (2 * chunk), kMaxBlasCalls}));
  auto rows = [&](int64_t u0, int64_t u1) {
    const int64_t r0 = u0 * piece, r1 = std::min(n, u1 * piece);
    blas_call(L, ta, true, 1, r1 - r0, k, alpha, a, lda, b + r0 * ldb, ldb, beta, c + r0, n);
  };
  if (parts < 2) {
    rows(0, units);
    return;
  }
  struct alignas(64) Share {
    std::atomic<uint64_t> span;  // front in the low 32 bits, back in the high: units still to do
  };
  Share share[kMaxBlasCalls];
  auto pack = [](int64_t f, int64_t e) { return uint64_t(f) | (uint64_t(e) << 32); };
  for (int p = 0; p < parts; ++p) share[p].span.store(pack(units * p / parts, units * (p + 1) / parts));
  // Takes up to `want` units from the owner's end of share p (owner) or the other end
  // (thief); false when the share is empty.
  auto take = [&](int p, bool owner, auto want) {
    uint64_t v = share[p].span.load(std::memory_order_relaxed);
    for (;;) {
      const int64_t f = int64_t(v & 0xffffffffu), e = int64_t(v >> 32);
      if (f >= e) return false;
      const int64_t t = std::min<int64_t>(e - f, want(e - f));
      const bool from_back = owner == backward;
      const uint64_t next = from_back ? pack(f, e - t) : pack(f + t, e);
      if (share[p].span.compare_exchange_weak(v, next, std::memory_order_relaxed)) {
        if (from_back)
          rows(e - t, e);
        else
          rows(f, f + t);
        if (!owner) g_sweep_pieces_taken.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
    }
  };
  // Far from the other end an owner takes whole chunks; near it, half of what is left,
  // so that a thief finds rows to take until the end.
  auto owner_want = [&](int64_t left) { return std::max<int64_t>(1, std::min(chunk, left / 2)); };
  auto thief_want = [](int64_t) { return int64_t(1); };
  parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
    if (p1 - p0 == 1 && p0 < 2)
      if (const int64_t hold = g_sweep_hold_ns[p0].load(std::memory_order_relaxed)) {
        // Tests: wait until another thread took a piece, or `hold` passed.
        const int64_t taken = g_sweep_pieces_taken.load(std::memory_order_relaxed);
        const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(hold);
        while (std::chrono::steady_clock::now() < until &&
               g_sweep_pieces_taken.load(std::memory_order_relaxed) == taken) {
        }
      }
    for (int64_t p = p0; p < p1; ++p)
      while (take(int(p), true, owner_want)) {
      }
    for (int64_t i = 1; i < parts; ++i)
      while (take(int((p0 + i) % parts), false, thief_want)) {
      }
  });
}

template <class T>
void dense_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
                int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  const Blas& L = blas();
  if (k > 0 && m == 1 && n * k <= 32768) {
    // A small one-row product (a classifier's last layer at batch 1): a plain loop here
    // costs less than a call into OpenBLAS.
    const int64_t inca = ta ? lda : 1;
    if (tb && inca == 1) {
      for (int64_t j = 0; j < n; ++j) {
        const T sum = lane_dot(a, b + j * ldb, k);
        c[j] = alpha * sum + (beta == T(0) ? T(0) : beta * c[j]);
      }
      return;
    }
    std::vector<T> acc(size_t(n), T(0));
    for (int64_t p = 0; p < k; ++p) {
      const T ap = a[p * inca];
      for (int64_t j = 0; j < n; ++j) acc[size_t(j)] += ap * (tb ? b[j * ldb + p] : b[p * ldb + j]);
    }
    for (int64_t j = 0; j < n; ++j) c[j] = alpha * acc[size_t(j)] + (beta == T(0) ? T(0) : beta * c[j]);
    return;
  }
  if (L.loaded && k > 0) {
    const bool sweep = L.single_threaded && m == 1 && tb && n * k * int64_t(sizeof(T)) >= kSweepBytes;
    const bool backward = sweep && sweep_backward(b);
    if (sweep && gemv_split_invariant<T>(L))
      return sweep_pieces(L, ta, n, k, alpha, a, lda, b, ldb, beta, c, backward);
    auto part = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
      if (sweep) {
        const int64_t first = n0 / kSweepRows, last = (n1 - 1) / kSweepRows;
        for (int64_t i = 0; i <= last - first; ++i) {
          const int64_t chunk = backward ? last - i : first + i;
          const int64_t r0 = std::max(n0, chunk * kSweepRows), r1 = std::min(n1, (chunk + 1) * kSweepRows);
          blas_call(L, ta, tb, 1, r1 - r0, k, alpha, a, lda, b + r0 * ldb, ldb, beta, c + r0, ldc);
        }
        return;
      }
      blas_call(L, ta, tb, m1 - m0, n1 - n0, k, alpha, ta ? a + m0 : a + m0 * lda, lda, tb ? b + n0 * ldb : b + n0,
                ldb, beta, c + m0 * ldc + n0, ldc);
    };
    if (!L.single_threaded) return part(0, m, 0, n);  // a BLAS that keeps its own threading
    // OpenBLAS runs single-threaded (openblas.cpp); the product is split here over the
    // pool, along the longer side in blocks of one vector, so every core works on its own
    // slice and the pool's spinning workers start at once.
    constexpr int64_t block = 64 / sizeof(T);
    const int64_t min_part = int64_t(1) << 18;  // multiply-adds per part
    const bool split_n = n >= m;
    const int64_t units = split_n ? (n + block - 1) / block : (m + block - 1) / block;
    // At most kMaxBlasCalls parts: OpenBLAS serves a bounded number of concurrent calls.
    const int64_t grain = std::max({int64_t(1), min_part / std::max<int64_t>(1, (split_n ? m : n) * k * block),
                                    (units + kMaxBlasCalls - 1) / kMaxBlasCalls});
    auto run = [&](int64_t u0, int64_t u1) {
      if (split_n)
        part(0, m, u0 * block, std::min(n, u1 * block));
      else
        part(u0 * block, std::min(m, u1 * block), 0, n);
    };
    // Large products are split by the threads' measured speeds where that cannot change
    // the bits (see kBalanceMinMacs); one-row products outside the sweep (sweep_pieces)
    // keep their fixed split.
    const int64_t smallest = balanced_min_part(units, grain) * block * (split_n ? m : n) * k;
    if (m > 1 && smallest >= kBalanceMinMacs && split_invariant<T>(L, ta, tb))
      parallel_for_balanced(units, grain, run);
    else
      parallel_for(units, grain, run);
    return;
  }
  Mat<const T> A = ta ? Mat<const T>{a, m, k, 1, lda} : Mat<const T>{a, m, k, lda, 1};
  Mat<const T> B = tb ? Mat<const T>{b, k, n, 1, ldb} : Mat<const T>{b, k, n, ldb, 1};
  std::vector<T> y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) y[i * n + j] = c[i * ldc + j];
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  builtin_gemm(A, B, y.data(), n, alpha, beta);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = y[i * n + j];
}

template void dense_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                int64_t, float, float*, int64_t);
template void dense_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                                 int64_t, double, double*, int64_t);

}  // namespace catena_cpu
