// HDF5's Fletcher-32 checksum (its "fletcher32" filter): the sums, in ones' complement
// modulo 65535, of the data read as big-endian 16-bit words (a last odd byte is the high
// byte of a word), second sum in the high half. The filter stores it, little-endian,
// after each chunk's bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace catena {

uint32_t fletcher32(const void* data, size_t bytes);

}  // namespace catena
