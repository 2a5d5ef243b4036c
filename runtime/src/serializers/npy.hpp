// The .npy format (numpy's NEP 1): a magic string, a version, the header's length, the
// header (a Python dict literal of 'descr', 'fortran_order' and 'shape'), the data. The
// header is parsed strictly, as numpy's reader does: those three keys and nothing else,
// values of their types, a dtype Catena has. An object array is read only when it is
// exactly numpy's pickle of None (how Chainer saves an uninitialised parameter); nothing
// is ever unpickled.
#pragma once

#include <catena/dtype.hpp>
#include <catena/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace catena {
namespace npy {

// Bytes of the preamble (magic, version, header length) that say how long the header is.
constexpr size_t kPreamble = 12;
// numpy's pickle of None is under 200 bytes: an object array longer than this is not it.
constexpr size_t kMaxPickledNone = 256;

struct Header {
  Dtype dtype;
  Shape shape;
  bool fortran = false;     // column-major data
  bool big_endian = false;  // bytes to swap into little-endian
  bool object = false;      // '|O': a pickle follows
  uint64_t size = 0;        // bytes before the data (preamble and header)
  uint64_t data_bytes() const { return object ? 0 : uint64_t(shape.numel()) * dtype.size(); }
};

// The header's total size from the first min(n, kPreamble) bytes of a .npy file.
uint64_t header_size(const char* first, size_t n, const std::string& where);
// The header of a .npy file from its first header_size() bytes. Errors name `where`.
Header parse_header(const char* bytes, size_t n, const std::string& where);
// Whether `n` bytes after an object array's header are numpy's pickle of a 0-d array
// holding None (pickle protocols 2 to 5, as numpy 1.x and 2.x write them).
bool is_pickled_none(const char* data, size_t n);

// The header numpy writes for a C-ordered array of this dtype and shape (version 1.0,
// padded to a multiple of 64 bytes).
std::string header_for(Dtype dtype, const Shape& shape);
// A whole .npy file of None, as numpy.save(numpy.asarray(None), allow_pickle=True) writes
// it (pickle protocol 3): what Chainer writes for an uninitialised parameter.
const std::string& none_file();

}  // namespace npy
}  // namespace catena
