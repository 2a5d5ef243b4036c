// The OpenCL C sources of the ops. Every kernel walks its iteration space with the
// operands' own strides (any strides: broadcast, negative, transposed), so supports_op
// never declines a layout.
#include "kernels.hpp"

#include <catena/abi.h>

#include <utility>

namespace catena_opencl {

namespace {

// The layout struct and the index helper every kernel starts with.
const char* kPrelude = R"CL(
#pragma OPENCL FP_CONTRACT OFF
#define MAX_RANK 8
typedef struct { long shape[8]; long stride[4][8]; long offset[4]; int ndim; int pad; } Layout;
// Element offsets of operand j for the linear index i of the iteration space.
inline long at(const Layout* l, int j, long i) {
  long o = l->offset[j];
  for (int d = l->ndim - 1; d >= 0; --d) {
    long e = l->shape[d];
    long c = i % e;
    i /= e;
    o += c * l->stride[j][d];
  }
  return o;
}
)CL";

std::string header(const std::string& t) {
  std::string s;
  if (t == "double") s += "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n";
  return s + kPrelude + "typedef " + t + " T;\n";
}

}  // namespace

std::string cl_type(int code, int bits) {
  if (code == CT_DTYPE_FLOAT && bits == 32) return "float";
  if (code == CT_DTYPE_FLOAT && bits == 64) return "double";
  if (code == CT_DTYPE_INT && bits == 8) return "char";
  if (code == CT_DTYPE_INT && bits == 32) return "int";
  if (code == CT_DTYPE_INT && bits == 64) return "long";
  if (code == CT_DTYPE_UINT && bits == 8) return "uchar";
  if (code == CT_DTYPE_BOOL && bits == 8) return "uchar";
  return "";
}

std::string fill_source(const std::string& t) {
  // The value arrives as a double bit pattern in a ulong (no fp64 needed on the device
  // for float and integer outputs): the host converts it to T's bits.
  return header("float") + "typedef " + t + R"CL( Y;
__kernel void k(__global Y* y, Layout l, long n, Y value) {
  long i = get_global_id(0);
  if (i < n) y[at(&l, 0, i)] = value;
}
)CL";
}

std::string convert_source(const std::string& from, int from_code, const std::string& to, int to_code) {
  std::string expr;
  const bool from_float = from_code == CT_DTYPE_FLOAT, to_float = to_code == CT_DTYPE_FLOAT;
  if (to_code == CT_DTYPE_BOOL) expr = "(Y)(x != (X)0)";  // NaN != 0: true
  else if (from_code == CT_DTYPE_BOOL) expr = "(Y)(x != 0)";
  else if (from_float && !to_float) expr = "(isnan(x) ? (Y)0 : convert_" + to + "_sat_rtz(x))";
  else if (from_float && to_float) expr = "convert_" + to + "_rte(x)";
  else expr = "(Y)x";  // int -> float (nearest) and int -> int (wrap)
  std::string pre;
  if (from == "double" || to == "double") pre = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n";
  return pre + kPrelude + "typedef " + from + " X;\ntypedef " + to + " Y;\n" +
         "__kernel void k(__global const X* src, __global Y* y, Layout l, long n) {\n"
         "  long i = get_global_id(0);\n  if (i >= n) return;\n"
         "  X x = src[at(&l, 0, i)];\n  y[at(&l, 1, i)] = " +
         expr + ";\n}\n";
}

std::string unary_source(const std::string& op, const std::string& t, bool is_float) {
  std::string e;
  if (op == "neg") e = "-x";
  else if (op == "abs") e = is_float ? "fabs(x)" : "(x < (T)0 ? -x : x)";
  else if (op == "square") e = "x * x";
  else if (op == "relu") e = is_float ? "(isnan(x) ? x : (x > (T)0 ? x : (T)0))" : "(x > (T)0 ? x : (T)0)";
  else if (!is_float) return "";
  else if (op == "sqrt") e = "sqrt(x)";
  else if (op == "exp") e = "exp(x)";
  else if (op == "log") e = "log(x)";
  else if (op == "sin") e = "sin(x)";
  else if (op == "cos") e = "cos(x)";
  else if (op == "tanh") e = "tanh(x)";
  else if (op == "sigmoid") e = "((T)0.5 * tanh((T)0.5 * x) + (T)0.5)";
  else return "";
  return header(t) + "__kernel void k(__global const T* src, __global T* y, Layout l, long n) {\n"
                     "  long i = get_global_id(0);\n  if (i >= n) return;\n"
                     "  T x = src[at(&l, 0, i)];\n  y[at(&l, 1, i)] = " +
         e + ";\n}\n";
}

