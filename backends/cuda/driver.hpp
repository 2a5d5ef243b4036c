// Whether this machine can run the backend at all, in words a user can act on: the NVIDIA
// driver (libcuda.so.1) present, and new enough for the CUDA runtime this backend was built
// with. Checked before the CUDA runtime is first called, so that its own error ("CUDA driver
// version is insufficient") never reaches a user without the fix beside it.
#pragma once

#include <string>

namespace catena_cuda {

struct DriverCheck {
  bool ok = false;
  int driver_version = 0;  // cuDriverGetVersion: 1000 * major + 10 * minor
  std::string message;     // why not, when !ok
};

// `needed`: the CUDA version the backend was built with (CUDART_VERSION). `library`: the
// driver library to look for (libcuda.so.1; tests pass another name).
DriverCheck check_driver(int needed, const char* library = "libcuda.so.1");

// 13000 -> "13.0".
std::string cuda_version_string(int version);

}  // namespace catena_cuda
