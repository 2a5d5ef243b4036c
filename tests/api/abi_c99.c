/* The ABI headers compile alone as C99 with -pedantic (see tests/api/meson.build). */
#include <catena/abi.h>

int catena_abi_c99_check(void) { return CT_ABI_MAJOR; }