std::string binary_source(const std::string& op, const std::string& t, bool is_float) {
  std::string e, out = "T";
  if (op == "add") e = "a + b";
  else if (op == "sub") e = "a - b";
  else if (op == "mul") e = "a * b";
  else if (op == "maximum") e = is_float ? "((isnan(a) || isnan(b)) ? a + b : fmax(a, b))" : "(a > b ? a : b)";
  else if (op == "minimum") e = is_float ? "((isnan(a) || isnan(b)) ? a + b : fmin(a, b))" : "(a < b ? a : b)";
  else if (op == "equal") e = "a == b", out = "uchar";
  else if (op == "not_equal") e = "a != b", out = "uchar";
  else if (op == "less") e = "a < b", out = "uchar";
  else if (op == "less_equal") e = "a <= b", out = "uchar";
  else if (op == "greater") e = "a > b", out = "uchar";
  else if (op == "greater_equal") e = "a >= b", out = "uchar";
  else if (!is_float) return "";
  else if (op == "div") e = "a / b";
  else if (op == "pow") e = "pow(a, b)";
  else if (op == "relu_grad") e = "(a > (T)0 ? b : (T)0)";
  else return "";
  return header(t) + "typedef " + out + " Y;\n" +
         "__kernel void k(__global const T* pa, __global const T* pb, __global Y* y, Layout l, long n) {\n"
         "  long i = get_global_id(0);\n  if (i >= n) return;\n"
         "  T a = pa[at(&l, 0, i)], b = pb[at(&l, 1, i)];\n  y[at(&l, 2, i)] = (Y)(" +
         e + ");\n}\n";
}

std::string where_source(const std::string& t) {
  return header(t) +
         "__kernel void k(__global const uchar* c, __global const T* pa, __global const T* pb, __global T* y, Layout l, "
         "long n) {\n"
         "  long i = get_global_id(0);\n  if (i >= n) return;\n"
         "  y[at(&l, 3, i)] = c[at(&l, 0, i)] ? pa[at(&l, 1, i)] : pb[at(&l, 2, i)];\n}\n";
}

std::string reduce_source(const std::string& op, const std::string& t, bool is_float) {
  // One work-item per output element, walking the reduced elements in a fixed order.
  // Accumulators: double where the device has it (the caller picks), else T.
  std::string acc = is_float ? (t == "double" ? "double" : "float") : "long";
  std::string init, step, fin = "r";
  if (op == "sum" || op == "mean") {
    init = "(A)0";
    step = "r += (A)x;";
    if (op == "mean") fin = "(n_red ? r / (A)n_red : (A)NAN)";
  } else if (op == "max" || op == "min") {
    const char* cmp = op == "max" ? ">" : "<";
    init = "(A)src[at(&lo, 0, i) + at(&lr, 0, 0)]";
    step = is_float ? std::string("if (isnan(x) || isnan(r)) r = NAN; else if (x ") + cmp + " r) r = x;"
                    : std::string("if (x ") + cmp + " r) r = x;";
  } else {
    return "";
  }
  if (op == "mean" && !is_float) return "";
  return header(t) + "typedef " + acc + " A;\n" +
         "__kernel void k(__global const T* src, __global T* y, Layout lo, Layout lr, long n_out, long n_red) {\n"
         "  long i = get_global_id(0);\n  if (i >= n_out) return;\n"
         "  long base = at(&lo, 0, i);\n  A r = " +
         init + ";\n  for (long j = 0; j < n_red; ++j) {\n    T x = src[base + at(&lr, 0, j)];\n    " + step +
         "\n  }\n  y[at(&lo, 1, i)] = (T)(" + fin + ");\n}\n";
}

std::string gemm_source(const std::string& t) {
  // Y = alpha op(A) op(B) + beta C, tiles of TILE x TILE in local memory; strides carry
  // the transpositions and the batch. dims = (batch, M, N, K); s = strides in elements:
  // A (batch, row, col), B (batch, row, col), C (batch, row, col), Y (batch, row, col)
  // of op(A) and op(B) as seen, and offsets.
  std::string tile = std::to_string(kGemmTile);
  return header(t) + "#define TILE " + tile + "\n" + R"CL(
__kernel __attribute__((reqd_work_group_size(TILE, TILE, 1)))
void k(__global const T* A, __global const T* B, __global const T* C, __global T* Y,
       long4 dims, long4 sa, long4 sb, long4 sc, long4 sy, T alpha, T beta, int has_c) {
  const long M = dims.y, N = dims.z, K = dims.w;
  const long b = get_global_id(2);
  const int lr = get_local_id(1), lc = get_local_id(0);
  const long row = get_group_id(1) * TILE + lr, col = get_group_id(0) * TILE + lc;
  __local T As[TILE][TILE + 1];
  __local T Bs[TILE][TILE + 1];
  T acc = (T)0;
  const long a0 = sa.w + b * sa.x, b0 = sb.w + b * sb.x;
  for (long k0 = 0; k0 < K; k0 += TILE) {
    long ka = k0 + lc, kb = k0 + lr;
    As[lr][lc] = (row < M && ka < K) ? A[a0 + row * sa.y + ka * sa.z] : (T)0;
    Bs[lr][lc] = (kb < K && col < N) ? B[b0 + kb * sb.y + col * sb.z] : (T)0;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int kk = 0; kk < TILE; ++kk) acc += As[lr][kk] * Bs[kk][lc];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (row < M && col < N) {
    T v = alpha * acc;
    if (has_c) v += beta * C[sc.w + b * sc.x + row * sc.y + col * sc.z];
    Y[sy.w + b * sy.x + row * sy.y + col * sy.z] = v;
  }
}
)CL";
}

