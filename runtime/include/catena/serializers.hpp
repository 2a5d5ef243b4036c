// Serialization of links in Chainer's formats: NPZ (the generic protocol, formats and
// save/load of any Serializable are in serializer.hpp).
#pragma once

#include <catena/files.hpp>
#include <catena/link.hpp>
#include <catena/serializer.hpp>

#include <string>
#include <utility>
#include <vector>

namespace catena {

// Writes the link's parameters and persistent values to an uncompressed .npz that
// numpy.load reads, with Chainer's keys ("predictor/l1/W"). Written atomically (a
// temporary file, then rename).
void save_npz(const std::string& path, Link& link);
// Any arrays under the given keys ("a/b/c" becomes the entry "a/b/c.npy").
void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays);

// A key space as an .npz: a zip of .npy files, stored or deflated (compress); None as
// numpy pickles it (Chainer's None).
void write_npz(const std::string& path, const KeyStore& store, bool compress = false);
// Every key of an .npz file with its dtype and shape; values are read when first used,
// after their CRC-32 matched. numpy's pickle of None (Chainer's None) is None; any other
// pickled object is refused, never unpickled.
KeyStore read_npz_keys(const std::string& path);
// The same from the file's bytes in memory (`name` names it in errors).
KeyStore read_npz_bytes(const std::string& bytes, const std::string& name = "memory");
// HDF5 files (when this build has HDF5; see serializer_format("hdf5").unavailable).
// Every dataset read (into memory this process shares with the reader process: no copy).
KeyStore read_hdf5_keys(const std::string& path);
// Every dataset listed with its dtype and shape; small ones read, large ones when asked for.
KeyStore list_hdf5_keys(const std::string& path);
KeyStore read_hdf5_bytes(const std::string& bytes, const std::string& name = "memory");
void write_hdf5(const std::string& path, const KeyStore& store, bool compress = false);

// Every array of an .npz file (numpy.savez or savez_compressed, Chainer's save_npz) by
// key, on the cpu device. Entries holding a pickled object (how Chainer saves None) are
// never unpickled: their keys go to `absent`.
std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& path,
                                                     std::vector<std::string>* absent = nullptr);

// Chainer's load_npz: each parameter and persistent value of `link` takes the array at
// `path` + its name ("predictor/l1/W"). With strict, a missing key is an error; without,
// it is skipped. A key saved as None leaves an initialised value alone; an uninitialised
// (lazy) parameter saved as None stays uninitialised only when strict is false. Shapes
// must match (a lazy parameter takes the saved shape). Nothing changes unless every key
// fits and every value read is sound.
void load_npz(const std::string& file, Link& link, const std::string& path = "", bool strict = true);

// Chainer's save_hdf5 / load_hdf5: the same keys as groups and datasets (gzip level 4 for
// arrays of more than one element, as Chainer, unless compress is false).
void save_hdf5(const std::string& path, Serializable& obj, bool compress = true);
void load_hdf5(const std::string& file, Serializable& obj, const std::string& path = "", bool strict = true);

}  // namespace catena
