// The int8 ops of api/OPS.md: core.quantize, core.dequantize and core.gemm_i8.
//
// The product is exact in 32-bit integers. Where oneDNN is installed and passed its check
// at load (onednn.hpp), the product is its dnnl_gemm_s8s8s32, called on parts split over the
// pool. Otherwise, on CPUs with AVX-512 VNNI, Catena's own kernel runs on VPDPBUSD, which multiplies unsigned by signed bytes: B's bytes are offset by 128 into
// unsigned ones as they are loaded (one XOR), which adds 128 · Σ_k A[m, k] to each sum; that
// row sum is computed once per call and subtracted again. Every step wraps modulo 2^32, so
// the result is the exact one. Other CPUs (and CATENA_CPU_INT8=scalar) run a plain integer
// loop with the same results. CATENA_CPU_INT8=onednn|vnni|scalar chooses one (onednn, the
// default, falls back to vnni, vnni to scalar, where they cannot run).
#include "kernels.hpp"
#include "onednn.hpp"
#include "scalar.hpp"
#include "strided.hpp"
#include "threadpool.hpp"

#include <immintrin.h>

// GCC 12's AVX-512 headers start some intrinsics from _mm*_undefined_*() values, which
// -Wmaybe-uninitialized reports wherever they are inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace catena_cpu {

namespace {

constexpr int64_t kGrain = 1 << 14;

template <class T>
inline T& at(char* p, int64_t i, int64_t stride) {
  return *reinterpret_cast<T*>(p + i * stride);
}

template <class X>
float load_float(X v) {
  return static_cast<float>(Compute<X>::load(v));
}

// ---- quantize / dequantize -------------------------------------------------------------

template <class Q>
Q quantize_one(float x, float inv_scale, int64_t zero_point) {
  constexpr double lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
  const float t = x * inv_scale;
  double r = std::isnan(t) ? 0.0 : double(std::nearbyint(t));
  r += double(zero_point);
  return static_cast<Q>(std::min(std::max(r, lo), hi));
}

#define CATENA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

// float32 rows (inv_scale contiguous or one value per row) in 16 lanes: the product is
// clamped to the output's range before it is rounded (the same integers as rounding
// first), rounded to nearest even by the default MXCSR mode, NaN lanes set to zero_point.
CATENA_AVX512 void quantize_row_avx512(const float* x, const float* inv, bool inv_scalar, char* q, int64_t n, int64_t zp,
                                       bool to_u8) {
  const float lo = (to_u8 ? 0.0f : -128.0f) - float(zp), hi = (to_u8 ? 255.0f : 127.0f) - float(zp);
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const __m512i vzp = _mm512_set1_epi32(int32_t(zp));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 iv = inv_scalar ? _mm512_set1_ps(*inv) : _mm512_maskz_loadu_ps(m, inv + i);
    const __m512 t = _mm512_mul_ps(xv, iv);
    const __mmask16 ordered = _mm512_cmp_ps_mask(t, t, _CMP_ORD_Q);
    const __m512 c = _mm512_min_ps(_mm512_max_ps(t, vlo), vhi);
    const __m512i r = _mm512_mask_add_epi32(vzp, ordered, _mm512_cvtps_epi32(c), vzp);
    if (to_u8) _mm_mask_storeu_epi8(q + i, m, _mm512_cvtusepi32_epi8(r));
    else _mm_mask_storeu_epi8(q + i, m, _mm512_cvtsepi32_epi8(r));
  }
}

bool has_avx512() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }();
  return yes;
}