namespace {

// Vector type, width and horizontal sum for the fast GEMM kernels: 16 floats or 8 doubles
// (one AVX-512 register on a CPU device; a GPU driver splits them as it likes).
std::string vector_prelude(const std::string& t) {
  const bool f64 = t == "double";
  std::string s = f64 ? "#define VW 8\ntypedef double8 VT;\n#define VLOAD vload8\n#define VSTORE vstore8\n"
                      : "#define VW 16\ntypedef float16 VT;\n#define VLOAD vload16\n#define VSTORE vstore16\n";
  s += "inline T hsum(VT v) {\n";
  if (f64) s += "  double4 h4 = v.lo + v.hi;\n";
  else s += "  float8 h8 = v.lo + v.hi;\n  float4 h4 = h8.lo + h8.hi;\n";
  return s + "  " + t + "2 h2 = h4.lo + h4.hi;\n  return h2.x + h2.y;\n}\n";
}

}  // namespace

std::string gemm_fast_source(const std::string& t, bool dot_form, int rm, int cn) {
  // Each work-item computes an RM x CN block of Y with the whole K loop in registers.
  // K may be split in two (kb outer steps of a_kb / b_kb elements, then K contiguous):
  // the convolution's weight gradient sums over images and pixels in one product.
  std::string s = header(t) + vector_prelude(t) + "#define RM " + std::to_string(rm) + "\n#define CN " +
                  std::to_string(cn) + "\n";
  const char* args =
      "__kernel void k(__global const T* A, __global const T* B, __global const T* C, __global T* Y,\n"
      "                long4 dims, long4 sa, long4 sb, long4 sc, long4 sy, T alpha, T beta, int has_c,\n"
      "                long kb, long a_kb, long b_kb) {\n"
      "  const long M = dims.y, N = dims.z, K = dims.w, bt = get_global_id(2);\n";
  const char* store =
      "inline void put(__global const T* C, __global T* Y, long4 sc, long4 sy, long bt, long row, long col,\n"
      "                T v, T alpha, T beta, int has_c) {\n"
      "  v *= alpha;\n"
      "  if (has_c) v += beta * C[sc.w + bt * sc.x + row * sc.y + col * sc.z];\n"
      "  Y[sy.w + bt * sy.x + row * sy.y + col * sy.z] = v;\n"
      "}\n";
  s += store;
  if (dot_form) {
    // Both operands contiguous along K (A row-major, B as B^T row-major: Y = A B^T): the
    // accumulators are vectors along K, summed across at the end.
    s += args;
    s += R"CL(  const long i0 = get_global_id(1) * RM, j0 = get_global_id(0) * CN;
  if (i0 >= M || j0 >= N) return;
  VT acc[RM][CN];
  T rest[RM][CN];
  for (int r = 0; r < RM; ++r)
    for (int c = 0; c < CN; ++c) acc[r][c] = (VT)0, rest[r][c] = 0;
  for (long o = 0; o < kb; ++o) {
    __global const T* pa[RM];
    __global const T* pb[CN];
    for (int r = 0; r < RM; ++r) pa[r] = A + sa.w + bt * sa.x + o * a_kb + min(i0 + r, M - 1) * sa.y;
    for (int c = 0; c < CN; ++c) pb[c] = B + sb.w + bt * sb.x + o * b_kb + min(j0 + c, N - 1) * sb.z;
    long kk = 0;
    for (; kk + VW <= K; kk += VW) {
      VT bv[CN];
      for (int c = 0; c < CN; ++c) bv[c] = VLOAD(0, pb[c] + kk);
      for (int r = 0; r < RM; ++r) {
        VT av = VLOAD(0, pa[r] + kk);
        for (int c = 0; c < CN; ++c) acc[r][c] = fma(av, bv[c], acc[r][c]);
      }
    }
    for (; kk < K; ++kk)
      for (int r = 0; r < RM; ++r)
        for (int c = 0; c < CN; ++c) rest[r][c] = fma(pa[r][kk], pb[c][kk], rest[r][c]);
  }
  for (int r = 0; r < RM; ++r)
    for (int c = 0; c < CN; ++c)
      if (i0 + r < M && j0 + c < N) put(C, Y, sc, sy, bt, i0 + r, j0 + c, hsum(acc[r][c]) + rest[r][c], alpha, beta, has_c);
}
)CL";
  } else {
    // B contiguous along N: the accumulators are vectors along N (CN of them, VW columns
    // each); A is read one element at a time with any strides. The last block of columns
    // may be partial: its loads go through a private copy.
    s += args;
    s += R"CL(  const long i0 = get_global_id(1) * RM, j0 = get_global_id(0) * (VW * CN);
  if (i0 >= M || j0 >= N) return;
  const bool full = j0 + VW * CN <= N;
  VT acc[RM][CN];
  for (int r = 0; r < RM; ++r)
    for (int c = 0; c < CN; ++c) acc[r][c] = (VT)0;
  for (long o = 0; o < kb; ++o) {
    __global const T* pa[RM];
    for (int r = 0; r < RM; ++r) pa[r] = A + sa.w + bt * sa.x + o * a_kb + min(i0 + r, M - 1) * sa.y;
    __global const T* pb = B + sb.w + bt * sb.x + o * b_kb + j0;
    for (long kk = 0; kk < K; ++kk) {
      VT bv[CN];
      __global const T* row = pb + kk * sb.y;
      if (full) {
        for (int c = 0; c < CN; ++c) bv[c] = VLOAD(0, row + VW * c);
      } else {
        T part[VW * CN];
        for (int e = 0; e < VW * CN; ++e) part[e] = j0 + e < N ? row[e] : (T)0;
        for (int c = 0; c < CN; ++c) bv[c] = VLOAD(0, part + VW * c);
      }
      for (int r = 0; r < RM; ++r) {
        VT av = (VT)(pa[r][kk * sa.z]);
        for (int c = 0; c < CN; ++c) acc[r][c] = fma(av, bv[c], acc[r][c]);
      }
    }
  }
  for (int r = 0; r < RM; ++r) {
    if (i0 + r >= M) break;
    for (int c = 0; c < CN; ++c) {
      T out[VW];
      VSTORE(acc[r][c], 0, out);
      for (int e = 0; e < VW; ++e) {
        long col = j0 + VW * c + e;
        if (col < N) put(C, Y, sc, sy, bt, i0 + r, col, out[e], alpha, beta, has_c);
      }
    }
  }
}
)CL";
  }
  return s;
}

