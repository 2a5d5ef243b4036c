// Helpers shared by the kernel files (the rest of what OPS.md defines is read through the
// SDK, catena/ct_sdk.h).
#include "kernels.hpp"

namespace catena_cpu {

std::vector<int64_t> attr_ints(const ct_op& op, const char* name) {
  const int32_t n = ct_sdk_ints(&op, name, nullptr, 0);
  if (n <= 0) return {};
  std::vector<int64_t> v(static_cast<size_t>(n));
  ct_sdk_ints(&op, name, v.data(), n);
  return v;
}

}  // namespace catena_cpu
