// Direct float32 convolution with stride 1 on AVX-512, without columns (conv_direct.cpp).
#pragma once

#include <cstdint>

namespace catena_cpu {

struct ConvShape {
  int64_t n, c, h, w;  // input
  int64_t oc, kh, kw;  // filter
  int64_t oh, ow;      // output
  int64_t sy, sx, ph, pw, dy, dx, groups;
};

// Whether the direct kernels handle this shape on this CPU.
bool direct_conv_applies(const ConvShape& s);
// Dense NCHW / OIHW operands. bias may be null.
void direct_conv_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y);
void direct_conv_grad_input(const ConvShape& s, const float* gy, const float* w, float* gx);
// The weight gradient: 3 x 3 filters only. Returns false, having written nothing useful,
// when x holds an infinity or a NaN (the column path handles those exactly).
bool direct_conv_grad_weight_applies(const ConvShape& s);
bool direct_conv_grad_weight(const ConvShape& s, const float* x, const float* gy, float* gw);

}  // namespace catena_cpu
