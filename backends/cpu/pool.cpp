// 2-D pooling: core.max_pool2d (values and argmax indexes), core.max_pool2d_grad,
// core.max_pool2d_gather, core.avg_pool2d, core.avg_pool2d_grad. NCHW, any strides.
#include "kernels.hpp"
#include "scalar.hpp"
#include "threadpool.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace catena_cpu {

namespace {

// The op's geometry as the SDK reads it from OPS.md (ksize, stride, pad, cover_all).
using Pool = ct_sdk_pool2d;

bool read_pool(const ct_op& op, Pool* p) {
  const char* why = nullptr;
  return ct_sdk_pool2d_geometry(&op, p, &why) != 0;
}

int64_t pooled(int64_t in, int64_t k, int64_t s, int64_t p, bool cover_all) {
  return ct_sdk_out_size(in, k, s, p, 1, cover_all);
}

inline int64_t at4(const ct_tensor* t, int64_t a, int64_t b, int64_t c, int64_t d) {
  const int64_t* s = t->dl.strides;
  return a * s[0] + b * s[1] + c * s[2] + d * s[3];
}

enum class Kind { max, max_grad, max_gather, avg, avg_grad };

// max_pool2d and its gradient on dense float32 planes: the window clipped to the image
// once per output row and column, no per-element bounds or stride arithmetic.
template <class T>
void max_pool_dense(const Pool& p, const T* in, T* out, int32_t* idx, int64_t planes, int64_t H, int64_t W,
                    int64_t OH, int64_t OW) {
  // The common 2x2 window, stride 2, no padding, every window inside the image.
  const bool two = p.kh == 2 && p.kw == 2 && p.sy == 2 && p.sx == 2 && p.ph == 0 && p.pw == 0 && 2 * OH <= H &&
                   2 * OW <= W;
  parallel_for(planes, 1, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const T* src = in + pl * H * W;
      T* dst = out + pl * OH * OW;
      int32_t* arg = idx + pl * OH * OW;
      if (two) {
        for (int64_t oy = 0; oy < OH; ++oy) {
          const T* r0 = src + 2 * oy * W;
          const T* r1 = r0 + W;
          const int32_t base = int32_t(2 * oy * W);
          for (int64_t ox = 0; ox < OW; ++ox) {
            // Row-major window order, the first maximum on ties, the first NaN wins.
            const T v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
            const int32_t pos[4] = {int32_t(2 * ox), int32_t(2 * ox + 1), int32_t(W + 2 * ox), int32_t(W + 2 * ox + 1)};
            T best = v[0];
            int32_t at = pos[0];
            for (int k = 1; k < 4; ++k) {
              const bool take = v[k] > best || (v[k] != v[k] && best == best);
              best = take ? v[k] : best;
              at = take ? pos[k] : at;
            }
            dst[oy * OW + ox] = best;
            arg[oy * OW + ox] = base + at;
          }
        }
        continue;
      }
      for (int64_t oy = 0; oy < OH; ++oy) {
        const int64_t y0 = oy * p.sy - p.ph;
        const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + p.kh, H);
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t x0 = ox * p.sx - p.pw;
          const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min<int64_t>(x0 + p.kw, W);
          T best = -std::numeric_limits<T>::infinity();
          int32_t at = -1;
          for (int64_t y = ya; y < yb; ++y)
            for (int64_t x = xa; x < xb; ++x) {
              T v = src[y * W + x];
              if (at < 0 || v > best || (v != v && best == best)) best = v, at = int32_t(y * W + x);
            }
          dst[oy * OW + ox] = best;
          arg[oy * OW + ox] = at;
        }
      }
    }
  });
}

template <class T>
void max_pool_grad_dense(const T* gy, const int32_t* idx, T* gx, int64_t planes, int64_t HW, int64_t OHW) {
  parallel_for(planes, 1, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      T* dst = gx + pl * HW;
      std::fill(dst, dst + HW, T(0));
      const T* g = gy + pl * OHW;
      const int32_t* a = idx + pl * OHW;
      for (int64_t i = 0; i < OHW; ++i)
        if (a[i] >= 0) dst[a[i]] += g[i];
    }
  });
}