void run_quantize(const ct_op& op) {
  const ct_tensor* t[3] = {op.inputs[0], op.inputs[1], op.outputs[0]};
  const int64_t zp = attr_int(op, "zero_point", 0);
  const bool to_u8 = op.outputs[0]->dl.dtype.code == CT_DTYPE_UINT;
  Loop<3> L = make_loop<3>(t);
  if (ty_of(t[0]->dl.dtype) == Ty::f32 && has_avx512() && zp >= -255 && zp <= 255) {
    run_loop(L, kGrain, [&](int64_t n, char* const* p, const int64_t* s) {
      if (s[0] == 4 && (s[1] == 4 || s[1] == 0) && s[2] == 1) {
        quantize_row_avx512(reinterpret_cast<const float*>(p[0]), reinterpret_cast<const float*>(p[1]), s[1] == 0,
                            p[2], n, zp, to_u8);
        return;
      }
      for (int64_t i = 0; i < n; ++i) {
        const float x = at<float>(p[0], i, s[0]), inv = at<float>(p[1], i, s[1]);
        if (to_u8) at<uint8_t>(p[2], i, s[2]) = quantize_one<uint8_t>(x, inv, zp);
        else at<int8_t>(p[2], i, s[2]) = quantize_one<int8_t>(x, inv, zp);
      }
    });
    return;
  }
  visit(ty_of(t[0]->dl.dtype), [&](auto xv) {
    using X = decltype(xv);
    if constexpr (!std::is_integral_v<X>) {
      auto body = [&](auto qv) {
        using Q = decltype(qv);
        run_loop(L, kGrain, [&](int64_t n, char* const* p, const int64_t* s) {
          for (int64_t i = 0; i < n; ++i)
            at<Q>(p[2], i, s[2]) = quantize_one<Q>(load_float(at<X>(p[0], i, s[0])), at<float>(p[1], i, s[1]), zp);
        });
      };
      if (to_u8) body(uint8_t(0));
      else body(int8_t(0));
    }
    return 0;
  });
}

void run_dequantize(const ct_op& op) {
  const ct_tensor* t[3] = {op.inputs[0], op.inputs[1], op.outputs[0]};
  const int64_t zp = attr_int(op, "zero_point", 0);
  Loop<3> L = make_loop<3>(t);
  visit(ty_of(t[0]->dl.dtype), [&](auto qv) {
    using Q = decltype(qv);
    if constexpr (std::is_integral_v<Q> && !std::is_same_v<Q, bool>) {
      visit(ty_of(t[2]->dl.dtype), [&](auto yv) {
        using Y = decltype(yv);
        if constexpr (!std::is_integral_v<Y>) {
          run_loop(L, kGrain, [&](int64_t n, char* const* p, const int64_t* s) {
            for (int64_t i = 0; i < n; ++i) {
              const float v = float(int64_t(at<Q>(p[0], i, s[0])) - zp) * at<float>(p[1], i, s[1]);
              at<Y>(p[2], i, s[2]) = Compute<Y>::store(static_cast<typename Compute<Y>::type>(v));
            }
          });
        }
        return 0;
      });
    }
    return 0;
  });
}

bool is_dtype(const ct_tensor* t, int code, int bits) {
  return t->dl.dtype.code == code && t->dl.dtype.bits == bits && t->dl.dtype.lanes == 1;
}

const char* support_quantize(const ct_op& op) {
  if (op.num_inputs != 2 || op.num_outputs != 1) return "takes x and inv_scale; gives q";
  if (!is_float(ty_of(op.inputs[0]->dl.dtype))) return "x must be floating point";
  if (!is_dtype(op.inputs[1], CT_DTYPE_FLOAT, 32)) return "inv_scale must be float32";
  if (!is_dtype(op.outputs[0], CT_DTYPE_INT, 8) && !is_dtype(op.outputs[0], CT_DTYPE_UINT, 8))
    return "q must be int8 or uint8";
  for (int i = 0; i < 2; ++i)
    if (!same_shape(op.inputs[i], op.outputs[0])) return "operands must have one shape";
  return op.outputs[0]->dl.ndim > kMaxLoopDims ? "too many dimensions" : nullptr;
}

const char* support_dequantize(const ct_op& op) {
  if (op.num_inputs != 2 || op.num_outputs != 1) return "takes q and scale; gives y";
  const ct_tensor* q = op.inputs[0];
  if (!is_dtype(q, CT_DTYPE_INT, 8) && !is_dtype(q, CT_DTYPE_UINT, 8) && !is_dtype(q, CT_DTYPE_INT, 32))
    return "q must be int8, uint8 or int32";
  if (!is_dtype(op.inputs[1], CT_DTYPE_FLOAT, 32)) return "scale must be float32";
  if (!is_float(ty_of(op.outputs[0]->dl.dtype))) return "y must be floating point";
  for (int i = 0; i < 2; ++i)
    if (!same_shape(op.inputs[i], op.outputs[0])) return "operands must have one shape";
  return op.outputs[0]->dl.ndim > kMaxLoopDims ? "too many dimensions" : nullptr;
}

