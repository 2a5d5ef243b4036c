// What each elementwise op of api/OPS.md computes, element by element: the conversions of
// core.copy (float16 and bfloat16 included, by hand, rounding to nearest even as the cpu
// does), the unary and binary ops. Functions usable on the device and on the host, so the
// host-side tests (tests/backends/cuda) check them against the catalogue without a GPU;
// kernels.cu runs them over tensors.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#ifdef __CUDACC__
#define CT_HD __host__ __device__ inline
#else
#define CT_HD inline
#endif

namespace catena_cuda {

// The dtypes the kernels know (storage types; float16/bfloat16 compute in float32).
enum class Ty : int { f16, bf16, f32, f64, i8, i32, i64, u8, boolean, unknown };

enum class Unary : int { neg, abs, square, relu, sqrt, exp, log, sin, cos, tanh, sigmoid };
enum class Binary : int { add, sub, mul, div, maximum, minimum, pow, relu_grad };
enum class Compare : int { equal, not_equal, less, less_equal, greater, greater_equal };
enum class Reduce : int { sum, mean, max, min, argmax };

CT_HD uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
CT_HD float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// bfloat16: the top half of a float32.
CT_HD float bf16_to_float(uint16_t b) { return bits_float(uint32_t(b) << 16); }
CT_HD uint16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // NaN stays a quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                          // round to nearest even
  return uint16_t(u >> 16);
}

// IEEE binary16.
CT_HD float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13));  // inf, NaN (payload kept)
  if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (man << 13));
  if (man == 0) return bits_float(sign);
  // Subnormal: man · 2^-24, exact in float32.
  const float v = float(man) * (1.0f / 16777216.0f);
  return sign ? -v : v;
}
CT_HD uint16_t float_to_f16(float f) {
  const uint32_t u = float_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN, quiet
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to infinity (>= 65520)
  if (a >= 0x38800000u) {                                  // normal half (>= 2^-14)
    const uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
    return uint16_t(sign | (r >> 13));
  }
  if (a < 0x33000001u) return uint16_t(sign);  // at most 2^-25: rounds to zero (ties to even)
  // Subnormal half: the value in units of 2^-24, rounded to nearest even.
  const uint32_t exp = a >> 23, man = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exp;  // 14..24 for exponents 102..112
  const uint32_t q = man >> shift, rest = man & ((1u << shift) - 1), half = 1u << (shift - 1);
  return uint16_t(sign | (q + (rest > half || (rest == half && (q & 1u)))));
}

// ---- core.copy's conversions ------------------------------------------------------------

// A value on its way from one dtype to another: floats as double (every float type fits),
// integers and bools as int64.
struct Scalar {
  bool is_float;
  double f;
  int64_t i;
};

CT_HD Scalar load_scalar(const void* p, Ty t) {
  switch (t) {
    case Ty::f16: return {true, f16_to_float(*static_cast<const uint16_t*>(p)), 0};
    case Ty::bf16: return {true, bf16_to_float(*static_cast<const uint16_t*>(p)), 0};
    case Ty::f32: return {true, *static_cast<const float*>(p), 0};
    case Ty::f64: return {true, *static_cast<const double*>(p), 0};
    case Ty::i8: return {false, 0, *static_cast<const int8_t*>(p)};
    case Ty::i32: return {false, 0, *static_cast<const int32_t*>(p)};
    case Ty::i64: return {false, 0, *static_cast<const int64_t*>(p)};
    case Ty::u8: return {false, 0, *static_cast<const uint8_t*>(p)};
    case Ty::boolean: return {false, 0, *static_cast<const uint8_t*>(p) != 0};
    default: return {false, 0, 0};
  }
}

// double -> float rounded to odd (toward zero, the last bit set when inexact): rounding that
// to a narrower type then gives the same value as rounding the double directly.
CT_HD float double_to_float_odd(double d) {
  const float f = float(d);
  if (double(f) == d || d != d) return f;
  uint32_t u = float_bits(f);
  if (std::fabs(double(f)) > std::fabs(d)) u -= 1;  // the neighbour on zero's side
  return bits_float(u | 1u);
}

