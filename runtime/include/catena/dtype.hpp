// Data types: a thin C++ face on the ABI's ct_dtype.
#pragma once

#include <catena/ct_base.h>

#include <cstddef>
#include <string>

namespace catena {

struct Dtype {
  ct_dtype raw{CT_DTYPE_FLOAT, 32, 1};

  constexpr Dtype() = default;
  constexpr Dtype(ct_dtype_code code, int bits) : raw{static_cast<uint8_t>(code), static_cast<uint8_t>(bits), 1} {}
  constexpr explicit Dtype(ct_dtype d) : raw(d) {}

  constexpr size_t size() const { return raw.bits == 1 ? 1 : raw.bits / 8; }
  constexpr bool is_float() const { return raw.code == CT_DTYPE_FLOAT || raw.code == CT_DTYPE_BFLOAT; }
  constexpr bool is_integer() const { return raw.code == CT_DTYPE_INT || raw.code == CT_DTYPE_UINT; }
  constexpr bool is_bool() const { return raw.code == CT_DTYPE_BOOL; }
  // A small dense number (< 16) for table lookups and cache keys; 15 = unknown.
  int index() const;
  std::string name() const;  // "float32"

  friend constexpr bool operator==(Dtype a, Dtype b) {
    return a.raw.code == b.raw.code && a.raw.bits == b.raw.bits && a.raw.lanes == b.raw.lanes;
  }
  friend constexpr bool operator!=(Dtype a, Dtype b) { return !(a == b); }
};

inline constexpr Dtype float16{CT_DTYPE_FLOAT, 16};
inline constexpr Dtype bfloat16{CT_DTYPE_BFLOAT, 16};
inline constexpr Dtype float32{CT_DTYPE_FLOAT, 32};
inline constexpr Dtype float64{CT_DTYPE_FLOAT, 64};
inline constexpr Dtype int8{CT_DTYPE_INT, 8};
inline constexpr Dtype int32{CT_DTYPE_INT, 32};
inline constexpr Dtype int64{CT_DTYPE_INT, 64};
inline constexpr Dtype uint8{CT_DTYPE_UINT, 8};
inline constexpr Dtype bool_{CT_DTYPE_BOOL, 8};

// Parse "float32", "f32", "int64", ...; throws catena::Error listing the valid names.
Dtype dtype_from_name(const std::string& name);

}  // namespace catena
