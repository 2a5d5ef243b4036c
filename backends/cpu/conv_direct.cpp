// Direct float32 convolution with stride 1 on AVX-512, without columns.
//
// The input image is copied once into a zero-padded buffer whose rows are Wp = w + 2 pw
// wide. With stride 1, output pixel (oy, ox) reads the padded input at
// (oy + ky dy) Wp + ox + kx dx, so for the "wide" output index q = oy Wp + ox the tap
// (ky, kx) reads one contiguous run: xp[c][ky dy Wp + kx dx + q]. Sixteen consecutive q are
// one vector load, whichever rows they straddle; the columns ox >= ow of the wide output
// are computed and dropped. A block of OB output channels x QB vectors of q stays in
// registers for the whole (c, ky, kx) loop, the weights broadcast from a packed copy.
// Every output is one chain in a fixed order: the result does not depend on the threads.
//
// The input gradient is the same product on the output gradient, padded by
// (dilation (k - 1) - pad), with the filter flipped and its two channel axes swapped. The
// 3 x 3 weight gradient multiplies the output gradient, laid out wide with zeros in the
// dropped columns, by the same shifted runs of the padded input, summing over chunks of
// images in a fixed order.
#include "conv_direct.hpp"

#include "threadpool.hpp"

// GCC 12 reports its own AVX-512 shuffle intrinsics as reading an uninitialised value
// (GCC bug 105593, a false positive in the header); it is not about this file's code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace catena_cpu {

