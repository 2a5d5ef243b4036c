// 2-D convolution: core.conv2d, core.conv2d_grad_input, core.conv2d_grad_weight, by
// im2col / col2im and GEMM, per image and group; stride-1 float32 forward and input
// gradient by the direct kernels of conv_direct.cpp on AVX-512. float16/bfloat16 compute
// in float32.
#include "conv_direct.hpp"
#include "kernels.hpp"
#include "openblas.hpp"
#include "scalar.hpp"
#include "threadpool.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <vector>

namespace catena_cpu {

namespace {

// The op's geometry as the SDK reads it from OPS.md (operands in their roles, extents,
// stride, pad, dilation, groups, cover_all).
using Geometry = ct_sdk_conv2d;

// A dense copy of a strided 4-D tensor in the compute type W.
template <class T, class W>
std::vector<W> dense(const ct_tensor* t) {
  std::vector<W> out(static_cast<size_t>(numel(t)));
  const char* base = base_of(t);
  const int64_t* s = t->dl.strides;
  const int64_t* sh = t->dl.shape;
  int64_t k = 0;
  for (int64_t a = 0; a < sh[0]; ++a)
    for (int64_t b = 0; b < sh[1]; ++b)
      for (int64_t c = 0; c < sh[2]; ++c)
        for (int64_t d = 0; d < sh[3]; ++d)
          out[k++] = static_cast<W>(Compute<T>::load(
              reinterpret_cast<const T*>(base)[a * s[0] + b * s[1] + c * s[2] + d * s[3]]));
  return out;
}

template <class T, class W>
void store(const ct_tensor* t, const std::vector<W>& v) {
  char* base = base_of(t);
  const int64_t* s = t->dl.strides;
  const int64_t* sh = t->dl.shape;
  int64_t k = 0;
  for (int64_t a = 0; a < sh[0]; ++a)
    for (int64_t b = 0; b < sh[1]; ++b)
      for (int64_t c = 0; c < sh[2]; ++c)
        for (int64_t d = 0; d < sh[3]; ++d)
          reinterpret_cast<T*>(base)[a * s[0] + b * s[1] + c * s[2] + d * s[3]] =
              Compute<T>::store(static_cast<typename Compute<T>::type>(v[k++]));
}

// Rows with stride 1 along x, on AVX-512: 16 columns per step, masked, so the short rows
// of small images (14, 28 wide) cost one or two instructions instead of a loop each.
bool use_avx512_rows() {
  static const bool on = __builtin_cpu_supports("avx512f");
  return on;
}

// Lanes [lo, hi) of 16, clamped.
inline uint32_t lane_mask(int64_t lo, int64_t hi) {
  lo = std::max<int64_t>(lo, 0);
  hi = std::min<int64_t>(hi, 16);
  if (hi <= lo) return 0;
  return (hi - lo == 16 ? 0xffffu : ((1u << (hi - lo)) - 1u)) << lo;
}

// dst[y, x] = img[y * sy - ph + ky * dy, x + off] for x in [x_lo, x_hi), else 0.
__attribute__((target("avx512f"))) void im2col_rows_avx512(const float* img, float* dst, const Geometry& g,
                                                          int64_t ky, int64_t off, int64_t x_lo, int64_t x_hi) {
  for (int64_t y = 0; y < g.oh; ++y) {
    const int64_t iy = y * g.sy - g.ph + ky * g.dy;
    float* d = dst + y * g.ow;
    const bool inside = iy >= 0 && iy < g.h;
    // Addresses as integers: the masked-off lanes may lie outside the image.
    const uintptr_t srow = reinterpret_cast<uintptr_t>(img) + uintptr_t((iy * g.w + off) * int64_t(sizeof(float)));
    for (int64_t x0 = 0; x0 < g.ow; x0 += 16) {
      const __mmask16 store = __mmask16(lane_mask(0, g.ow - x0));
      const __mmask16 load = inside ? __mmask16(lane_mask(x_lo - x0, x_hi - x0) & store) : __mmask16(0);
      const __m512 v = _mm512_maskz_loadu_ps(load, reinterpret_cast<const float*>(srow + uintptr_t(x0 * 4)));
      _mm512_mask_storeu_ps(d + x0, store, v);
    }
  }
}

// img[y * sy - ph + ky * dy, x + off] += src[y, x] for x in [x_lo, x_hi), rows inside.
__attribute__((target("avx512f"))) void col2im_rows_avx512(const float* src, float* img, const Geometry& g,
                                                          int64_t ky, int64_t off, int64_t x_lo, int64_t x_hi) {
  for (int64_t y = 0; y < g.oh; ++y) {
    const int64_t iy = y * g.sy - g.ph + ky * g.dy;
    if (iy < 0 || iy >= g.h) continue;
    const uintptr_t drow = reinterpret_cast<uintptr_t>(img) + uintptr_t((iy * g.w + off) * int64_t(sizeof(float)));
    const float* s = src + y * g.ow;
    for (int64_t x0 = 0; x0 < g.ow; x0 += 16) {
      const __mmask16 m = __mmask16(lane_mask(x_lo - x0, x_hi - x0) & lane_mask(0, g.ow - x0));
      if (!m) continue;
      float* d = reinterpret_cast<float*>(drow + uintptr_t(x0 * 4));
      const __m512 a = _mm512_maskz_loadu_ps(m, d);
      const __m512 b = _mm512_maskz_loadu_ps(m, s + x0);
      _mm512_mask_storeu_ps(d, m, _mm512_add_ps(a, b));
    }
  }
}

// The images [n0, n0 + nb) as columns: col[(c, ky, kx), (j, y, x)] for the channels
// [c0, c0 + cg), so that one GEMM covers every image of the chunk.
template <class W>
void im2col(const W* x, const Geometry& g, int64_t n0, int64_t nb, int64_t c0, int64_t cg, W* col) {
  const int64_t ohw = g.oh * g.ow, rows = cg * g.kh * g.kw, ld = nb * ohw;
  parallel_for(rows * nb, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, ohw)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t r = t / nb, j = t % nb;
      const int64_t c = r / (g.kh * g.kw), ky = (r / g.kw) % g.kh, kx = r % g.kw;
      const W* img = x + ((n0 + j) * g.c + c0 + c) * g.h * g.w;
      W* dst = col + r * ld + j * ohw;
      // The output columns whose input column is inside the image: [x_lo, x_hi).
      const int64_t off = kx * g.dx - g.pw;
      int64_t x_lo = off >= 0 ? 0 : (-off + g.sx - 1) / g.sx;
      int64_t x_hi = g.w - off <= 0 ? 0 : std::min(g.ow, (g.w - off + g.sx - 1) / g.sx);
      x_lo = std::min(x_lo, x_hi);
      if constexpr (std::is_same_v<W, float>) {
        if (g.sx == 1 && use_avx512_rows()) {
          im2col_rows_avx512(img, dst, g, ky, off, x_lo, x_hi);
          continue;
        }
      }
      for (int64_t y = 0; y < g.oh; ++y) {
        const int64_t iy = y * g.sy - g.ph + ky * g.dy;
        // Plain loops: the rows are short (an image's width), where calls to memset and
        // memmove cost more than the copying.
        W* __restrict d = dst + y * g.ow;
        if (iy < 0 || iy >= g.h) {
          for (int64_t xx = 0; xx < g.ow; ++xx) d[xx] = W(0);
          continue;
        }
        const W* __restrict srow = img + iy * g.w + off;
        for (int64_t xx = 0; xx < x_lo; ++xx) d[xx] = W(0);
        if (g.sx == 1) {
          for (int64_t xx = x_lo; xx < x_hi; ++xx) d[xx] = srow[xx];
        } else {
          for (int64_t xx = x_lo; xx < x_hi; ++xx) d[xx] = srow[xx * g.sx];
        }
        for (int64_t xx = x_hi; xx < g.ow; ++xx) d[xx] = W(0);
      }
    }
  });
}

