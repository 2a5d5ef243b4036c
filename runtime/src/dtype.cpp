#include <catena/dtype.hpp>
#include <catena/error.hpp>

namespace catena {

namespace {
struct Named {
  const char* name;
  const char* short_name;
  Dtype dtype;
};
constexpr Named kNames[] = {
    {"float16", "f16", float16}, {"bfloat16", "bf16", bfloat16}, {"float32", "f32", float32},
    {"float64", "f64", float64}, {"int8", "i8", int8},           {"int32", "i32", int32},
    {"int64", "i64", int64},     {"uint8", "u8", uint8},         {"bool", "bool", bool_},
};
}  // namespace

int Dtype::index() const {
  for (int i = 0; i < static_cast<int>(sizeof(kNames) / sizeof(kNames[0])); ++i)
    if (kNames[i].dtype == *this) return i;
  return 15;
}

std::string Dtype::name() const {
  for (const Named& n : kNames)
    if (n.dtype == *this) return n.name;
  return "dtype(code=" + std::to_string(raw.code) + ", bits=" + std::to_string(raw.bits) + ")";
}

Dtype dtype_from_name(const std::string& name) {
  std::string all;
  for (const Named& n : kNames) {
    if (name == n.name || name == n.short_name) return n.dtype;
    all += (all.empty() ? "" : ", ") + std::string(n.name);
  }
  throw Error(CT_INVALID_ARGUMENT, "unknown dtype '" + name + "'; expected one of " + all);
}

}  // namespace catena
