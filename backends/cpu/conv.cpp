// 2-D convolution: core.conv2d, core.conv2d_grad_input, core.conv2d_grad_weight, by
// im2col / col2im and GEMM, per image and group. float16/bfloat16 compute in float32.
#include "kernels.hpp"
#include "scalar.hpp"
#include "threadpool.hpp"

#include <algorithm>
#include <type_traits>
#include <vector>

namespace catena_cpu {

namespace {

struct Geometry {
  int64_t n, c, h, w;        // input
  int64_t oc, kh, kw;        // filter
  int64_t oh, ow;            // output
  int64_t sy, sx, ph, pw, dy, dx, groups;
  bool cover_all;
};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool cover_all) {
  int64_t dk = d * (k - 1) + 1;
  return cover_all ? (in + 2 * p - dk + s - 1) / s + 1 : (in + 2 * p - dk) / s + 1;
}

bool read_params(const ct_op& op, Geometry* g) {
  auto pair = [&](const char* name, int64_t fallback, int64_t* a, int64_t* b) {
    std::vector<int64_t> v = attr_ints(op, name);
    if (v.empty()) v = {fallback, fallback};
    if (v.size() == 1) v.push_back(v[0]);
    *a = v[0];
    *b = v[1];
  };
  pair("stride", 1, &g->sy, &g->sx);
  pair("pad", 0, &g->ph, &g->pw);
  pair("dilation", 1, &g->dy, &g->dx);
  g->groups = attr_int(op, "groups", 1);
  g->cover_all = attr_int(op, "cover_all", 0) != 0;
  return g->sy > 0 && g->sx > 0 && g->ph >= 0 && g->pw >= 0 && g->dy > 0 && g->dx > 0 && g->groups > 0;
}

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

// col[(c, ky, kx), (y, x)] for channels [c0, c0 + cg) of one image.
template <class W>
void im2col(const W* img, const Geometry& g, int64_t cg, W* col) {
  int64_t ohw = g.oh * g.ow;
  parallel_for(cg * g.kh * g.kw, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, ohw)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t c = r / (g.kh * g.kw), ky = (r / g.kw) % g.kh, kx = r % g.kw;
      W* dst = col + r * ohw;
      for (int64_t y = 0; y < g.oh; ++y) {
        int64_t iy = y * g.sy - g.ph + ky * g.dy;
        for (int64_t x = 0; x < g.ow; ++x) {
          int64_t ix = x * g.sx - g.pw + kx * g.dx;
          dst[y * g.ow + x] = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) ? img[(c * g.h + iy) * g.w + ix] : W(0);
        }
      }
    }
  });
}

// img[c, iy, ix] += col[(c, ky, kx), (y, x)]; parallel over channels (disjoint outputs).
template <class W>
void col2im(const W* col, const Geometry& g, int64_t cg, W* img) {
  int64_t ohw = g.oh * g.ow;
  parallel_for(cg, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c)
      for (int64_t ky = 0; ky < g.kh; ++ky)
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const W* src = col + ((c * g.kh + ky) * g.kw + kx) * ohw;
          for (int64_t y = 0; y < g.oh; ++y) {
            int64_t iy = y * g.sy - g.ph + ky * g.dy;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t x = 0; x < g.ow; ++x) {
              int64_t ix = x * g.sx - g.pw + kx * g.dx;
              if (ix >= 0 && ix < g.w) img[(c * g.h + iy) * g.w + ix] += src[y * g.ow + x];
            }
          }
        }
  });
}

enum class Mode { forward, grad_input, grad_weight };