// ---- gemm_i8 ---------------------------------------------------------------------------

// A dense row-major int8 matrix (rows x k), a view or a packed copy.
struct Rows {
  const int8_t* p;
  int64_t rows, k, ld;
  std::vector<int8_t> own;
};

Rows dense_rows(const ct_tensor* t) {
  Rows r;
  r.rows = t->dl.shape[0], r.k = t->dl.shape[1];
  const int8_t* base = reinterpret_cast<const int8_t*>(base_of(t));
  const int64_t rs = t->dl.strides[0], cs = t->dl.strides[1];
  if (cs == 1 || r.k <= 1) {
    r.p = base, r.ld = r.rows <= 1 ? std::max<int64_t>(r.k, 1) : rs;
    if (r.ld >= r.k || r.rows <= 1) return r;
  }
  r.own.resize(size_t(r.rows * r.k));
  for (int64_t i = 0; i < r.rows; ++i)
    for (int64_t j = 0; j < r.k; ++j) r.own[size_t(i * r.k + j)] = base[i * rs + j * cs];
  r.p = r.own.data(), r.ld = std::max<int64_t>(r.k, 1);
  return r;
}

// A thread's working memory for the tiles: a zero row and a tile of 4 rows, lda bytes each.
struct Scratch {
  explicit Scratch(int64_t lda) : lda(lda), zeros(size_t(lda), 0), zero_row(zeros.data()) {}
  int64_t lda;
  std::vector<int8_t> zeros, rows;  // rows: made when first needed
  const int8_t* zero_row;
};

// The product's result for rows [m0, m0 + mr) and columns [n0, n0 + nr): acc[i * 4 + j].
// ap: A's rows from m0 (stride lda, zero-padded to a multiple of 64); asum: their sums.
using BlockFn = void (*)(const int8_t* ap, int64_t lda, const uint32_t* asum, int mr, const Rows& b, int64_t n0, int nr,
                         uint32_t* acc, Scratch& scratch);

void block_scalar(const int8_t* ap, int64_t lda, const uint32_t*, int mr, const Rows& b, int64_t n0, int nr,
                  uint32_t* acc, Scratch&) {
  const int64_t k = b.k;
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) {
      const int8_t* a = ap + i * lda;
      const int8_t* w = b.p + (n0 + j) * b.ld;
      uint32_t sum = 0;  // each product fits in int32; the sum is taken mod 2^32
      for (int64_t p = 0; p < k; ++p) sum += uint32_t(int32_t(a[p]) * int32_t(w[p]));
      acc[i * 4 + j] = sum;
    }
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline uint32_t hsum(__m512i v) {
  const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_maskz_extracti64x4_epi64(0xFF, v, 1));
  __m128i q = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  q = _mm_add_epi32(q, _mm_shuffle_epi32(q, 0x4E));
  q = _mm_add_epi32(q, _mm_shuffle_epi32(q, 0xB1));
  return uint32_t(_mm_cvtsi128_si32(q));
}

// MR rows of A (offset to unsigned, zero-padded to a multiple of 64) against NR rows of
// B: VPDPBUSD on 64 bytes at a time, B's tail loaded under a mask. The block sizes are
// compile-time so the accumulators stay in registers.
#define CATENA_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

// Tiles of the VNNI product: rows of A (zero-padded to a multiple of 64) against 4 rows of
// B, VPDPBUSD on 64 bytes at a time, B's tail loaded under a mask (its offset bytes there
// meet A's zero padding). The accumulators are named variables: GCC 12 keeps an array of
// them on the stack at -O3, stored on every step.
#define CATENA_LOAD_B(j)                                                       \
  const __m512i b##j = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, w##j + p), offset);