template <Kind K>
void run_pool(const ct_op& op) {
  Pool p;
  read_pool(op, &p);
  if constexpr (K == Kind::max || K == Kind::max_grad) {
    const ct_tensor* big = K == Kind::max ? op.inputs[0] : op.outputs[0];
    const ct_tensor* small = K == Kind::max ? op.outputs[0] : op.inputs[0];
    const ct_tensor* idx = K == Kind::max ? op.outputs[1] : op.inputs[1];
    Ty t = ty_of(big->dl.dtype);
    if ((t == Ty::f32 || t == Ty::f64) && is_dense(big) && is_dense(small) && is_dense(idx)) {
      const int64_t planes = big->dl.shape[0] * big->dl.shape[1], H = big->dl.shape[2], W = big->dl.shape[3];
      const int64_t OH = small->dl.shape[2], OW = small->dl.shape[3];
      int32_t* ib = reinterpret_cast<int32_t*>(base_of(idx));
      auto go = [&](auto* bb, auto* sb) {
        if constexpr (K == Kind::max)
          max_pool_dense(p, bb, sb, ib, planes, H, W, OH, OW);
        else
          max_pool_grad_dense(sb, ib, bb, planes, H * W, OH * OW);
      };
      if (t == Ty::f32)
        go(reinterpret_cast<float*>(base_of(big)), reinterpret_cast<float*>(base_of(small)));
      else
        go(reinterpret_cast<double*>(base_of(big)), reinterpret_cast<double*>(base_of(small)));
      return;
    }
  }
  // The "big" tensor is N,C,H,W; the "small" one N,C,OH,OW.
  const ct_tensor* big = (K == Kind::max || K == Kind::avg || K == Kind::max_gather) ? op.inputs[0] : op.outputs[0];
  const ct_tensor* small = (K == Kind::max || K == Kind::avg || K == Kind::max_gather) ? op.outputs[0] : op.inputs[0];
  const ct_tensor* idx = K == Kind::max ? op.outputs[1] : (K == Kind::max_grad || K == Kind::max_gather) ? op.inputs[1]
                                                                                                          : nullptr;
  int64_t N = big->dl.shape[0], C = big->dl.shape[1], H = big->dl.shape[2], W = big->dl.shape[3];
  int64_t OH = small->dl.shape[2], OW = small->dl.shape[3];
  visit(ty_of(big->dl.dtype), [&](auto tag) {
    using T = decltype(tag);
    using CT = Compute<T>;
    using V = typename CT::type;
    T* bb = reinterpret_cast<T*>(base_of(big));
    T* sb = reinterpret_cast<T*>(base_of(small));
    int32_t* ib = idx ? reinterpret_cast<int32_t*>(base_of(idx)) : nullptr;
    parallel_for(N * C, 1, [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        int64_t n = nc / C, c = nc % C;
        if (K == Kind::max_grad || K == Kind::avg_grad)  // gradients accumulate from zero
          for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x) bb[at4(big, n, c, y, x)] = CT::store(V(0));
        for (int64_t oy = 0; oy < OH; ++oy)
          for (int64_t ox = 0; ox < OW; ++ox) {
            int64_t y0 = oy * p.sy - p.ph, x0 = ox * p.sx - p.pw;
            int64_t so = at4(small, n, c, oy, ox);
            if constexpr (K == Kind::max) {
              V best = -std::numeric_limits<V>::infinity();
              int32_t arg = -1;
              for (int64_t ky = 0; ky < p.kh; ++ky)
                for (int64_t kx = 0; kx < p.kw; ++kx) {
                  int64_t y = y0 + ky, x = x0 + kx;
                  if (y < 0 || y >= H || x < 0 || x >= W) continue;
                  V v = CT::load(bb[at4(big, n, c, y, x)]);
                  if (arg < 0 || v > best || (v != v && best == best)) best = v, arg = int32_t(y * W + x);
                }
              sb[so] = CT::store(best);
              ib[at4(idx, n, c, oy, ox)] = arg;
            } else if constexpr (K == Kind::max_grad) {
              int32_t arg = ib[at4(idx, n, c, oy, ox)];
              if (arg >= 0) {
                T& dst = bb[at4(big, n, c, arg / W, arg % W)];
                dst = CT::store(CT::load(dst) + CT::load(sb[so]));
              }
            } else if constexpr (K == Kind::max_gather) {
              int32_t arg = ib[at4(idx, n, c, oy, ox)];
              sb[so] = arg >= 0 ? bb[at4(big, n, c, arg / W, arg % W)] : CT::store(V(0));
            } else if constexpr (K == Kind::avg) {
              V sum = 0;
              for (int64_t ky = 0; ky < p.kh; ++ky)
                for (int64_t kx = 0; kx < p.kw; ++kx) {
                  int64_t y = y0 + ky, x = x0 + kx;
                  if (y >= 0 && y < H && x >= 0 && x < W) sum += CT::load(bb[at4(big, n, c, y, x)]);
                }
              sb[so] = CT::store(sum / V(p.kh * p.kw));
            } else {
              V g = CT::load(sb[so]) / V(p.kh * p.kw);
              for (int64_t ky = 0; ky < p.kh; ++ky)
                for (int64_t kx = 0; kx < p.kw; ++kx) {
                  int64_t y = y0 + ky, x = x0 + kx;
                  if (y < 0 || y >= H || x < 0 || x >= W) continue;
                  T& dst = bb[at4(big, n, c, y, x)];
                  dst = CT::store(CT::load(dst) + g);
                }
            }
          }
      }
    });
    return 0;
  });
}