std::string argmax_source(const std::string& t, bool is_float) {
  std::string better = is_float ? "(isnan(x) && !isnan(best)) || (!isnan(best) && x > best)" : "x > best";
  return header(t) + "__kernel void k(__global const T* src, __global long* y, Layout l, long len, long step, long n) {\n"
                     "  long i = get_global_id(0);\n  if (i >= n) return;\n"
                     "  long base = at(&l, 0, i), arg = 0;\n  T best = src[base];\n"
                     "  for (long j = 1; j < len; ++j) {\n    T x = src[base + j * step];\n"
                     "    if (" + better + ") { best = x; arg = j; }\n  }\n"
                     "  y[at(&l, 1, i)] = arg;\n}\n";
}

std::string random_source(bool normal, const std::string& t, bool device_fp64) {
  // Philox4x32-10 exactly as OPS.md and the CPU backend, computed in double where the
  // device has it: bit-identical uniforms; normals up to the device's log, sqrt and cos.
  const bool fp64 = device_fp64;
  std::string real = fp64 ? "double" : "float";
  std::string s = std::string(fp64 ? "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n" : "") + kPrelude +
                  "typedef " + t + " T;\ntypedef " + real + " R;\n" + R"CL(
inline void philox(ulong seed, ulong counter, uint out[4]) {
  uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c2 = 0, c3 = 0;
  uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint hi0 = mul_hi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    uint hi1 = mul_hi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    uint n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}
inline ulong bits53(ulong seed, ulong offset, long i) {
  uint w[4];
  philox(seed, offset + (ulong)i / 2, w);
  int lane = (int)(i & 1) * 2;
  return ((ulong)w[lane] << 21) ^ (ulong)(w[lane + 1] >> 11);
}
__kernel void k(__global T* y, Layout l, long n, ulong seed, ulong offset, R a, R b) {
  long i = get_global_id(0);
  if (i >= n) return;
)CL";
  if (normal) {
    s += "  R u1 = (R)1 - (R)bits53(seed, offset, i) * (R)1.1102230246251565e-16;\n"
         "  R u2 = (R)bits53(seed ^ 0x5851F42D4C957F2DUL, offset, i) * (R)1.1102230246251565e-16;\n"
         "  y[at(&l, 0, i)] = (T)(a + b * sqrt((R)-2 * log(u1)) * cos((R)6.283185307179586 * u2));\n}\n";
  } else {
    s += "  R u = (R)bits53(seed, offset, i) * (R)1.1102230246251565e-16;\n"
         "  y[at(&l, 0, i)] = (T)(a + (b - a) * u);\n}\n";
  }
  return s;
}