namespace {

constexpr int kOB = 8;  // output channels per register block
constexpr int kQB = 2;  // vectors of 16 wide outputs per register block

// acc[o][v] = sum over c, taps of w[c][tap][o] * xp[c][off[tap] + q0 + 16 v], stored to
// out[o * ld + q0 + 16 v]. `w` holds kOB weights per (c, tap) for this block (OB of them used).
// TAPS > 0 fixes the tap count at compile time (3 x 3 filters) and keeps the offsets local.
template <int OB, int QB, int TAPS>
__attribute__((target("avx512f"))) void block(const float* xp, int64_t plane, const float* w, int64_t c_count,
                                                const int64_t* off, int taps_rt, int64_t q0, float* out, int64_t ld) {
  const int taps = TAPS > 0 ? TAPS : taps_rt;
  int64_t o_off[TAPS > 0 ? TAPS : 1];
  if constexpr (TAPS > 0)
    for (int t = 0; t < TAPS; ++t) o_off[t] = off[t];
  __m512 acc[OB][QB];
  for (int o = 0; o < OB; ++o)
    for (int v = 0; v < QB; ++v) acc[o][v] = _mm512_setzero_ps();
  for (int64_t c = 0; c < c_count; ++c) {
    const float* xc = xp + c * plane + q0;
    for (int t = 0; t < taps; ++t, w += kOB) {  // packed kOB wide, tail blocks too
      const float* xs = xc + (TAPS > 0 ? o_off[t] : off[t]);
      __m512 xv[QB];
      for (int v = 0; v < QB; ++v) xv[v] = _mm512_loadu_ps(xs + 16 * v);
      for (int o = 0; o < OB; ++o) {
        const __m512 wb = _mm512_set1_ps(w[o]);
        for (int v = 0; v < QB; ++v) acc[o][v] = _mm512_fmadd_ps(wb, xv[v], acc[o][v]);
      }
    }
  }
  for (int o = 0; o < OB; ++o)
    for (int v = 0; v < QB; ++v) _mm512_storeu_ps(out + o * ld + q0 + 16 * v, acc[o][v]);
}

// One block of `ob` (<= kOB) output channels over every wide output of one image.
template <int OB>
void channel_block(const float* xp, int64_t plane, const float* w, int64_t c_count, const int64_t* off, int taps,
                   int64_t qv, float* out, int64_t ld) {
  int64_t v = 0;
  if (taps == 9) {
    for (; v + kQB <= qv; v += kQB) block<OB, kQB, 9>(xp, plane, w, c_count, off, taps, 16 * v, out, ld);
    for (; v < qv; ++v) block<OB, 1, 9>(xp, plane, w, c_count, off, taps, 16 * v, out, ld);
    return;
  }
  for (; v + kQB <= qv; v += kQB) block<OB, kQB, 0>(xp, plane, w, c_count, off, taps, 16 * v, out, ld);
  for (; v < qv; ++v) block<OB, 1, 0>(xp, plane, w, c_count, off, taps, 16 * v, out, ld);
}

void channel_block_any(int ob, const float* xp, int64_t plane, const float* w, int64_t c_count, const int64_t* off,
                       int taps, int64_t qv, float* out, int64_t ld) {
  switch (ob) {
    case 8: return channel_block<8>(xp, plane, w, c_count, off, taps, qv, out, ld);
    case 7: return channel_block<7>(xp, plane, w, c_count, off, taps, qv, out, ld);
    case 6: return channel_block<6>(xp, plane, w, c_count, off, taps, qv, out, ld);
    case 5: return channel_block<5>(xp, plane, w, c_count, off, taps, qv, out, ld);
    case 4: return channel_block<4>(xp, plane, w, c_count, off, taps, qv, out, ld);
    case 3: return channel_block<3>(xp, plane, w, c_count, off, taps, qv, out, ld);
    case 2: return channel_block<2>(xp, plane, w, c_count, off, taps, qv, out, ld);
    default: return channel_block<1>(xp, plane, w, c_count, off, taps, qv, out, ld);
  }
}

// One image's channels (cin, sh, sw), dense, into planes of `plane` floats: rows of
// wp = pl + sw + pr with zeros around, pt rows of zeros above, zeros from row pt + sh on.
void pad_image(const float* src, int64_t cin, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pr,
               int64_t plane, float* dst) {
  const int64_t wp = pl + sw + pr;
  for (int64_t c = 0; c < cin; ++c) {
    float* d = dst + c * plane;
    const float* s = src + c * sh * sw;
    std::memset(d, 0, size_t(pt * wp) * sizeof(float));
    for (int64_t r = 0; r < sh; ++r) {
      float* row = d + (pt + r) * wp;
      std::memset(row, 0, size_t(pl) * sizeof(float));
      std::memcpy(row + pl, s + r * sw, size_t(sw) * sizeof(float));
      std::memset(row + pl + sw, 0, size_t(pr) * sizeof(float));
    }
    std::memset(d + (pt + sh) * wp, 0, size_t(plane - (pt + sh) * wp) * sizeof(float));
  }
}

// The wide layout of a padded image (hp x wp) for a kh x kw filter with dilation (dy, dx)
// and oh output rows: the wide outputs in qv vectors of 16, planes of `plane` floats (the
// padded image and room for the last vector's reads past it, in dropped columns), and
// each tap's offset into a plane.
struct Wide {
  int64_t wp, qv, plane;
  std::vector<int64_t> off;
  Wide(int64_t hp, int64_t wp_, int64_t oh, int64_t kh, int64_t kw, int64_t dy, int64_t dx)
      : wp(wp_), qv((oh * wp_ + 15) / 16), plane(hp * wp_ + (kw - 1) * dx + 16), off(size_t(kh * kw)) {
    for (int64_t ky = 0; ky < kh; ++ky)
      for (int64_t kx = 0; kx < kw; ++kx) off[size_t(ky * kw + kx)] = ky * dy * wp + kx * dx;
  }
};

// y[n, o] = b[o] + sum_c,ky,kx wk[o, c, ky, kx] src_padded[n, c, oy + ky dy, ox + kx dx]:
// the one product both directions use. src is (n, cin, sh, sw) dense; it is padded by
// (pt, pl) before and (pb, pr) after; wk is (cout, cin, kh, kw) dense; y is (n, cout, oh, ow)
// dense with oh = sh + pt + pb - dy (kh - 1) and ow likewise.
void product(const float* src, int64_t n, int64_t cin, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
             int64_t pr, const float* wk, int64_t cout, int64_t kh, int64_t kw, int64_t dy, int64_t dx,
             const float* bias, float* y, int64_t oh, int64_t ow) {
  const Wide L(sh + pt + pb, sw + pl + pr, oh, kh, kw, dy, dx);
  const int64_t wp = L.wp, qv = L.qv, plane = L.plane;
  const int taps = int(kh * kw);
  // Weights as [block][c][tap][o in block].
  const int64_t blocks = (cout + kOB - 1) / kOB;
  std::vector<float> packed(size_t(blocks * kOB * cin * taps), 0.0f);
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t c = 0; c < cin; ++c)
      for (int t = 0; t < taps; ++t)
        packed[size_t((((o / kOB) * cin + c) * taps + t) * kOB + o % kOB)] = wk[(o * cin + c) * taps + t];
  // Work units: (image, group of channel blocks). Few images: split the channel blocks too.
  // Each unit writes only its own outputs, so the parts may follow the threads' speeds.
  const int64_t splits = n >= 2 * num_threads() ? 1 : std::min<int64_t>(blocks, 2 * num_threads());
  const int64_t per_split = (blocks + splits - 1) / splits;
  parallel_for_balanced(n * splits, 1, [&](int64_t b, int64_t e) {
    thread_local std::vector<float> xp, wide;
    if (xp.size() < size_t(cin * plane)) xp.resize(size_t(cin * plane));
    if (wide.size() < size_t(kOB * qv * 16)) wide.resize(size_t(kOB * qv * 16));
    int64_t padded_image = -1;
    for (int64_t u = b; u < e; ++u) {
      const int64_t img = u / splits, part = u % splits;
      if (img != padded_image) {  // pad the image once for its units on this thread
        pad_image(src + img * cin * sh * sw, cin, sh, sw, pt, pl, pr, plane, xp.data());
        padded_image = img;
      }
      const int64_t first = part * per_split, last = std::min(blocks, first + per_split);
      for (int64_t bl = first; bl < last; ++bl) {
        const int64_t o0 = bl * kOB;
        const int ob = int(std::min<int64_t>(kOB, cout - o0));
        channel_block_any(ob, xp.data(), plane, packed.data() + bl * kOB * cin * taps, cin, L.off.data(), taps, qv,
                          wide.data(), qv * 16);
        for (int o = 0; o < ob; ++o) {
          const float* from = wide.data() + o * qv * 16;
          float* to = y + ((img * cout) + o0 + o) * oh * ow;
          const float bo = bias ? bias[o0 + o] : 0.0f;
          for (int64_t r = 0; r < oh; ++r)
            for (int64_t x = 0; x < ow; ++x) to[r * ow + x] = from[r * wp + x] + bo;
        }
      }
    }
  });
}

