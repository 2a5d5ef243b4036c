// Image transforms on host float32 (C, H, W) arrays.
#include <catena/error.hpp>
#include <catena/runtime.hpp>
#include <catena/transforms.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace catena {
namespace transforms {

namespace {

struct Image {
  int64_t c, h, w;
  const float* data;
};

Image chw(const Tensor& t, const char* who) {
  if (t.dtype() != float32 || t.ndim() != 3)
    throw Error(CT_INVALID_ARGUMENT, std::string(who) + ": needs a float32 (C, H, W) image, got " + t.dtype().name() +
                                         t.shape().str() + " (ToTensor converts uint8 (H, W, C) images)");
  // The caller passes a host, contiguous image that outlives the returned pointer.
  return {t.shape()[0], t.shape()[1], t.shape()[2], static_cast<const float*>(t.host_data())};
}

Tensor make(int64_t c, int64_t h, int64_t w) { return Tensor::empty(Shape{c, h, w}, float32, runtime().cpu()); }

void check_size(int64_t h, int64_t w, const char* who) {
  if (h <= 0 || w <= 0)
    throw Error(CT_INVALID_ARGUMENT, std::string(who) + ": sizes must be positive, got " + std::to_string(h) + " x " +
                                         std::to_string(w));
}

// Window (y0, x0) of size (h, w) from an image padded with zeros; y0/x0 may be negative.
Tensor window(const Image& im, int64_t y0, int64_t x0, int64_t h, int64_t w) {
  Tensor out = make(im.c, h, w);
  float* o = static_cast<float*>(out.host_data());
  for (int64_t c = 0; c < im.c; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        int64_t sy = y0 + y, sx = x0 + x;
        bool in = sy >= 0 && sy < im.h && sx >= 0 && sx < im.w;
        o[(c * h + y) * w + x] = in ? im.data[(c * im.h + sy) * im.w + sx] : 0.0f;
      }
  return out;
}

}  // namespace

Transform Compose(std::vector<Transform> ts) {
  for (const Transform& t : ts)
    if (!t) throw Error(CT_INVALID_ARGUMENT, "Compose: a transform is empty");
  return [ts](const Tensor& x, std::mt19937_64& rng) {
    Tensor y = x;
    for (const Transform& t : ts) y = t(y, rng);
    return y;
  };
}

Transform Resize(int64_t oh, int64_t ow) {
  check_size(oh, ow, "Resize");
  return [oh, ow](const Tensor& x, std::mt19937_64&) {
    Tensor keep = x.to(runtime().cpu()).contiguous();
    Image im = chw(keep, "Resize");
    Tensor out = make(im.c, oh, ow);
    float* o = static_cast<float*>(out.host_data());
    const double sy = double(im.h) / double(oh), sx = double(im.w) / double(ow);
    for (int64_t y = 0; y < oh; ++y) {
      double fy = std::clamp((double(y) + 0.5) * sy - 0.5, 0.0, double(im.h - 1));
      int64_t y0 = int64_t(fy), y1 = std::min(y0 + 1, im.h - 1);
      double wy = fy - double(y0);
      for (int64_t xx = 0; xx < ow; ++xx) {
        double fx = std::clamp((double(xx) + 0.5) * sx - 0.5, 0.0, double(im.w - 1));
        int64_t x0 = int64_t(fx), x1 = std::min(x0 + 1, im.w - 1);
        double wx = fx - double(x0);
        for (int64_t c = 0; c < im.c; ++c) {
          const float* p = im.data + c * im.h * im.w;
          double top = p[y0 * im.w + x0] * (1 - wx) + p[y0 * im.w + x1] * wx;
          double bottom = p[y1 * im.w + x0] * (1 - wx) + p[y1 * im.w + x1] * wx;
          o[(c * oh + y) * ow + xx] = float(top * (1 - wy) + bottom * wy);
        }
      }
    }
    return out;
  };
}

Transform RandomCrop(int64_t h, int64_t w, int64_t pad) {
  check_size(h, w, "RandomCrop");
  if (pad < 0) throw Error(CT_INVALID_ARGUMENT, "RandomCrop: pad must be >= 0");
  return [h, w, pad](const Tensor& x, std::mt19937_64& rng) {
    Tensor keep = x.to(runtime().cpu()).contiguous();
    Image im = chw(keep, "RandomCrop");
    if (im.h + 2 * pad < h || im.w + 2 * pad < w)
      throw Error(CT_INVALID_ARGUMENT, "RandomCrop: a " + std::to_string(h) + " x " + std::to_string(w) +
                                           " crop does not fit the padded " + x.shape().str() + " image");
    int64_t y0 = int64_t(rng() % uint64_t(im.h + 2 * pad - h + 1)) - pad;
    int64_t x0 = int64_t(rng() % uint64_t(im.w + 2 * pad - w + 1)) - pad;
    return window(im, y0, x0, h, w);
  };
}

Transform CenterCrop(int64_t h, int64_t w) {
  check_size(h, w, "CenterCrop");
  return [h, w](const Tensor& x, std::mt19937_64&) {
    Tensor keep = x.to(runtime().cpu()).contiguous();
    Image im = chw(keep, "CenterCrop");
    if (im.h < h || im.w < w)
      throw Error(CT_INVALID_ARGUMENT, "CenterCrop: a " + std::to_string(h) + " x " + std::to_string(w) +
                                           " crop does not fit the " + x.shape().str() + " image");
    return window(im, (im.h - h) / 2, (im.w - w) / 2, h, w);
  };
}

Transform RandomHorizontalFlip(double p) {
  if (!(p >= 0 && p <= 1)) throw Error(CT_INVALID_ARGUMENT, "RandomHorizontalFlip: p must be in [0, 1]");
  return [p](const Tensor& x, std::mt19937_64& rng) {
    Tensor keep = x.to(runtime().cpu()).contiguous();
    Image im = chw(keep, "RandomHorizontalFlip");
    double u = double(rng() >> 11) * (1.0 / 9007199254740992.0);
    if (u >= p) return keep;
    Tensor out = make(im.c, im.h, im.w);
    float* o = static_cast<float*>(out.host_data());
    for (int64_t r = 0; r < im.c * im.h; ++r)
      for (int64_t xx = 0; xx < im.w; ++xx) o[r * im.w + xx] = im.data[r * im.w + (im.w - 1 - xx)];
    return out;
  };
}

Transform Normalize(std::vector<double> mean, std::vector<double> stddev) {
  if (mean.empty() || mean.size() != stddev.size())
    throw Error(CT_INVALID_ARGUMENT, "Normalize: give as many means as standard deviations (one, or one per channel)");
  for (double s : stddev)
    if (!(s > 0)) throw Error(CT_INVALID_ARGUMENT, "Normalize: standard deviations must be positive");
  return [mean, stddev](const Tensor& x, std::mt19937_64&) {
    Tensor keep = x.to(runtime().cpu()).contiguous();
    Image im = chw(keep, "Normalize");
    if (mean.size() != 1 && int64_t(mean.size()) != im.c)
      throw Error(CT_INVALID_ARGUMENT, "Normalize: " + std::to_string(mean.size()) + " means for an image of " +
                                           std::to_string(im.c) + " channels");
    Tensor out = make(im.c, im.h, im.w);
    float* o = static_cast<float*>(out.host_data());
    for (int64_t c = 0; c < im.c; ++c) {
      size_t k = mean.size() == 1 ? 0 : size_t(c);
      float m = float(mean[k]), inv = float(1.0 / stddev[k]);
      for (int64_t i = 0; i < im.h * im.w; ++i) o[c * im.h * im.w + i] = (im.data[c * im.h * im.w + i] - m) * inv;
    }
    return out;
  };
}

Transform ToTensor() {
  return [](const Tensor& x, std::mt19937_64&) {
    if (x.dtype() == float32 && x.ndim() == 3) return x;
    if (x.dtype() != uint8 || (x.ndim() != 2 && x.ndim() != 3))
      throw Error(CT_INVALID_ARGUMENT, "ToTensor: needs a uint8 (H, W, C) or (H, W) image, got " +
                                           std::string(x.dtype().name()) + x.shape().str());
    Tensor keep = x.to(runtime().cpu()).contiguous();
    int64_t h = x.shape()[0], w = x.shape()[1], c = x.ndim() == 3 ? x.shape()[2] : 1;
    const unsigned char* s = static_cast<const unsigned char*>(keep.host_data());
    Tensor out = make(c, h, w);
    float* o = static_cast<float*>(out.host_data());
    for (int64_t y = 0; y < h; ++y)
      for (int64_t xx = 0; xx < w; ++xx)
        for (int64_t k = 0; k < c; ++k) o[(k * h + y) * w + xx] = float(s[(y * w + xx) * c + k]) / 255.0f;
    return out;
  };
}

datasets::ExampleTransform on_first(Transform t) {
  if (!t) throw Error(CT_INVALID_ARGUMENT, "on_first: the transform is empty");
  return [t](Example e, std::mt19937_64& rng) {
    if (e.empty()) throw Error(CT_INVALID_ARGUMENT, "on_first: the example is empty");
    e[0] = t(e[0], rng);
    return e;
  };
}

}  // namespace transforms
}  // namespace catena
