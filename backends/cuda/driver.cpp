#include "driver.hpp"

#include <dlfcn.h>

namespace catena_cuda {

std::string cuda_version_string(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

DriverCheck check_driver(int needed, const char* library) {
  DriverCheck c;
  void* h = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    c.message = std::string("no NVIDIA driver (") + library +
                " not found): install the NVIDIA driver for this GPU, or choose another device";
    return c;
  }
  using version_fn = int (*)(int*);
  auto version = reinterpret_cast<version_fn>(dlsym(h, "cuDriverGetVersion"));
  if (!version || version(&c.driver_version) != 0) {
    c.message = std::string(library) + " does not answer cuDriverGetVersion: the NVIDIA driver is damaged; reinstall it";
    return c;
  }
  if (c.driver_version < needed) {
    c.message = "the NVIDIA driver supports CUDA " + cuda_version_string(c.driver_version) +
                "; this backend was built with CUDA " + cuda_version_string(needed) +
                " and needs a driver for CUDA " + cuda_version_string(needed) + " or newer (R580 or later for 13.0)";
    return c;
  }
  c.ok = true;  // the library stays loaded: the CUDA runtime opens it next
  return c;
}

}  // namespace catena_cuda