#define CATENA_ROW(i)                                                          \
  {                                                                            \
    const __m512i a = _mm512_loadu_si512(a##i + p);                           \
    c##i##0 = _mm512_dpbusd_epi32(c##i##0, b0, a);                            \
    c##i##1 = _mm512_dpbusd_epi32(c##i##1, b1, a);                            \
    c##i##2 = _mm512_dpbusd_epi32(c##i##2, b2, a);                            \
    c##i##3 = _mm512_dpbusd_epi32(c##i##3, b3, a);                            \
  }
#define CATENA_ZERO_ROW(i) __m512i c##i##0 = _mm512_setzero_si512(), c##i##1 = c##i##0, c##i##2 = c##i##0, c##i##3 = c##i##0;
#define CATENA_STORE_ROW(i)                                                    \
  out[i * 4 + 0] = hsum(c##i##0) - asum[i] * 128u, out[i * 4 + 1] = hsum(c##i##1) - asum[i] * 128u, \
  out[i * 4 + 2] = hsum(c##i##2) - asum[i] * 128u, out[i * 4 + 3] = hsum(c##i##3) - asum[i] * 128u;

// 4 rows of A against 4 rows of B (w0..w3).
CATENA_VNNI void tile_4x4(const int8_t* ap, int64_t lda, const uint32_t* asum, const int8_t* const* w, int64_t k,
                          uint32_t* out) {
  const int8_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
  const int8_t *a0 = ap, *a1 = ap + lda, *a2 = ap + 2 * lda, *a3 = ap + 3 * lda;
  const __m512i offset = _mm512_set1_epi8(char(0x80));
  CATENA_ZERO_ROW(0) CATENA_ZERO_ROW(1) CATENA_ZERO_ROW(2) CATENA_ZERO_ROW(3)
  for (int64_t p = 0; p < k; p += 64) {
    const __mmask64 mask = k - p >= 64 ? ~__mmask64(0) : (__mmask64(1) << (k - p)) - 1;
    CATENA_LOAD_B(0) CATENA_LOAD_B(1) CATENA_LOAD_B(2) CATENA_LOAD_B(3)
    CATENA_ROW(0) CATENA_ROW(1) CATENA_ROW(2) CATENA_ROW(3)
  }
  CATENA_STORE_ROW(0) CATENA_STORE_ROW(1) CATENA_STORE_ROW(2) CATENA_STORE_ROW(3)
}

// 1 row of A against 4 rows of B: batch-1 inference.
CATENA_VNNI void tile_1x4(const int8_t* ap, int64_t, const uint32_t* asum, const int8_t* const* w, int64_t k,
                          uint32_t* out) {
  const int8_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
  const int8_t* a0 = ap;
  const __m512i offset = _mm512_set1_epi8(char(0x80));
  CATENA_ZERO_ROW(0)
  for (int64_t p = 0; p < k; p += 64) {
    const __mmask64 mask = k - p >= 64 ? ~__mmask64(0) : (__mmask64(1) << (k - p)) - 1;
    CATENA_LOAD_B(0) CATENA_LOAD_B(1) CATENA_LOAD_B(2) CATENA_LOAD_B(3)
    CATENA_ROW(0)
  }
  CATENA_STORE_ROW(0)
}

// Rows of B beyond N read a zero row; 2 or 3 rows of A are copied into a tile of 4 with
// zero rows (their sums 0). Those results are not used.
void block_vnni(const int8_t* ap, int64_t lda, const uint32_t* asum, int mr, const Rows& b, int64_t n0, int nr,
                uint32_t* acc, Scratch& scratch) {
  const int8_t* w[4];
  for (int j = 0; j < 4; ++j) w[j] = j < nr ? b.p + (n0 + j) * b.ld : scratch.zero_row;
  if (mr == 1) {
    tile_1x4(ap, lda, asum, w, b.k, acc);
    return;
  }
  if (mr == 4) {
    tile_4x4(ap, lda, asum, w, b.k, acc);
    return;
  }
  scratch.rows.assign(size_t(4 * scratch.lda), 0);
  std::memcpy(scratch.rows.data(), ap, size_t(mr * lda));
  uint32_t sums[4] = {0, 0, 0, 0};
  for (int i = 0; i < mr; ++i) sums[i] = asum[i];
  tile_4x4(scratch.rows.data(), lda, sums, w, b.k, acc);
}

bool has_vnni() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  }();
  return yes;
}

Int8Kernel choose_kernel() {
  const char* v = std::getenv("CATENA_CPU_INT8");
  const std::string want = v ? v : "";
  if (want == "scalar") return Int8Kernel::scalar;
  if (want != "vnni" && onednn().loaded) return Int8Kernel::onednn;
  return has_vnni() ? Int8Kernel::vnni : Int8Kernel::scalar;
}

// acc (m x n) = A Bᵀ through `block`, handing each row's results to
// store(i, j0, count, acc): acc[t] is the result at (i, j0 + t).
template <class Store>
void product(BlockFn block, const Rows& a, const Rows& b, int64_t m, int64_t n, const Store& store) {
  const int64_t k = a.k;
  // A's rows padded to whole vectors of 64 with zeros, and their sums.
  const int64_t lda = std::max<int64_t>(64, (k + 63) / 64 * 64);
  std::vector<int8_t> ap(size_t(m * lda), 0);
  std::vector<uint32_t> asum(size_t(m), 0);
  for (int64_t i = 0; i < m; ++i) {
    const int8_t* src = a.p + i * a.ld;
    if (k) std::memcpy(ap.data() + i * lda, src, size_t(k));
    uint32_t sum = 0;
    for (int64_t p = 0; p < k; ++p) sum += uint32_t(int32_t(src[p]));
    asum[size_t(i)] = sum;
  }
  // Panels of B rows small enough to stay in the L1/L2 cache while every row of A passes.
  const int64_t panel = std::max<int64_t>(4, (int64_t(48) << 10) / std::max<int64_t>(1, k) / 4 * 4);
  auto rows = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    uint32_t acc[16];
    Scratch scratch(lda);
    for (int64_t jp = j0; jp < j1; jp += panel) {
      const int64_t jp1 = std::min(j1, jp + panel);
      for (int64_t i = i0; i < i1; i += 4) {
        const int mr = int(std::min<int64_t>(4, i1 - i));
        for (int64_t j = jp; j < jp1; j += 4) {
          const int nr = int(std::min<int64_t>(4, jp1 - j));
          block(ap.data() + i * lda, lda, asum.data() + i, mr, b, j, nr, acc, scratch);
          for (int r = 0; r < mr; ++r) store(i + r, j, nr, acc + r * 4);
        }
      }
    }
  };
  // Few rows (inference at small batch): split the output columns; else the rows.
  const int64_t work = std::max<int64_t>(1, k);
  if (m < 8) {
    parallel_for((n + 3) / 4, std::max<int64_t>(1, 16384 / (work * m)),
                 [&](int64_t c0, int64_t c1) { rows(0, m, c0 * 4, std::min(n, c1 * 4)); });
  } else {
    parallel_for((m + 3) / 4, std::max<int64_t>(1, 16384 / (work * n)),
                 [&](int64_t r0, int64_t r1) { rows(r0 * 4, std::min(m, r1 * 4), 0, n); });
  }
}