// float -> integer: truncated, NaN 0, saturated at the type's range.
template <class I>
CT_HD I float_to_int(double v) {
  if (v != v) return I(0);
  const double lo = double(std::numeric_limits<I>::min()), hi = double(std::numeric_limits<I>::max());
  if (v <= lo) return std::numeric_limits<I>::min();
  if (v >= hi) return std::numeric_limits<I>::max();
  return I(v);
}

CT_HD void store_scalar(void* p, Ty t, Scalar s) {
  switch (t) {
    case Ty::f16: *static_cast<uint16_t*>(p) = float_to_f16(s.is_float ? double_to_float_odd(s.f) : float(s.i)); break;
    case Ty::bf16: *static_cast<uint16_t*>(p) = float_to_bf16(s.is_float ? double_to_float_odd(s.f) : float(s.i)); break;
    case Ty::f32: *static_cast<float*>(p) = s.is_float ? float(s.f) : float(s.i); break;
    case Ty::f64: *static_cast<double*>(p) = s.is_float ? s.f : double(s.i); break;
    case Ty::i8: *static_cast<int8_t*>(p) = s.is_float ? float_to_int<int8_t>(s.f) : int8_t(s.i); break;
    case Ty::i32: *static_cast<int32_t*>(p) = s.is_float ? float_to_int<int32_t>(s.f) : int32_t(s.i); break;
    case Ty::i64: *static_cast<int64_t*>(p) = s.is_float ? float_to_int<int64_t>(s.f) : s.i; break;
    case Ty::u8: *static_cast<uint8_t*>(p) = s.is_float ? float_to_int<uint8_t>(s.f) : uint8_t(s.i); break;
    case Ty::boolean: *static_cast<uint8_t*>(p) = s.is_float ? (s.f != 0 || s.f != s.f) : s.i != 0; break;
    default: break;
  }
}

// ---- Unary and binary ops (T: float, double or an integer type) --------------------------

template <class T>
CT_HD T apply_unary(Unary op, T x) {
  switch (op) {
    case Unary::neg: return T(-x);
    case Unary::abs: return x < T(0) ? T(-x) : x;
    case Unary::square: return T(x * x);
    case Unary::relu: return x > T(0) ? x : (x != x ? x : T(0));
    case Unary::sqrt: return T(std::sqrt(x));
    case Unary::exp: return T(std::exp(x));
    case Unary::log: return T(std::log(x));
    case Unary::sin: return T(std::sin(x));
    case Unary::cos: return T(std::cos(x));
    case Unary::tanh: return T(std::tanh(x));
    case Unary::sigmoid: return T(T(0.5) * std::tanh(T(0.5) * x) + T(0.5));
  }
  return x;
}

template <class T>
CT_HD T apply_binary(Binary op, T a, T b) {
  switch (op) {
    case Binary::add: return T(a + b);
    case Binary::sub: return T(a - b);
    case Binary::mul: return T(a * b);
    case Binary::div: return T(a / b);
    case Binary::maximum: return a != a ? a : b != b ? b : (a > b ? a : b);
    case Binary::minimum: return a != a ? a : b != b ? b : (a < b ? a : b);
    case Binary::pow: return T(std::pow(a, b));
    case Binary::relu_grad: return a > T(0) ? b : T(0);
  }
  return a;
}

// The integer ops (OPS.md: neg, abs, square, relu; add, sub, mul, maximum, minimum); add,
// sub, mul, neg and square wrap, computed in the unsigned type. Other ops return x.
template <class I>
CT_HD bool is_negative(I x) {
  if constexpr (std::is_signed<I>::value) return x < 0;
  else return false;
}
template <class I>
CT_HD I wrap_unary(Unary op, I x) {
  using U = typename std::make_unsigned<I>::type;
  const bool negative = is_negative(x);
  switch (op) {
    case Unary::neg: return I(U(0) - U(x));
    case Unary::abs: return negative ? I(U(0) - U(x)) : x;
    case Unary::square: return I(U(x) * U(x));
    case Unary::relu: return negative ? I(0) : x;
    default: return x;
  }
}
template <class I>
CT_HD I wrap_binary(Binary op, I a, I b) {
  using U = typename std::make_unsigned<I>::type;
  switch (op) {
    case Binary::add: return I(U(a) + U(b));
    case Binary::sub: return I(U(a) - U(b));
    case Binary::mul: return I(U(a) * U(b));
    case Binary::maximum: return a > b ? a : b;
    case Binary::minimum: return a < b ? a : b;
    default: return a;
  }
}

