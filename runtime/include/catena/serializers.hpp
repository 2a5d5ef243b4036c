// Serialization of links.
#pragma once

#include <catena/link.hpp>

#include <string>

namespace catena {

// Writes the link's parameters and persistent values to an uncompressed .npz that
// numpy.load reads, with Chainer's keys ("predictor/l1/W"). Written atomically (a
// temporary file, then rename).
void save_npz(const std::string& path, Link& link);

}  // namespace catena