// gx[n0 + j, c0 + c, iy, ix] += col[(c, ky, kx), (j, y, x)]; parallel over (image,
// channel), whose outputs are disjoint.
template <class W>
void col2im(const W* col, const Geometry& g, int64_t n0, int64_t nb, int64_t c0, int64_t cg, W* gx) {
  const int64_t ohw = g.oh * g.ow, ld = nb * ohw;
  parallel_for(nb * cg, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t j = t / cg, c = t % cg;
      W* img = gx + ((n0 + j) * g.c + c0 + c) * g.h * g.w;
      for (int64_t ky = 0; ky < g.kh; ++ky)
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const W* src = col + ((c * g.kh + ky) * g.kw + kx) * ld + j * ohw;
          const int64_t off = kx * g.dx - g.pw;
          int64_t x_lo = off >= 0 ? 0 : (-off + g.sx - 1) / g.sx;
          int64_t x_hi = g.w - off <= 0 ? 0 : std::min(g.ow, (g.w - off + g.sx - 1) / g.sx);
          x_lo = std::min(x_lo, x_hi);
          if constexpr (std::is_same_v<W, float>) {
            if (g.sx == 1 && use_avx512_rows()) {
              col2im_rows_avx512(src, img, g, ky, off, x_lo, x_hi);
              continue;
            }
          }
          for (int64_t y = 0; y < g.oh; ++y) {
            const int64_t iy = y * g.sy - g.ph + ky * g.dy;
            if (iy < 0 || iy >= g.h) continue;
            W* drow = img + iy * g.w + off;
            const W* s = src + y * g.ow;
            if (g.sx == 1) {
              for (int64_t xx = x_lo; xx < x_hi; ++xx) drow[xx] += s[xx];
            } else {
              for (int64_t xx = x_lo; xx < x_hi; ++xx) drow[xx * g.sx] += s[xx];
            }
          }
        }
    }
  });
}