std::string optim_source(const std::string& rule, const std::string& t, bool amsgrad) {
  // The CPU backend's arithmetic, in its order (no contraction: FP_CONTRACT OFF).
  std::string body, args = "T lr, T c1, T c2, T c3, T c4, T c5";
  if (rule == "sgd") {
    body = "p[i] -= lr * g[i];";
  } else if (rule == "momentum_sgd") {  // c1 = momentum
    body = "T vi = s1[i] * c1 - lr * g[i]; s1[i] = vi; p[i] += vi;";
  } else if (rule == "nesterov_ag") {
    body = "T vi = s1[i] * c1 - lr * g[i]; s1[i] = vi; T pi = p[i] + c1 * c1 * vi; p[i] = pi - ((T)1 + c1) * lr * g[i];";
  } else if (rule == "adagrad") {  // c1 = eps
    body = "T hi = s1[i] + g[i] * g[i]; s1[i] = hi; p[i] -= lr * g[i] / (sqrt(hi) + c1);";
  } else if (rule == "rmsprop") {  // c1 = alpha, c2 = eps, c3 = eps inside (0/1)
    body = "T m = s1[i] * c1 + ((T)1 - c1) * g[i] * g[i]; s1[i] = m; "
           "T denom = c3 != (T)0 ? sqrt(m + c2) : sqrt(m) + c2; p[i] -= lr * g[i] / denom;";
  } else if (rule == "adadelta") {  // c1 = rho, c2 = eps
    body = "T a = s1[i] * c1 + ((T)1 - c1) * g[i] * g[i]; s1[i] = a; "
           "T dx = sqrt((s2[i] + c2) / (a + c2)) * g[i]; s2[i] = s2[i] * c1 + ((T)1 - c1) * dx * dx; p[i] -= dx;";
  } else if (rule == "adam") {  // c1 = 1 - beta1, c2 = 1 - beta2, c3 = eps, c4 = eta, c5 = weight decay
    body = "T gi = g[i]; T mi = s1[i] + (gi - s1[i]) * c1; T vi = s2[i] + (gi * gi - s2[i]) * c2; "
           "s1[i] = mi; s2[i] = vi; ";
    if (amsgrad) body += "T h = s3[i]; T r = h < vi ? vi : h; r = vi != vi ? vi : r; s3[i] = r; vi = r; ";
    body += "p[i] -= (mi * lr / (sqrt(vi) + c3) + p[i] * c5) * c4;";
  } else {
    return "";
  }
  // Each operand from its own element offset.
  for (auto [from, to] : {std::pair<std::string, std::string>{"g[i]", "g[og + i]"}, {"p[i]", "p[op + i]"},
                          {"s1[i]", "s1[o1 + i]"}, {"s2[i]", "s2[o2 + i]"}, {"s3[i]", "s3[o3 + i]"}})
    for (size_t at; (at = body.find(from)) != std::string::npos;) body.replace(at, from.size(), to);
  return header(t) + "__kernel void k(__global const T* g, __global T* p, __global T* s1, __global T* s2, __global T* s3, "
                     "long n, long og, long op, long o1, long o2, long o3, " + args +
                     ") {\n  long i = get_global_id(0);\n  if (i >= n) return;\n  " + body + "\n}\n";
}

namespace {

const char* kGeometry = R"CL(
typedef struct {
  long n, c, h, w, oc, kh, kw, oh, ow, sy, sx, ph, pw, dy, dx, groups;
  long big[4], filter[4], small[4];
  long big_offset, filter_offset, small_offset, bias_offset, bias_stride, pad;
} Geometry;
#define BIG(p, a, b, c, d) ((p).big_offset + (a) * (p).big[0] + (b) * (p).big[1] + (c) * (p).big[2] + (d) * (p).big[3])
#define FIL(p, a, b, c, d) ((p).filter_offset + (a) * (p).filter[0] + (b) * (p).filter[1] + (c) * (p).filter[2] + (d) * (p).filter[3])
#define SMALL(p, a, b, c, d) ((p).small_offset + (a) * (p).small[0] + (b) * (p).small[1] + (c) * (p).small[2] + (d) * (p).small[3])
// The output index whose window reads input index i through tap k along one axis, or -1.
inline long reader(long i, long pad, long k, long dilation, long stride, long out) {
  long t = i + pad - k * dilation;
  if (t < 0 || t % stride) return -1;
  t /= stride;
  return t < out ? t : -1;
}
)CL";

}  // namespace