template <Mode M>
void run_conv(const ct_op& op) {
  Geometry g;
  read_params(op, &g);
  const ct_tensor* x = M == Mode::grad_input ? op.outputs[0] : op.inputs[0];
  const ct_tensor* w = M == Mode::grad_weight ? op.outputs[0] : op.inputs[1];
  const ct_tensor* y = M == Mode::forward ? op.outputs[0] : (M == Mode::grad_input ? op.inputs[0] : op.inputs[1]);
  g.n = x->dl.shape[0], g.c = x->dl.shape[1], g.h = x->dl.shape[2], g.w = x->dl.shape[3];
  g.oc = w->dl.shape[0], g.kh = w->dl.shape[2], g.kw = w->dl.shape[3];
  g.oh = y->dl.shape[2], g.ow = y->dl.shape[3];
  int64_t cg = g.c / g.groups, ocg = g.oc / g.groups, ohw = g.oh * g.ow, kdim = cg * g.kh * g.kw;
  visit(ty_of(x->dl.dtype), [&](auto tag) {
    using T = decltype(tag);
    using W = std::conditional_t<std::is_same_v<T, double>, double, float>;
    if constexpr (std::is_integral_v<T>) {
      return 0;
    } else {
      std::vector<W> col(static_cast<size_t>(kdim * ohw));
      if constexpr (M == Mode::forward) {
        std::vector<W> xv = dense<T, W>(x), wv = dense<T, W>(w);
        std::vector<W> yv(static_cast<size_t>(g.n * g.oc * ohw), W(0));
        for (int64_t n = 0; n < g.n; ++n)
          for (int64_t gi = 0; gi < g.groups; ++gi) {
            im2col(xv.data() + (n * g.c + gi * cg) * g.h * g.w, g, cg, col.data());
            dense_gemm<W>(false, false, ocg, ohw, kdim, W(1), wv.data() + gi * ocg * kdim, kdim, col.data(), ohw, W(0),
                          yv.data() + (n * g.oc + gi * ocg) * ohw, ohw);
          }
        if (op.num_inputs == 3) {  // bias
          const ct_tensor* b = op.inputs[2];
          const char* bb = base_of(b);
          for (int64_t n = 0; n < g.n; ++n)
            for (int64_t o = 0; o < g.oc; ++o) {
              W bias = static_cast<W>(Compute<T>::load(reinterpret_cast<const T*>(bb)[o * b->dl.strides[0]]));
              W* row = yv.data() + (n * g.oc + o) * ohw;
              for (int64_t i = 0; i < ohw; ++i) row[i] += bias;
            }
        }
        store<T, W>(y, yv);
      } else if constexpr (M == Mode::grad_input) {
        std::vector<W> gyv = dense<T, W>(y), wv = dense<T, W>(w);
        std::vector<W> gxv(static_cast<size_t>(g.n * g.c * g.h * g.w), W(0));
        for (int64_t n = 0; n < g.n; ++n)
          for (int64_t gi = 0; gi < g.groups; ++gi) {
            dense_gemm<W>(true, false, kdim, ohw, ocg, W(1), wv.data() + gi * ocg * kdim, kdim,
                          gyv.data() + (n * g.oc + gi * ocg) * ohw, ohw, W(0), col.data(), ohw);
            col2im(col.data(), g, cg, gxv.data() + (n * g.c + gi * cg) * g.h * g.w);
          }
        store<T, W>(x, gxv);
      } else {
        std::vector<W> xv = dense<T, W>(x), gyv = dense<T, W>(y);
        std::vector<W> gwv(static_cast<size_t>(g.oc * kdim), W(0));
        for (int64_t n = 0; n < g.n; ++n)
          for (int64_t gi = 0; gi < g.groups; ++gi) {
            im2col(xv.data() + (n * g.c + gi * cg) * g.h * g.w, g, cg, col.data());
            dense_gemm<W>(false, true, ocg, kdim, ohw, W(1), gyv.data() + (n * g.oc + gi * ocg) * ohw, ohw, col.data(),
                          ohw, W(1), gwv.data() + gi * ocg * kdim, kdim);
          }
        store<T, W>(w, gwv);
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
  if (!read_params(op, &g)) return "bad stride, pad, dilation or groups";
  int64_t c = x->dl.shape[1], oc = w->dl.shape[0];
  if (c % g.groups || oc % g.groups) return "channels must divide by groups";
  if (w->dl.shape[1] != c / g.groups) return "W's second extent must be in_channels / groups";
  if (y->dl.shape[0] != x->dl.shape[0] || y->dl.shape[1] != oc) return "y must be (N, out_channels, oh, ow)";
  if (y->dl.shape[2] != out_size(x->dl.shape[2], w->dl.shape[2], g.sy, g.ph, g.dy, g.cover_all) ||
      y->dl.shape[3] != out_size(x->dl.shape[3], w->dl.shape[3], g.sx, g.pw, g.dx, g.cover_all))
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
