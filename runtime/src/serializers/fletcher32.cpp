// Fletcher-32 by blocks: over a block of n words w_0..w_{n-1}, the first sum grows by
// sum(w_i) and the second by n times the first sum before the block plus sum((n - i) w_i),
// so a block is two independent accumulations (which vectorize), not a chain of n steps.
// The result is each sum modulo 65535, written as HDF5 writes it: 0 only for data that
// is all zero, 0xffff for other sums that are multiples of 65535.
#include "fletcher32.hpp"

#include <cstring>

namespace catena {

__attribute__((target_clones("avx2", "default"))) uint32_t fletcher32(const void* data, size_t bytes) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint64_t first = 0, second = 0;
  bool nonzero = false;
  // 4096 words a block: the block's sums stay far below 2^64.
  constexpr size_t kBlock = 4096;
  for (size_t words = bytes / 2; words > 0;) {
    const size_t n = words < kBlock ? words : kBlock;
    uint64_t sum = 0, weighted = 0;
    for (size_t i = 0; i < n; ++i) {
      uint16_t w;
      std::memcpy(&w, p + 2 * i, 2);
      w = __builtin_bswap16(w);
      sum += w;
      weighted += uint64_t(n - i) * w;
    }
    nonzero = nonzero || sum != 0;
    second = (second + n * first + weighted) % 65535;
    first = (first + sum) % 65535;
    p += 2 * n;
    words -= n;
  }
  if (bytes % 2) {
    const uint64_t w = uint64_t(*p) << 8;
    nonzero = nonzero || w != 0;
    first = (first + w) % 65535;
    second = (second + first) % 65535;
  }
  if (nonzero) {
    if (first == 0) first = 0xffff;
    if (second == 0) second = 0xffff;
  }
  return uint32_t(second << 16 | first);
}

}  // namespace catena