std::string conv_source(const std::string& which, const std::string& t) {
  std::string body;
  if (which == "conv2d") {
    body = R"CL(
__kernel void k(__global const T* x, __global const T* W, __global const T* b, __global T* y, Geometry p, int has_b, long total) {
  long i = get_global_id(0);
  if (i >= total) return;
  long ox = i % p.ow, t = i / p.ow, oy = t % p.oh; t /= p.oh;
  long o = t % p.oc, n = t / p.oc;
  long cg = p.c / p.groups, ocg = p.oc / p.groups, c0 = (o / ocg) * cg;
  T acc = (T)0;
  for (long c = 0; c < cg; ++c)
    for (long ky = 0; ky < p.kh; ++ky) {
      long iy = oy * p.sy - p.ph + ky * p.dy;
      if (iy < 0 || iy >= p.h) continue;
      for (long kx = 0; kx < p.kw; ++kx) {
        long ix = ox * p.sx - p.pw + kx * p.dx;
        if (ix < 0 || ix >= p.w) continue;
        acc += x[BIG(p, n, c0 + c, iy, ix)] * W[FIL(p, o, c, ky, kx)];
      }
    }
  if (has_b) acc += b[p.bias_offset + o * p.bias_stride];
  y[SMALL(p, n, o, oy, ox)] = acc;
}
)CL";
  } else if (which == "conv2d_grad_input") {
    body = R"CL(
__kernel void k(__global const T* gy, __global const T* W, __global T* gx, Geometry p, long total) {
  long i = get_global_id(0);
  if (i >= total) return;
  long ix = i % p.w, t = i / p.w, iy = t % p.h; t /= p.h;
  long c = t % p.c, n = t / p.c;
  long cg = p.c / p.groups, ocg = p.oc / p.groups, g = c / cg, cl = c % cg;
  T acc = (T)0;
  for (long o = g * ocg; o < (g + 1) * ocg; ++o)
    for (long ky = 0; ky < p.kh; ++ky) {
      long oy = reader(iy, p.ph, ky, p.dy, p.sy, p.oh);
      if (oy < 0) continue;
      for (long kx = 0; kx < p.kw; ++kx) {
        long ox = reader(ix, p.pw, kx, p.dx, p.sx, p.ow);
        if (ox < 0) continue;
        acc += gy[SMALL(p, n, o, oy, ox)] * W[FIL(p, o, cl, ky, kx)];
      }
    }
  gx[BIG(p, n, c, iy, ix)] = acc;
}
)CL";
  } else if (which == "conv2d_grad_weight") {
    body = R"CL(
__kernel void k(__global const T* x, __global const T* gy, __global T* gW, Geometry p, long total) {
  long i = get_global_id(0);
  if (i >= total) return;
  long cg = p.c / p.groups, ocg = p.oc / p.groups;
  long kx = i % p.kw, t = i / p.kw, ky = t % p.kh; t /= p.kh;
  long cl = t % cg, o = t / cg, c = (o / ocg) * cg + cl;
  T acc = (T)0;
  for (long n = 0; n < p.n; ++n)
    for (long oy = 0; oy < p.oh; ++oy) {
      long iy = oy * p.sy - p.ph + ky * p.dy;
      if (iy < 0 || iy >= p.h) continue;
      for (long ox = 0; ox < p.ow; ++ox) {
        long ix = ox * p.sx - p.pw + kx * p.dx;
        if (ix < 0 || ix >= p.w) continue;
        acc += gy[SMALL(p, n, o, oy, ox)] * x[BIG(p, n, c, iy, ix)];
      }
    }
  gW[FIL(p, o, cl, ky, kx)] = acc;
}
)CL";
  } else if (which == "im2col") {
    // Columns of images n0.. (groups of 1): col[img][c, ky, kx][oy, ox], zeros where the
    // window reaches the padding.
    body = R"CL(
__kernel void k(__global const T* x, __global T* col, Geometry p, long n0, long total) {
  long i = get_global_id(0);
  if (i >= total) return;
  long ox = i % p.ow, t = i / p.ow, oy = t % p.oh; t /= p.oh;
  long kx = t % p.kw; t /= p.kw;
  long ky = t % p.kh; t /= p.kh;
  long c = t % p.c, img = t / p.c;
  long iy = oy * p.sy - p.ph + ky * p.dy, ix = ox * p.sx - p.pw + kx * p.dx;
  col[i] = (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w) ? x[BIG(p, n0 + img, c, iy, ix)] : (T)0;
}
)CL";
  } else if (which == "col2im") {
    // The input gradient of images n0.. from their column gradients, gathered per input
    // element in a fixed order (deterministic, no atomics).
    body = R"CL(
__kernel void k(__global const T* gcol, __global T* gx, Geometry p, long n0, long total) {
  long i = get_global_id(0);
  if (i >= total) return;
  long ix = i % p.w, t = i / p.w, iy = t % p.h; t /= p.h;
  long c = t % p.c, img = t / p.c;
  __global const T* base = gcol + (img * p.c + c) * p.kh * p.kw * p.oh * p.ow;
  T acc = (T)0;
  for (long ky = 0; ky < p.kh; ++ky) {
    long oy = reader(iy, p.ph, ky, p.dy, p.sy, p.oh);
    if (oy < 0) continue;
    for (long kx = 0; kx < p.kw; ++kx) {
      long ox = reader(ix, p.pw, kx, p.dx, p.sx, p.ow);
      if (ox < 0) continue;
      acc += base[((ky * p.kw + kx) * p.oh + oy) * p.ow + ox];
    }
  }
  gx[BIG(p, n0 + img, c, iy, ix)] = acc;
}
)CL";
  } else {
    return "";
  }
  return header(t) + kGeometry + body;
}

