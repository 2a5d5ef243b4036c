// OpenCL C sources for the ops, generated per (op, dtypes), and the kernels' argument
// layout shared with the host.
#pragma once

#include <CL/cl.h>

#include <cstdint>
#include <string>

namespace catena_opencl {

constexpr int kMaxRank = 8;
constexpr int kMaxOperands = 4;

// The layout of up to four operands over one iteration space (the output's shape): the
// same struct in OpenCL C (see kLayoutSource). Offsets and strides are in elements.
struct Layout {
  cl_long shape[kMaxRank];
  cl_long stride[kMaxOperands][kMaxRank];
  cl_long offset[kMaxOperands];
  cl_int ndim;
  cl_int pad;
};

// 2-D convolution and pooling geometry with three NCHW operands' strides and offsets:
// "big" (x, gx), "filter" (W, gW) or "indexes", "small" (y, gy). The same struct in
// OpenCL C (kGeometrySource).
struct Geometry {
  cl_long n, c, h, w, oc, kh, kw, oh, ow, sy, sx, ph, pw, dy, dx, groups;
  cl_long big[4], filter[4], small[4];
  cl_long big_offset, filter_offset, small_offset, bias_offset, bias_stride, pad;
};

// The OpenCL C type of a dtype (code, bits), or "" when OpenCL has none we use.
std::string cl_type(int code, int bits);

// Sources. Each defines one kernel named "k".
//   fill:    (y, layout, n, value as double)
//   convert: (x, y, layout, n)                      y = convert(x), OPS.md's rules
//   unary:   (x, y, layout, n)
//   binary:  (a, b, y, layout, n)                   also comparisons (y bool) and relu_grad
//   where:   (cond, a, b, y, layout, n)
//   reduce:  (x, y, layout_out, layout_red, n_out, n_red)
//   gemm:    (A, B, C, Y, dims, strides, alpha, beta) tiled, batched
std::string fill_source(const std::string& t);
std::string convert_source(const std::string& from, int from_code, const std::string& to, int to_code);
// `op` is the op name's tail ("neg", "exp", ...); empty when not available for the type.
std::string unary_source(const std::string& op, const std::string& t, bool is_float);
std::string binary_source(const std::string& op, const std::string& t, bool is_float);
std::string where_source(const std::string& t);
std::string reduce_source(const std::string& op, const std::string& t, bool is_float);
std::string gemm_source(const std::string& t);
//   fast gemm: (A, B, C, Y, dims, strides, alpha, beta, has_c, kb, a_kb, b_kb), RM x CN
//   outputs per work-item. dot_form: A and op(B) contiguous along K (vectors along K);
//   else op(B) contiguous along N (CN vectors along N). K is kb blocks of dims.w.
std::string gemm_fast_source(const std::string& t, bool dot_form, int rm, int cn);
//   argmax:  (x, y, layout_out(x base, y), axis_len, axis_stride, n_out)
std::string argmax_source(const std::string& t, bool is_float);
//   random:  (y, layout, n, seed, offset, a, b)      uniform: low, high; normal: mean, stddev
std::string random_source(bool normal, const std::string& t, bool device_fp64);
//   optim.<rule>: (g, p, s1, s2, s3, n, scalars...) dense operands, the CPU's arithmetic order
std::string optim_source(const std::string& rule, const std::string& t, bool amsgrad);
//   conv2d:             (x, W, b, y, geometry, has_b, total)
//   conv2d_grad_input:  (gy, W, gx, geometry, total)
//   conv2d_grad_weight: (x, gy, gW, geometry, total)
//   max_pool2d:         (x, y, indexes, geometry, total)     and the other pooling ops
std::string conv_source(const std::string& which, const std::string& t);
std::string pool_source(const std::string& which, const std::string& t);
//   take:     (x, indices, y, flag, outer, k, inner, axis_len, x layout, y layout, index layout)
//   take_add: (base, indices, updates, y, flag, ...) gather form: deterministic, k in order
// An index out of range sets *flag (checked at the next synchronisation).
std::string take_source(bool add, const std::string& t, const std::string& index_type);

// The int8 product's operands, in elements: A (m, k), B (n, k), Y (m, n) as row stride,
// column stride, offset; the float32 vectors a_scale, b_scale, bias as stride, offset.
// The same struct in OpenCL C (gemm_i8_source).
struct I8Geometry {
  cl_long m, n, k;
  cl_long a[3], b[3], y[3];
  cl_long sa[2], sb[2], bias[2];
  cl_long pad;
};

//   quantize:   (x, inv_scale, q, layout, n, zero_point)  api/OPS.md's core.quantize
//   dequantize: (q, scale, y, layout, n, zero_point)
//   gemm_i8:    (A, B, a_scale, b_scale, bias, Y, geometry, mode) mode 0: int32 Y; 1: scaled;
//               2: scaled plus bias. One work-item per output, K in order, wrapping sums.
std::string quantize_source(const std::string& from, const std::string& to);
std::string dequantize_source(const std::string& from, const std::string& to);
std::string gemm_i8_source();

constexpr int kGemmTile = 16;

}  // namespace catena_opencl