enum class Mode { forward, grad_input, grad_weight };

// Up to this many taps (in_channels / groups x kh x kw), direct loops beat im2col + GEMM.
constexpr int64_t kSmallK = 32;

// One image, few taps: y[o, :] = b[o] + sum_r W[o, r] col[r, :].
template <class W>
__attribute__((always_inline)) inline void taps_forward_t(const W* col, const W* w, const W* bias, W* y, int64_t oc, int64_t kdim, int64_t ohw) {
  for (int64_t o = 0; o < oc; ++o) {
    W* __restrict dst = y + o * ohw;
    const W bo = bias[o];
    for (int64_t q = 0; q < ohw; ++q) dst[q] = bo;
    for (int64_t r = 0; r < kdim; ++r) {
      const W wr = w[o * kdim + r];
      const W* __restrict src = col + r * ohw;
      for (int64_t q = 0; q < ohw; ++q) dst[q] += wr * src[q];
    }
  }
}

// One image, few taps: acc[o, r] += dot(gy[o, :], col[r, :]). Every tap of one output
// channel is summed at once, in 16 fixed lanes each (independent chains, one read of
// gy[o]), the lanes added in order: the same bits on every run.
template <class W>
__attribute__((always_inline)) inline void taps_grad_weight_t(const W* col, const W* gy, double* acc, int64_t oc, int64_t kdim, int64_t ohw) {
  constexpr int64_t L = 16;
  for (int64_t o = 0; o < oc; ++o) {
    const W* __restrict gyo = gy + o * ohw;
    W lanes[kSmallK][L] = {};
    int64_t q = 0;
    for (; q + L <= ohw; q += L)
      for (int64_t r = 0; r < kdim; ++r) {
        const W* __restrict c = col + r * ohw + q;
        for (int64_t l = 0; l < L; ++l) lanes[r][l] += gyo[q + l] * c[l];
      }
    for (int64_t r = 0; r < kdim; ++r) {
      W sum = 0;
      for (int64_t l = 0; l < L; ++l) sum += lanes[r][l];
      for (int64_t t = q; t < ohw; ++t) sum += gyo[t] * col[r * ohw + t];
      acc[o * kdim + r] += double(sum);
    }
  }
}