std::string pool_source(const std::string& which, const std::string& t) {
  // big: x / gx; filter: indexes (int); small: y / gy. Windows: (kh, kw) at (oy sy - ph,
  // ox sx - pw); positions outside the input are skipped.
  std::string body;
  if (which == "max_pool2d") {
    body = R"CL(
__kernel void k(__global const T* x, __global T* y, __global int* idx, Geometry p, long total) {
  long i = get_global_id(0);
  if (i >= total) return;
  long ox = i % p.ow, t = i / p.ow, oy = t % p.oh; t /= p.oh;
  long c = t % p.c, n = t / p.c;
  T best = -INFINITY;
  int arg = -1;
  for (long ky = 0; ky < p.kh; ++ky)
    for (long kx = 0; kx < p.kw; ++kx) {
      long iy = oy * p.sy - p.ph + ky, ix = ox * p.sx - p.pw + kx;
      if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
      T v = x[BIG(p, n, c, iy, ix)];
      if (arg < 0 || v > best || (v != v && best == best)) { best = v; arg = (int)(iy * p.w + ix); }
    }
  y[SMALL(p, n, c, oy, ox)] = best;
  idx[FIL(p, n, c, oy, ox)] = arg;
}
)CL";
  } else if (which == "max_pool2d_grad" || which == "avg_pool2d_grad") {
    // Gather form: each input position sums, in window order, what the windows that
    // cover it send (the CPU's order of additions).
    const bool max = which == "max_pool2d_grad";
    body = std::string("__kernel void k(__global const T* gy, __global const int* idx, __global T* gx, Geometry p, long total) {\n") +
           R"CL(  long i = get_global_id(0);
  if (i >= total) return;
  long ix = i % p.w, t = i / p.w, iy = t % p.h; t /= p.h;
  long c = t % p.c, n = t / p.c;
  long oy_lo = iy + p.ph - p.kh + 1, ox_lo = ix + p.pw - p.kw + 1;
  oy_lo = oy_lo <= 0 ? 0 : (oy_lo + p.sy - 1) / p.sy;
  ox_lo = ox_lo <= 0 ? 0 : (ox_lo + p.sx - 1) / p.sx;
  long oy_hi = min((iy + p.ph) / p.sy, p.oh - 1), ox_hi = min((ix + p.pw) / p.sx, p.ow - 1);
  T acc = (T)0;
  for (long oy = oy_lo; oy <= oy_hi; ++oy)
    for (long ox = ox_lo; ox <= ox_hi; ++ox) {
)CL" + (max ? "      if (idx[FIL(p, n, c, oy, ox)] == (int)(iy * p.w + ix)) acc += gy[SMALL(p, n, c, oy, ox)];\n"
            : "      acc += gy[SMALL(p, n, c, oy, ox)] / (T)(p.kh * p.kw);\n") +
           "    }\n  gx[BIG(p, n, c, iy, ix)] = acc;\n}\n";
  } else if (which == "max_pool2d_gather") {
    body = R"CL(
__kernel void k(__global const T* x, __global const int* idx, __global T* y, Geometry p, long total) {
  long i = get_global_id(0);
  if (i >= total) return;
  long ox = i % p.ow, t = i / p.ow, oy = t % p.oh; t /= p.oh;
  long c = t % p.c, n = t / p.c;
  int a = idx[FIL(p, n, c, oy, ox)];
  y[SMALL(p, n, c, oy, ox)] = a >= 0 ? x[BIG(p, n, c, a / p.w, a % p.w)] : (T)0;
}
)CL";
  } else if (which == "avg_pool2d") {
    body = R"CL(
__kernel void k(__global const T* x, __global T* y, Geometry p, long total) {
  long i = get_global_id(0);
  if (i >= total) return;
  long ox = i % p.ow, t = i / p.ow, oy = t % p.oh; t /= p.oh;
  long c = t % p.c, n = t / p.c;
  T sum = (T)0;
  for (long ky = 0; ky < p.kh; ++ky)
    for (long kx = 0; kx < p.kw; ++kx) {
      long iy = oy * p.sy - p.ph + ky, ix = ox * p.sx - p.pw + kx;
      if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w) sum += x[BIG(p, n, c, iy, ix)];
    }
  y[SMALL(p, n, c, oy, ox)] = sum / (T)(p.kh * p.kw);
}
)CL";
  } else {
    return "";
  }
  return header(t) + kGeometry + body;
}