// The same product by oneDNN: each part of the split (columns when there are few rows or
// many columns, else rows) is one single-threaded oneDNN call, written straight into an
// int32 result with unit column stride (`direct`, row stride ldc) or into the part's own
// buffer and handed to store row by row. Parts get at least 2^18 multiply-adds (about a
// microsecond): smaller ones cost more to hand to a thread than they save.
template <class Store>
void product_onednn(const Rows& a, const Rows& b, int64_t m, int64_t n, int32_t* direct, int64_t ldc,
                    const Store& store) {
  const OneDnn& d = onednn();
  const int64_t k = a.k;
  auto part = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    const int64_t mi = i1 - i0, nj = j1 - j0;
    std::unique_ptr<int32_t[]> own(direct ? nullptr : new int32_t[size_t(mi * nj)]);  // written whole by oneDNN
    int32_t* c = direct ? direct + i0 * ldc + j0 : own.get();
    if (!onednn_gemm_i8(d, a.p + i0 * a.ld, a.ld, b.p + j0 * b.ld, b.ld, mi, nj, k, c, direct ? ldc : nj))
      throw std::runtime_error("oneDNN's dnnl_gemm_s8s8s32 failed");
    if (direct) return;
    for (int64_t i = 0; i < mi; ++i) store(i0 + i, j0, nj, reinterpret_cast<const uint32_t*>(c + i * nj));
  };
  constexpr int64_t kMinPart = int64_t(1) << 18;
  if (m < 8 || n >= 256) {  // each part packs only its own columns of B
    parallel_for((n + 15) / 16, std::max<int64_t>(1, kMinPart / (k * m * 16)),
                 [&](int64_t c0, int64_t c1) { part(0, m, c0 * 16, std::min(n, c1 * 16)); });
  } else {
    parallel_for(m, std::max<int64_t>(1, kMinPart / (k * n)), [&](int64_t r0, int64_t r1) { part(r0, r1, 0, n); });
  }
}

