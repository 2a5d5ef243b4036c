/* A stand-in for libcuda.so.1 in the driver-check test: it reports the CUDA version in
 * CATENA_TEST_DRIVER_VERSION, as an old driver would. */
#include <stdlib.h>

__attribute__((visibility("default"))) int cuDriverGetVersion(int* version) {
  const char* v = getenv("CATENA_TEST_DRIVER_VERSION");
  *version = v ? atoi(v) : 0;
  return 0;
}