// The sum of the 16 lanes, pairwise in a fixed order.
__attribute__((target("avx512f"))) inline float lane_sum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_cvtss_f32(v);
}

// The weight gradient of 3 x 3 filters for OB output channels and one input channel over
// a chunk of images: out[o * 9 + t] = sum_n sum_q gyw[n][o][q] xp[n][off[t] + q], where
// gyw is the output gradient in the wide layout with zeros in the dropped columns.
template <int OB>
__attribute__((target("avx512f"))) void gw_block(const float* gyw, int64_t gy_image, int64_t qr, const float* xp,
                                                   int64_t x_image, int64_t nb, const int64_t* off, float* out) {
  constexpr int T = 9;
  __m512 acc[OB][T];
  for (int o = 0; o < OB; ++o)
    for (int t = 0; t < T; ++t) acc[o][t] = _mm512_setzero_ps();
  int64_t o_off[T];
  for (int t = 0; t < T; ++t) o_off[t] = off[t];
  for (int64_t n = 0; n < nb; ++n) {
    const float* g = gyw + n * gy_image;
    const float* x = xp + n * x_image;
    for (int64_t q = 0; q < qr; q += 16) {
      __m512 gv[OB];
      for (int o = 0; o < OB; ++o) gv[o] = _mm512_loadu_ps(g + o * qr + q);
      for (int t = 0; t < T; ++t) {
        __m512 xv = _mm512_loadu_ps(x + o_off[t] + q);
        // One load per tap, kept in a register for every output channel (folded into
        // each FMA it would be loaded OB times, and these loads straddle cache lines).
        asm("" : "+v"(xv));
        for (int o = 0; o < OB; ++o) acc[o][t] = _mm512_fmadd_ps(gv[o], xv, acc[o][t]);
      }
    }
  }
  for (int o = 0; o < OB; ++o)
    for (int t = 0; t < T; ++t) out[o * T + t] = lane_sum(acc[o][t]);
}

bool have_avx512() {
  static const bool on = __builtin_cpu_supports("avx512f");
  return on;
}

}  // namespace

bool direct_conv_applies(const ConvShape& s) {
  // Stride 1, one group, enough taps per output for the register blocks to pay (few-tap
  // first layers have their own loops), and a padding the input gradient can mirror.
  return have_avx512() && s.sy == 1 && s.sx == 1 && s.groups == 1 && s.c * s.kh * s.kw > 32 &&
         s.ph <= s.dy * (s.kh - 1) && s.pw <= s.dx * (s.kw - 1) && s.oh == s.h + 2 * s.ph - s.dy * (s.kh - 1) &&
         s.ow == s.w + 2 * s.pw - s.dx * (s.kw - 1);
}

void direct_conv_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  product(x, s.n, s.c, s.h, s.w, s.ph, s.ph, s.pw, s.pw, w, s.oc, s.kh, s.kw, s.dy, s.dx, bias, y, s.oh, s.ow);
}

bool direct_conv_grad_weight_applies(const ConvShape& s) {
  return direct_conv_applies(s) && s.kh == 3 && s.kw == 3;
}