#define CATENA_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
CATENA_SIMD void taps_forward(const float* col, const float* w, const float* bias, float* y, int64_t oc, int64_t kdim,
                              int64_t ohw) {
  taps_forward_t(col, w, bias, y, oc, kdim, ohw);
}
void taps_forward(const double* col, const double* w, const double* bias, double* y, int64_t oc, int64_t kdim,
                  int64_t ohw) {
  taps_forward_t(col, w, bias, y, oc, kdim, ohw);
}
CATENA_SIMD void taps_grad_weight(const float* col, const float* gy, double* acc, int64_t oc, int64_t kdim,
                                  int64_t ohw) {
  taps_grad_weight_t(col, gy, acc, oc, kdim, ohw);
}
void taps_grad_weight(const double* col, const double* gy, double* acc, int64_t oc, int64_t kdim, int64_t ohw) {
  taps_grad_weight_t(col, gy, acc, oc, kdim, ohw);
}
#undef CATENA_SIMD

// Uninitialised working memory kept per thread between calls (the column buffers are tens
// of megabytes: allocating and zero-filling them each call cost more than the copies).
template <class W>
class Scratch {
 public:
  Scratch(int slot, size_t n) {
    thread_local std::vector<std::unique_ptr<char[]>> blocks(2);
    thread_local std::vector<size_t> sizes(2, 0);
    size_t bytes = n * sizeof(W);
    if (sizes[size_t(slot)] < bytes) {
      blocks[size_t(slot)].reset(new char[bytes]);
      sizes[size_t(slot)] = bytes;
    }
    p_ = reinterpret_cast<W*>(blocks[size_t(slot)].get());
  }
  W* data() const { return p_; }

 private:
  W* p_;
};

// A tensor's elements as a dense array of W: the tensor's own memory when it already is
// one, else a converted copy.
template <class T, class W>
struct DenseView {
  std::vector<W> copy;
  const W* data;
  explicit DenseView(const ct_tensor* t) {
    if constexpr (std::is_same_v<T, W>) {
      if (is_dense(t)) {
        data = reinterpret_cast<const W*>(base_of(t));
        return;
      }
    }
    copy = dense<T, W>(t);
    data = copy.data();
  }
};

// Where an output is written: its own memory when dense and of type W, else a buffer
// stored back at the end.
template <class T, class W>
struct DenseOut {
  const ct_tensor* t;
  std::vector<W> buffer;
  W* data;
  bool direct = false;
  explicit DenseOut(const ct_tensor* tt) : t(tt) {
    if constexpr (std::is_same_v<T, W>) direct = is_dense(t);
    if (direct) {
      data = reinterpret_cast<W*>(base_of(t));
    } else {
      buffer.assign(static_cast<size_t>(numel(t)), W(0));
      data = buffer.data();
    }
  }
  void finish() {
    if (!direct) store<T, W>(t, buffer);
  }
};

// How the images are taken, in chunks whose columns are built and multiplied together.
// With enough images, each thread takes whole chunks sized for its own core's L2 cache and
// multiplies them with single-threaded GEMMs while the columns are still there; otherwise
// the chunks are larger and go one after another, each step spread over the threads.
struct Plan {
  int64_t chunk = 1;        // images per chunk
  int64_t small = 1;        // images per chunk that fits a core's cache
  bool per_thread = false;  // chunks run in parallel, GEMMs single-threaded
};

Plan plan_chunks(int64_t n, int64_t per_image) {
  // Column elements per chunk (CATENA_CONV_CHUNK overrides the per-thread one, for tuning).
  static const int64_t small = env_integer("CATENA_CONV_CHUNK", int64_t(1) << 17, 1, int64_t(1) << 40);
  const int64_t large = int64_t(1) << 21;
  per_image = std::max<int64_t>(1, per_image);
  Plan p;
  p.small = p.chunk = std::max<int64_t>(1, std::min<int64_t>(n, small / per_image));
  p.per_thread = num_threads() > 1 && (n + p.chunk - 1) / p.chunk >= 2 * num_threads();
  if (!p.per_thread) p.chunk = std::max<int64_t>(1, std::min<int64_t>(n, large / per_image));
  return p;
}