const Int8Kernel& chosen_kernel() {
  static const Int8Kernel kernel = choose_kernel();
  return kernel;
}

// The product by `kernel`, the results handed to store(i, j0, count, acc) a row at a time;
// an int32 result with unit column stride may be given as `direct` (row stride ldc) for
// oneDNN to write into.
template <class Store>
void product_by(Int8Kernel kernel, const Rows& a, const Rows& b, int64_t m, int64_t n, int32_t* direct, int64_t ldc,
                const Store& store) {
  if (kernel == Int8Kernel::onednn && a.k > 0) return product_onednn(a, b, m, n, direct, ldc, store);
  product(kernel == Int8Kernel::scalar ? block_scalar : block_vnni, a, b, m, n, store);
}

void run_gemm_i8(const ct_op& op) {
  const ct_tensor* y = op.outputs[0];
  const int64_t m = y->dl.shape[0], n = y->dl.shape[1];
  if (m == 0 || n == 0) return;
  const Rows a = dense_rows(op.inputs[0]);
  const Rows b = dense_rows(op.inputs[1]);
  const bool scaled = op.num_inputs >= 4;
  const ct_tensor* sa = scaled ? op.inputs[2] : nullptr;
  const ct_tensor* sb = scaled ? op.inputs[3] : nullptr;
  const ct_tensor* bias = op.num_inputs == 5 ? op.inputs[4] : nullptr;
  // The scales and the bias as contiguous vectors, so each row's rescaling is one loop.
  auto floats = [](const ct_tensor* t, int64_t count) {
    std::vector<float> v(t ? size_t(count) : 0);
    if (t)
      for (int64_t i = 0; i < count; ++i) v[size_t(i)] = *reinterpret_cast<const float*>(base_of(t) + i * t->dl.strides[0] * 4);
    return v;
  };
  const std::vector<float> sav = floats(sa, m), sbv = floats(sb, n), biasv = floats(bias, n);
  char* yb = base_of(y);
  const int64_t ys0 = y->dl.strides[0], ys1 = y->dl.strides[1];
  const bool dense_rows_out = ys1 == 1 && (m == 1 || ys0 >= n);
  int32_t* direct = !scaled && dense_rows_out ? reinterpret_cast<int32_t*>(yb) : nullptr;
  Int8Kernel kernel = chosen_kernel();
  // Small products (a 10-class output layer): oneDNN's cost per call outweighs its speed.
  if (kernel == Int8Kernel::onednn && m * n * a.k < (int64_t(1) << 16) && has_vnni()) kernel = Int8Kernel::vnni;
  product_by(kernel, a, b, m, n, direct, m == 1 ? n : ys0, [&](int64_t i, int64_t j0, int64_t count, const uint32_t* acc) {
    if (!scaled) {
      int32_t* out = reinterpret_cast<int32_t*>(yb) + i * ys0 + j0 * ys1;
      for (int64_t t = 0; t < count; ++t) out[t * ys1] = int32_t(acc[t]);
      return;
    }
    float* out = reinterpret_cast<float*>(yb) + i * ys0 + j0 * ys1;
    const float si = sav[size_t(i)];
    const float* sj = sbv.data() + j0;
    if (bias && ys1 == 1) {
      const float* bj = biasv.data() + j0;
      for (int64_t t = 0; t < count; ++t) out[t] = float(int32_t(acc[t])) * (si * sj[t]) + bj[t];
    } else if (ys1 == 1) {
      for (int64_t t = 0; t < count; ++t) out[t] = float(int32_t(acc[t])) * (si * sj[t]);
    } else {
      for (int64_t t = 0; t < count; ++t) {
        float v = float(int32_t(acc[t])) * (si * sj[t]);
        if (bias) v = v + biasv[size_t(j0 + t)];
        out[t * ys1] = v;
      }
    }
  });
}