std::string take_source(bool add, const std::string& t, const std::string& index_type) {
  // Iteration over the output: take y[o, k, i] (k over every index position); take_add
  // y[o, j, i] over base's shape. Operands are flattened to (outer, middle, inner) with
  // strided layouts carried by Layout (x: operand 0, indices: 1, y: 2, updates: 3).
  std::string s = header(t) + "typedef " + index_type + " I;\n";
  if (!add) {
    s += R"CL(
__kernel void k(__global const T* x, __global const I* ind, __global T* y, __global int* flag,
                Layout lx, Layout li, Layout ly, long outer, long nk, long inner, long len, long n) {
  long i = get_global_id(0);
  if (i >= n) return;
  long in = i % inner, t = i / inner, kk = t % nk, o = t / nk;
  long j = (long)ind[at(&li, 0, kk)];
  if (j < 0) j += len;
  long dst = at(&ly, 0, i);
  if (j < 0 || j >= len) { atomic_or(flag, 1); y[dst] = (T)0; return; }
  y[dst] = x[at(&lx, 0, (o * len + j) * inner + in)];
}
)CL";
  } else {
    s += R"CL(
__kernel void k(__global const T* base, __global const I* ind, __global const T* upd, __global T* y, __global int* flag,
                Layout lb, Layout li, Layout lu, Layout ly, long outer, long nk, long inner, long len, long n) {
  long i = get_global_id(0);
  if (i >= n) return;
  long in = i % inner, t = i / inner, j = t % len, o = t / len;
  T acc = base[at(&lb, 0, i)];
  for (long kk = 0; kk < nk; ++kk) {
    long q = (long)ind[at(&li, 0, kk)];
    if (q < 0) q += len;
    if (q < 0 || q >= len) { if (j == 0 && o == 0 && in == 0) atomic_or(flag, 2); continue; }
    if (q == j) acc += upd[at(&lu, 0, (o * nk + kk) * inner + in)];
  }
  y[at(&ly, 0, i)] = acc;
}
)CL";
  }
  return s;
}

std::string quantize_source(const std::string& from, const std::string& to) {
  const std::string lo = to == "uchar" ? "0.0f" : "-128.0f", hi = to == "uchar" ? "255.0f" : "127.0f";
  return header(from) + "typedef " + to + " Q;\n" +
         "__kernel void k(__global const T* x, __global const float* inv, __global Q* q, Layout l, long n, long zp) {\n"
         "  long i = get_global_id(0);\n  if (i >= n) return;\n"
         "  float t = (float)x[at(&l, 0, i)] * inv[at(&l, 1, i)];\n"
         "  float r = isnan(t) ? (float)zp : rint(t) + (float)zp;\n"
         "  q[at(&l, 2, i)] = (Q)fmin(fmax(r, " + lo + "), " + hi + ");\n}\n";
}

std::string dequantize_source(const std::string& from, const std::string& to) {
  return header(to) + "typedef " + from + " Q;\n" +
         "__kernel void k(__global const Q* q, __global const float* s, __global T* y, Layout l, long n, long zp) {\n"
         "  long i = get_global_id(0);\n  if (i >= n) return;\n"
         "  float v = (float)((long)q[at(&l, 0, i)] - zp) * s[at(&l, 1, i)];\n"
         "  y[at(&l, 2, i)] = (T)v;\n}\n";
}

std::string gemm_i8_source() {
  return std::string(kPrelude) + R"CL(
typedef struct { long m, n, k; long a[3], b[3], y[3]; long sa[2], sb[2], bias[2]; long pad; } I8Geometry;
__kernel void k(__global const char* A, __global const char* B, __global const float* sa, __global const float* sb,
                __global const float* bias, __global void* Y, I8Geometry g, int mode) {
  long i = get_global_id(0);
  if (i >= g.m * g.n) return;
  long r = i / g.n, c = i % g.n;
  __global const char* a = A + g.a[2] + r * g.a[0];
  __global const char* b = B + g.b[2] + c * g.b[0];
  uint acc = 0;
  for (long p = 0; p < g.k; ++p) acc += (uint)((int)a[p * g.a[1]] * (int)b[p * g.b[1]]);
  long o = g.y[2] + r * g.y[0] + c * g.y[1];
  if (mode == 0) {
    ((__global int*)Y)[o] = as_int(acc);
    return;
  }
  float scale = sa[g.sa[1] + r * g.sa[0]] * sb[g.sb[1] + c * g.sb[0]];
  float v = convert_float(as_int(acc)) * scale;
  if (mode == 2) v = v + bias[g.bias[1] + c * g.bias[0]];
  ((__global float*)Y)[o] = v;
}
)CL";
}

}  // namespace catena_opencl
