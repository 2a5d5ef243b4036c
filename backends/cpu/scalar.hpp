// Element types of the CPU kernels and the type each one computes in.
#pragma once

#include <catena/ct_base.h>
#include <catena/ct_sdk.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace catena_cpu {

// bfloat16: the top 16 bits of a float32.
struct bf16 {
  uint16_t bits;
};

inline float to_float(bf16 v) {
  uint32_t u = uint32_t(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline bf16 to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                                // round to nearest even
  return bf16{uint16_t(u >> 16)};
}

using f16 = _Float16;

// Storage type T computes in Compute<T>::type: half types in float32.
template <class T>
struct Compute {
  using type = T;
  static type load(T v) { return v; }
  static T store(type v) { return v; }
};
template <>
struct Compute<f16> {
  using type = float;
  static float load(f16 v) { return static_cast<float>(v); }
  static f16 store(float v) { return static_cast<f16>(v); }
};
template <>
struct Compute<bf16> {
  using type = float;
  static float load(bf16 v) { return to_float(v); }
  static bf16 store(float v) { return to_bf16(v); }
};

// The dtypes the CPU kernels know, as a switch-friendly tag.
enum class Ty { f16, bf16, f32, f64, i8, i32, i64, u8, boolean, unknown };

// The SDK's tag, in the same order.
inline Ty ty_of(ct_dtype d) { return static_cast<Ty>(ct_sdk_type_of(d)); }
static_assert(int(Ty::f16) == CT_SDK_F16 && int(Ty::u8) == CT_SDK_U8 && int(Ty::boolean) == CT_SDK_BOOL &&
                  int(Ty::unknown) == CT_SDK_UNKNOWN,
              "Ty follows ct_sdk_type");

inline bool is_float(Ty t) { return t == Ty::f16 || t == Ty::bf16 || t == Ty::f32 || t == Ty::f64; }

// Call f(T{}) with the storage type for `t` (bool is stored as uint8_t).
template <class F>
auto visit(Ty t, F&& f) {
  switch (t) {
    case Ty::f16: return f(f16{});
    case Ty::bf16: return f(bf16{});
    case Ty::f32: return f(float{});
    case Ty::f64: return f(double{});
    case Ty::i8: return f(int8_t{});
    case Ty::i32: return f(int32_t{});
    case Ty::i64: return f(int64_t{});
    case Ty::u8:
    case Ty::boolean:
    case Ty::unknown: break;
  }
  return f(uint8_t{});
}

}  // namespace catena_cpu