const char* support_gemm_i8(const ct_op& op) {
  if (op.num_outputs != 1 || (op.num_inputs != 2 && op.num_inputs != 4 && op.num_inputs != 5))
    return "takes A, B and optionally a_scale, b_scale and bias; gives Y";
  const ct_tensor *a = op.inputs[0], *b = op.inputs[1], *y = op.outputs[0];
  if (!is_dtype(a, CT_DTYPE_INT, 8) || !is_dtype(b, CT_DTYPE_INT, 8)) return "A and B must be int8";
  if (a->dl.ndim != 2 || b->dl.ndim != 2 || y->dl.ndim != 2) return "A, B and Y must be matrices";
  if (a->dl.shape[1] != b->dl.shape[1] || y->dl.shape[0] != a->dl.shape[0] || y->dl.shape[1] != b->dl.shape[0])
    return "shapes must be A (M, K), B (N, K), Y (M, N)";
  const bool scaled = op.num_inputs >= 4;
  if (scaled ? !is_dtype(y, CT_DTYPE_FLOAT, 32) : !is_dtype(y, CT_DTYPE_INT, 32))
    return scaled ? "Y must be float32 with scales" : "Y must be int32 without scales";
  for (int i = 2; i < op.num_inputs; ++i) {
    const ct_tensor* v = op.inputs[i];
    const int64_t want = i == 2 ? a->dl.shape[0] : b->dl.shape[0];
    if (!is_dtype(v, CT_DTYPE_FLOAT, 32) || v->dl.ndim != 1 || v->dl.shape[0] != want)
      return "a_scale (M), b_scale (N) and bias (N) must be float32 vectors";
  }
  return nullptr;
}

}  // namespace

bool gemm_i8_for_tests(Int8Kernel kernel, const int8_t* a, const int8_t* b, int64_t m, int64_t n, int64_t k,
                       int32_t* y) {
  if (kernel == Int8Kernel::onednn && !onednn().loaded) return false;
  if (kernel == Int8Kernel::vnni && !has_vnni()) return false;
  Rows ra{a, m, k, std::max<int64_t>(k, 1), {}}, rb{b, n, k, std::max<int64_t>(k, 1), {}};
  product_by(kernel, ra, rb, m, n, nullptr, n, [&](int64_t i, int64_t j0, int64_t count, const uint32_t* acc) {
    for (int64_t t = 0; t < count; ++t) y[i * n + j0 + t] = int32_t(acc[t]);
  });
  return true;
}

std::string int8_kernel_description() {
  switch (chosen_kernel()) {
    case Int8Kernel::onednn: return "int8 GEMM by oneDNN " + onednn().version;
    case Int8Kernel::vnni: return "int8 GEMM by Catena's AVX-512 VNNI kernel (" + onednn().error + ")";
    default: return "int8 GEMM by Catena's scalar kernel";
  }
}

void add_int8_kernels(std::vector<KernelDef>& k) {
  k.push_back({"core.quantize", 1, support_quantize, run_quantize});
  k.push_back({"core.dequantize", 1, support_dequantize, run_dequantize});
  k.push_back({"core.gemm_i8", 1, support_gemm_i8, run_gemm_i8});
}

}  // namespace catena_cpu