// ---- Random numbers (api/OPS.md "Random numbers") -----------------------------------------

// Philox4x32-10 block `counter` under key `seed`.
CT_HD void philox_block(uint64_t seed, uint64_t counter, uint32_t out[4]) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1), c3 = uint32_t(p0), c0 = n0, c2 = n2;
    k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

// The unit value in [0, 1) of element i (its row-major position) of a draw at `offset`.
CT_HD double unit_value(uint64_t seed, uint64_t offset, int64_t i) {
  uint32_t w[4];
  philox_block(seed, offset + uint64_t(i) / 2, w);
  const int lane = int(i & 1) * 2;
  return double((uint64_t(w[lane]) << 21) ^ (w[lane + 1] >> 11)) * (1.0 / 9007199254740992.0);
}

CT_HD double random_value(bool normal, uint64_t seed, uint64_t offset, int64_t i, double a, double b) {
  if (!normal) return a + (b - a) * unit_value(seed, offset, i);  // low, high
  // Box-Muller: 1 - u keeps the logarithm finite; u' from the key seed ^ 0x5851F42D4C957F2D.
  const double u1 = 1.0 - unit_value(seed, offset, i), u2 = unit_value(seed ^ 0x5851F42D4C957F2Dull, offset, i);
  return a + b * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);  // mean, stddev
}

// ---- Optimizer updates (api/OPS.md "Optimizer updates") ----------------------------------
// In the parameter's dtype, in the order the catalogue writes them (kernels.cu is compiled
// without contracting a * b + c, so the bits are the cpu's).

enum class Update : int { sgd, momentum_sgd, nesterov_ag, adagrad, rmsprop, adadelta, adam };

// The hyperparameters converted to T on the host, as the cpu backend converts them
// (b1 = 1 - beta1 and b2 = 1 - beta2 computed in T).
template <class T>
struct Hyper {
  T lr, mu, eps, alpha, rho, b1, b2, eta, wd;
  bool inside_sqrt, amsgrad;
};

// One element: p and its state s0, s1, s2 (those the rule has), updated in place.
template <class T>
CT_HD void update_element(Update u, const Hyper<T>& h, T g, T& p, T& s0, T& s1, T& s2) {
  switch (u) {
    case Update::sgd: p -= h.lr * g; break;
    case Update::momentum_sgd: {
      const T v = s0 * h.mu - h.lr * g;
      s0 = v;
      p += v;
      break;
    }
    case Update::nesterov_ag: {
      const T v = s0 * h.mu - h.lr * g;
      s0 = v;
      const T q = p + h.mu * h.mu * v;
      p = q - (T(1) + h.mu) * h.lr * g;
      break;
    }
    case Update::adagrad: {
      const T a = s0 + g * g;
      s0 = a;
      p -= h.lr * g / (std::sqrt(a) + h.eps);
      break;
    }
    case Update::rmsprop: {
      const T m = s0 * h.alpha + (T(1) - h.alpha) * g * g;
      s0 = m;
      const T denom = h.inside_sqrt ? std::sqrt(m + h.eps) : std::sqrt(m) + h.eps;
      p -= h.lr * g / denom;
      break;
    }
    case Update::adadelta: {
      const T a = s0 * h.rho + (T(1) - h.rho) * g * g;
      s0 = a;
      const T dx = std::sqrt((s1 + h.eps) / (a + h.eps)) * g;
      s1 = s1 * h.rho + (T(1) - h.rho) * dx * dx;
      p -= dx;
      break;
    }
    case Update::adam: {
      const T m = s0 + (g - s0) * h.b1;
      T v = s1 + (g * g - s1) * h.b2;
      s0 = m;
      s1 = v;
      if (h.amsgrad) {  // numpy.maximum: a NaN on either side wins
        T r = s2 < v ? v : s2;
        r = v != v ? v : r;
        s2 = r;
        v = r;
      }
      p -= (m * h.lr / (std::sqrt(v) + h.eps) + p * h.wd) * h.eta;
      break;
    }
  }
}

}  // namespace catena_cuda
