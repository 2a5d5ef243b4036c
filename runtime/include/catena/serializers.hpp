// Serialization of links in Chainer's formats: NPZ (the generic protocol, formats and
// save/load of any Serializable are in serializer.hpp).
#pragma once

#include <catena/link.hpp>
#include <catena/serializer.hpp>

#include <string>
#include <utility>
#include <vector>

namespace catena {

// Writes `bytes` to `path` atomically: a temporary file in the same folder, written to
// disk (fsync), then renamed over `path` (and the folder synced), so readers and a crash
// leave the old file or the new one, never half of one.
void write_file_atomic(const std::string& path, const std::string& bytes);

// The same, streamed: write() pieces, then commit(). Without commit() (an error, an
// exception) the temporary file is removed and `path` is untouched.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t bytes);
  uint64_t written() const { return written_; }
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Writes the link's parameters and persistent values to an uncompressed .npz that
// numpy.load reads, with Chainer's keys ("predictor/l1/W"). Written atomically (a
// temporary file, then rename).
void save_npz(const std::string& path, Link& link);
// Any arrays under the given keys ("a/b/c" becomes the entry "a/b/c.npy").
void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays);

// A key space as an .npz: a zip of .npy files, stored or deflated (compress); None as
// numpy pickles it (Chainer's None).
void write_npz(const std::string& path, const KeyStore& store, bool compress = false);
// Every key of an .npz file; pickled objects (Chainer's None) are None, never unpickled.
KeyStore read_npz_keys(const std::string& path);
// The same from the file's bytes in memory (`name` names it in errors).
KeyStore read_npz_bytes(const std::string& bytes, const std::string& name = "memory");
// HDF5 files (when this build has HDF5; see serializer_format("hdf5").unavailable).
KeyStore read_hdf5_keys(const std::string& path);
KeyStore read_hdf5_bytes(const std::string& bytes, const std::string& name = "memory");
void write_hdf5(const std::string& path, const KeyStore& store, bool compress = false);

// Every array of an .npz file (numpy.savez or savez_compressed, Chainer's save_npz) by
// key, on the cpu device. Entries holding a pickled object (how Chainer saves None) are
// never unpickled: their keys go to `absent`.
std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& path,
                                                     std::vector<std::string>* absent = nullptr);

// Chainer's load_npz: each parameter and persistent value of `link` takes the array at
// `path` + its name ("predictor/l1/W"). With strict, a missing key is an error; without,
// it is skipped. Keys saved as None leave their value alone. Shapes must match (a lazy,
// uninitialised parameter takes the saved shape). Nothing changes unless every key fits.
void load_npz(const std::string& file, Link& link, const std::string& path = "", bool strict = true);

// Chainer's save_hdf5 / load_hdf5: the same keys as groups and datasets (gzip level 4 for
// arrays of more than one element, as Chainer, unless compress is false).
void save_hdf5(const std::string& path, Serializable& obj, bool compress = true);
void load_hdf5(const std::string& file, Serializable& obj, const std::string& path = "", bool strict = true);

}  // namespace catena