template <Kind K>
const char* support_pool(const ct_op& op) {
  int nin = (K == Kind::max_grad || K == Kind::max_gather) ? 2 : 1;
  int nout = K == Kind::max ? 2 : 1;
  if (op.num_inputs != nin || op.num_outputs != nout) return "wrong number of operands";
  const ct_tensor* big = (K == Kind::max || K == Kind::avg || K == Kind::max_gather) ? op.inputs[0] : op.outputs[0];
  const ct_tensor* small = (K == Kind::max || K == Kind::avg || K == Kind::max_gather) ? op.outputs[0] : op.inputs[0];
  Ty t = ty_of(big->dl.dtype);
  if (!is_float(t)) return "needs a floating-point dtype";
  if (ty_of(small->dl.dtype) != t) return "values must share one dtype";
  if (big->dl.ndim != 4 || small->dl.ndim != 4) return "operands must be 4-D (NCHW)";
  if (K == Kind::max || K == Kind::max_grad || K == Kind::max_gather) {
    const ct_tensor* idx = K == Kind::max ? op.outputs[1] : op.inputs[1];
    if (idx->dl.dtype.code != CT_DTYPE_INT || idx->dl.dtype.bits != 32) return "indexes must be int32";
    if (!same_shape(idx, small)) return "indexes must have the pooled shape";
  }
  Pool p;
  if (!read_pool(op, &p)) return "bad ksize, stride or pad";
  if (big->dl.shape[2] * big->dl.shape[3] > INT32_MAX) return "plane too large for int32 indexes";
  if (small->dl.shape[0] != big->dl.shape[0] || small->dl.shape[1] != big->dl.shape[1] ||
      small->dl.shape[2] != pooled(big->dl.shape[2], p.kh, p.sy, p.ph, p.cover_all) ||
      small->dl.shape[3] != pooled(big->dl.shape[3], p.kw, p.sx, p.pw, p.cover_all))
    return "pooled extents do not follow from ksize, stride, pad and cover_all";
  return nullptr;
}

}  // namespace

void add_pool_kernels(std::vector<KernelDef>& k) {
  k.push_back({"core.max_pool2d", 1, support_pool<Kind::max>, run_pool<Kind::max>});
  k.push_back({"core.max_pool2d_grad", 1, support_pool<Kind::max_grad>, run_pool<Kind::max_grad>});
  k.push_back({"core.max_pool2d_gather", 1, support_pool<Kind::max_gather>, run_pool<Kind::max_gather>});
  k.push_back({"core.avg_pool2d", 1, support_pool<Kind::avg>, run_pool<Kind::avg>});
  k.push_back({"core.avg_pool2d_grad", 1, support_pool<Kind::avg_grad>, run_pool<Kind::avg_grad>});
}

}  // namespace catena_cpu