// Run body(first, count) over the units [0, units) of `size` images each (the last may be
// shorter), as the plan says. Which thread runs a unit never changes what it computes, so
// the parts follow the threads' measured speeds.
template <class Fn>
void for_units(const Plan& p, int64_t n, int64_t size, const Fn& body) {
  const int64_t units = (n + size - 1) / size;
  auto run = [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) body(u * size, std::min(size, n - u * size));
  };
  if (!p.per_thread) return run(0, units);
  parallel_for_balanced(units, (units + kMaxBlasCalls - 1) / kMaxBlasCalls, run);  // each part calls OpenBLAS
}

template <Mode M>
void run_conv(const ct_op& op) {
  Geometry g;
  const char* why = nullptr;
  ct_sdk_conv2d_geometry(&op, &g, &why);  // support_conv checked it
  const ct_tensor *x = g.big, *w = g.filter, *y = g.small;
  const int64_t cg = g.c / g.groups, ocg = g.oc / g.groups, ohw = g.oh * g.ow, kdim = cg * g.kh * g.kw;
  const Plan plan = plan_chunks(g.n, kdim * ohw);
  const int64_t chunk = plan.chunk;
  const ConvShape shape{g.n, g.c, g.h, g.w, g.oc, g.kh, g.kw, g.oh, g.ow, g.sy, g.sx, g.ph, g.pw, g.dy, g.dx, g.groups};
  const bool direct = M == Mode::grad_weight ? direct_conv_grad_weight_applies(shape) : direct_conv_applies(shape);
  visit(ty_of(x->dl.dtype), [&](auto tag) {
    using T = decltype(tag);
    using W = std::conditional_t<std::is_same_v<T, double>, double, float>;
    if constexpr (std::is_integral_v<T>) {
      return 0;
    } else {
      // The calling thread's working memory for one chunk: columns and a GEMM result.
      auto scratch = [&] {
        return std::make_pair(Scratch<W>(0, size_t(kdim * chunk * ohw)), Scratch<W>(1, size_t(ocg * chunk * ohw)));
      };
      if constexpr (M == Mode::forward) {
        DenseView<T, W> xv(x), wv(w);
        DenseOut<T, W> yo(y);
        std::vector<W> bias(static_cast<size_t>(g.oc), W(0));
        if (op.num_inputs == 3) {
          const ct_tensor* b = op.inputs[2];
          for (int64_t o = 0; o < g.oc; ++o)
            bias[size_t(o)] = static_cast<W>(Compute<T>::load(reinterpret_cast<const T*>(base_of(b))[o * b->dl.strides[0]]));
        }
        if (kdim <= kSmallK && g.groups == 1) {
          // Few input taps (a first layer on 1-3 channels): per image, y[o] = b[o] +
          // sum_r W[o, r] col[r], vectorised along the image, written in place.
          parallel_for(g.n, 1, [&](int64_t b, int64_t e) {
            std::vector<W> c1(size_t(kdim * ohw));
            for (int64_t n = b; n < e; ++n) {
              im2col(xv.data, g, n, 1, 0, g.c, c1.data());
              taps_forward(c1.data(), wv.data, bias.data(), yo.data + n * g.oc * ohw, g.oc, kdim, ohw);
            }
          });
          yo.finish();
          return 0;
        }
        if constexpr (std::is_same_v<W, float>) {
          if (direct) {
            direct_conv_forward(shape, xv.data, wv.data, op.num_inputs == 3 ? bias.data() : nullptr, yo.data);
            yo.finish();
            return 0;
          }
        }
        for_units(plan, g.n, chunk, [&](int64_t n0, int64_t nb) {
          auto [col, tmp] = scratch();
          const int64_t ld = nb * ohw;
          for (int64_t gi = 0; gi < g.groups; ++gi) {
            im2col(xv.data, g, n0, nb, gi * cg, cg, col.data());
            dense_gemm<W>(false, false, ocg, ld, kdim, W(1), wv.data + gi * ocg * kdim, kdim, col.data(), ld, W(0),
                          tmp.data(), ld);
            // (o, j, p) -> y[n0 + j, gi * ocg + o, p], plus the bias.
            parallel_for(nb * ocg, 4, [&](int64_t b, int64_t e) {
              for (int64_t t = b; t < e; ++t) {
                const int64_t j = t / ocg, o = t % ocg;
                const W* src = tmp.data() + o * ld + j * ohw;
                W* dst = yo.data + ((n0 + j) * g.oc + gi * ocg + o) * ohw;
                const W bo = bias[size_t(gi * ocg + o)];
                for (int64_t p = 0; p < ohw; ++p) dst[p] = src[p] + bo;
              }
            });
          }
        });
        yo.finish();
      } else {
        DenseView<T, W> gyv(y);
        // gy of the chunk and group as (ocg, nb * ohw), into buf.
        auto gather_gy = [&](int64_t n0, int64_t nb, int64_t gi, W* buf) {
          const int64_t ld = nb * ohw;
          parallel_for(nb * ocg, 4, [&](int64_t b, int64_t e) {
            for (int64_t t = b; t < e; ++t) {
              const int64_t j = t / ocg, o = t % ocg;
              const W* src = gyv.data + ((n0 + j) * g.oc + gi * ocg + o) * ohw;
              std::copy(src, src + ohw, buf + o * ld + j * ohw);
            }
          });
        };
        if constexpr (M == Mode::grad_input) {
          DenseView<T, W> wv(w);
          DenseOut<T, W> gx(x);
          if constexpr (std::is_same_v<W, float>) {
            if (direct) {
              direct_conv_grad_input(shape, gyv.data, wv.data, gx.data);
              gx.finish();
              return 0;
            }
          }
          const int64_t image = g.c * g.h * g.w;
          for_units(plan, g.n, chunk, [&](int64_t n0, int64_t nb) {
            auto [col, tmp] = scratch();
            const int64_t ld = nb * ohw;
            std::fill(gx.data + n0 * image, gx.data + (n0 + nb) * image, W(0));
            for (int64_t gi = 0; gi < g.groups; ++gi) {
              gather_gy(n0, nb, gi, tmp.data());
              dense_gemm<W>(true, false, kdim, ld, ocg, W(1), wv.data + gi * ocg * kdim, kdim, tmp.data(), ld, W(0),
                            col.data(), ld);
              col2im(col.data(), g, n0, nb, gi * cg, cg, gx.data);
            }
          });
          gx.finish();
        } else {
          DenseView<T, W> xv(x);
          DenseOut<T, W> gw(w);
          if constexpr (std::is_same_v<W, float>) {
            if (direct && direct_conv_grad_weight(shape, xv.data, gyv.data, gw.data)) {
              gw.finish();
              return 0;
            }
          }
          if (kdim <= kSmallK && g.groups == 1) {
            // Few taps: gW[o, r] = sum over images and pixels of gy[n, o] col_n[r], by
            // dot products. Images go in fixed blocks whose partial sums are added in
            // block order, so the result does not depend on the thread count.
            const int64_t block = 8, blocks = (g.n + block - 1) / block;
            std::vector<double> partial(size_t(blocks * g.oc * kdim), 0.0);
            parallel_for(blocks, 1, [&](int64_t b, int64_t e) {
              std::vector<W> c1(size_t(kdim * ohw));
              for (int64_t bl = b; bl < e; ++bl) {
                double* acc = partial.data() + bl * g.oc * kdim;
                for (int64_t n = bl * block; n < std::min(g.n, (bl + 1) * block); ++n) {
                  im2col(xv.data, g, n, 1, 0, g.c, c1.data());
                  taps_grad_weight(c1.data(), gyv.data + n * g.oc * ohw, acc, g.oc, kdim, ohw);
                }
              }
            });
            for (int64_t i = 0; i < g.oc * kdim; ++i) {
              double total = 0;
              for (int64_t bl = 0; bl < blocks; ++bl) total += partial[size_t(bl * g.oc * kdim + i)];
              gw.data[i] = W(total);
            }
            gw.finish();
            return 0;
          }
          // Each unit of up to 8 cache-sized chunks sums its images into its own partial
          // gW; the partials are added in unit order. Units and chunks depend only on
          // the shapes, so the result does not depend on the threads.
          const int64_t small = plan.small, per_unit = 8 * small;
          const int64_t units = (g.n + per_unit - 1) / per_unit, wsize = g.oc * kdim;
          std::vector<W> partial(size_t(units > 1 ? units * wsize : 0));
          for_units(plan, g.n, per_unit, [&](int64_t u0, int64_t un) {
            auto [col, tmp] = scratch();
            W* acc = units > 1 ? partial.data() + (u0 / per_unit) * wsize : gw.data;
            for (int64_t n0 = u0; n0 < u0 + un; n0 += small) {
              const int64_t nb = std::min(small, u0 + un - n0), ld = nb * ohw;
              const W beta = n0 == u0 ? W(0) : W(1);
              for (int64_t gi = 0; gi < g.groups; ++gi) {
                gather_gy(n0, nb, gi, tmp.data());
                im2col(xv.data, g, n0, nb, gi * cg, cg, col.data());
                dense_gemm<W>(false, true, ocg, kdim, ld, W(1), tmp.data(), ld, col.data(), ld, beta,
                              acc + gi * ocg * kdim, kdim);
              }
            }
          });
          if (units > 1) {
            parallel_for(wsize, 4096, [&](int64_t b, int64_t e) {
              for (int64_t i = b; i < e; ++i) {
                W total = partial[size_t(i)];
                for (int64_t u = 1; u < units; ++u) total += partial[size_t(u * wsize + i)];
                gw.data[i] = total;
              }
            });
          }
          gw.finish();
        }
      }
      return 0;
    }
  });
}