bool direct_conv_grad_weight(const ConvShape& s, const float* x, const float* gy, float* gw) {
  const Wide L(s.h + 2 * s.ph, s.w + 2 * s.pw, s.oh, 3, 3, s.dy, s.dx);
  const int64_t wp = L.wp, qr = L.qv * 16, plane = L.plane;
  const int64_t* off = L.off.data();
  const int64_t gy_image = s.oc * qr, x_image = s.c * plane;
  // Chunks of images whose padded operands fit a core's L2 cache (about 1 MiB), chosen
  // from the shapes alone: each weight is summed over the chunks in order, each chunk by
  // one thread, so the result does not depend on the threads.
  const int64_t nb = std::max<int64_t>(1, std::min<int64_t>(s.n, (int64_t(1) << 18) / (gy_image + x_image)));
  std::vector<float> xp(size_t(nb * x_image)), gyw(size_t(nb * gy_image));
  constexpr int64_t kGwOB = 3;  // output channels per register block (27 accumulators)
  const int64_t groups = (s.oc + kGwOB - 1) / kGwOB, units = groups * s.c;
  std::fill(gw, gw + s.oc * s.c * 9, 0.0f);
  for (int64_t n0 = 0; n0 < s.n; n0 += nb) {
    const int64_t count = std::min(nb, s.n - n0);
    // The dropped columns of the wide layout multiply zeros of gy by real inputs: an
    // infinite or NaN input there would leak into sums that should not see it. Such
    // inputs go to the column path instead (the caller's fallback).
    std::vector<char> finite(size_t(count), 1);
    parallel_for(count, 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) {
        const int64_t img = n0 + j;
        const float* xi = x + img * s.c * s.h * s.w;
        bool ok = true;
        for (int64_t i = 0; i < s.c * s.h * s.w; ++i) ok &= std::fabs(xi[i]) <= std::numeric_limits<float>::max();
        finite[size_t(j)] = ok;
        pad_image(xi, s.c, s.h, s.w, s.ph, s.pw, s.pw, plane, xp.data() + j * x_image);
        float* g = gyw.data() + j * gy_image;
        for (int64_t o = 0; o < s.oc; ++o) {
          float* row = g + o * qr;
          const float* from = gy + (img * s.oc + o) * s.oh * s.ow;
          std::memset(row, 0, size_t(qr) * sizeof(float));
          for (int64_t r = 0; r < s.oh; ++r) std::memcpy(row + r * wp, from + r * s.ow, size_t(s.ow) * sizeof(float));
        }
      }
    });
    if (std::find(finite.begin(), finite.end(), 0) != finite.end()) return false;
    // Each unit sums its own weights over the chunk: the parts may follow the threads' speeds.
    parallel_for_balanced(units, 1, [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        const int64_t c = u % s.c, o0 = (u / s.c) * kGwOB, ob = std::min(kGwOB, s.oc - o0);
        float part[kGwOB * 9];
        const float* g0 = gyw.data() + o0 * qr;
        const float* x0 = xp.data() + c * plane;
        if (ob == 3) gw_block<3>(g0, gy_image, qr, x0, x_image, count, off, part);
        else if (ob == 2) gw_block<2>(g0, gy_image, qr, x0, x_image, count, off, part);
        else gw_block<1>(g0, gy_image, qr, x0, x_image, count, off, part);
        for (int64_t o = o0; o < o0 + ob; ++o)
          for (int t = 0; t < 9; ++t) gw[(o * s.c + c) * 9 + t] += part[(o - o0) * 9 + t];
      }
    });
  }
  return true;
}

void direct_conv_grad_input(const ConvShape& s, const float* gy, const float* w, float* gx) {
  // gx[c, iy, ix] = sum_o,ky,kx W[o, c, kh-1-ky, kw-1-kx] gy_padded[o, iy + ky dy, ix + kx dx].
  const int64_t taps = s.kh * s.kw;
  std::vector<float> flipped(size_t(s.c * s.oc * taps));
  for (int64_t o = 0; o < s.oc; ++o)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t t = 0; t < taps; ++t) flipped[size_t((c * s.oc + o) * taps + (taps - 1 - t))] = w[(o * s.c + c) * taps + t];
  const int64_t pt = s.dy * (s.kh - 1) - s.ph, pl = s.dx * (s.kw - 1) - s.pw;
  product(gy, s.n, s.oc, s.oh, s.ow, pt, pt, pl, pl, flipped.data(), s.c, s.kh, s.kw, s.dy, s.dx, nullptr, gx, s.h,
          s.w);
}

}  // namespace catena_cpu