template <Mode M>
const char* support_conv(const ct_op& op) {
  int want_in = M == Mode::forward ? 2 : 2;
  if (op.num_outputs != 1 || op.num_inputs < want_in || op.num_inputs > (M == Mode::forward ? 3 : 2))
    return M == Mode::forward ? "takes x, W[, b] and one output" : "takes two inputs and one output";
  const ct_tensor* x = M == Mode::grad_input ? op.outputs[0] : op.inputs[0];
  const ct_tensor* w = M == Mode::grad_weight ? op.outputs[0] : op.inputs[1];
  const ct_tensor* y = M == Mode::forward ? op.outputs[0] : (M == Mode::grad_input ? op.inputs[0] : op.inputs[1]);
  Ty t = ty_of(x->dl.dtype);
  if (!is_float(t)) return "needs a floating-point dtype";
  if (ty_of(w->dl.dtype) != t || ty_of(y->dl.dtype) != t) return "all operands must share one dtype";
  if (x->dl.ndim != 4 || w->dl.ndim != 4 || y->dl.ndim != 4) return "x, W and y must be 4-D (NCHW, OIHW)";
  Geometry g;
  const char* why = nullptr;
  if (!ct_sdk_conv2d_geometry(&op, &g, &why)) return why;
  const int64_t oc = g.oc;
  if (w->dl.shape[1] != g.c / g.groups) return "W's second extent must be in_channels / groups";
  if (y->dl.shape[0] != g.n || y->dl.shape[1] != oc) return "y must be (N, out_channels, oh, ow)";
  if (g.oh != ct_sdk_out_size(g.h, g.kh, g.sy, g.ph, g.dy, g.cover_all) ||
      g.ow != ct_sdk_out_size(g.w, g.kw, g.sx, g.pw, g.dx, g.cover_all))
    return "y's spatial extents do not follow from x, W, stride, pad and dilation";
  if (M == Mode::forward && op.num_inputs == 3) {
    const ct_tensor* b = op.inputs[2];
    if (ty_of(b->dl.dtype) != t || b->dl.ndim != 1 || b->dl.shape[0] != oc) return "b must be (out_channels,)";
  }
  return nullptr;
}

}  // namespace

void add_conv_kernels(std::vector<KernelDef>& k) {
  k.push_back({"core.conv2d", 1, support_conv<Mode::forward>, run_conv<Mode::forward>});
  k.push_back({"core.conv2d_grad_input", 1, support_conv<Mode::grad_input>, run_conv<Mode::grad_input>});
  k.push_back({"core.conv2d_grad_weight", 1, support_conv<Mode::grad_weight>, run_conv<Mode::grad_weight>});
}

}  // namespace catena_cpu
