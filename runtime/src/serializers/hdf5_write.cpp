// Writing HDF5 files in Chainer's layout (save_hdf5): each "/"-separated part of a key is a
// group, the last a dataset; scalars are scalar datasets; None is an empty dataset (a null
// dataspace, h5py.Empty('f')); booleans are h5py's enum {FALSE, TRUE}. Arrays of more than
// one element are gzip-compressed at level 4 when asked, as Chainer does.
//
// Catena's files carry checksums: every array's chunks have HDF5's Fletcher-32 filter, and
// the file is in HDF5 1.10's format, whose metadata (object headers, where scalars live,
// chunk indexes) is checksummed too. h5py and Chainer read such files unchanged.
#include <catena/files.hpp>
#include <catena/serializers.hpp>

#include "hdf5_common.hpp"

#include <algorithm>
#include <vector>

namespace catena {

using namespace hdf5;

namespace {

// The group at `parts` under the file's root, made when missing.
hid_t open_group(hid_t file, const std::vector<std::string>& parts, size_t count, const std::string& where) {
  hid_t g = H5Gopen2(file, "/", H5P_DEFAULT);
  for (size_t i = 0; i < count; ++i) {
    const std::string& name = parts[i];
    htri_t exists = H5Lexists(g, name.c_str(), H5P_DEFAULT);
    hid_t next = exists > 0 ? H5Gopen2(g, name.c_str(), H5P_DEFAULT)
                            : H5Gcreate2(g, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    if (next < 0)
      throw Error(CT_INVALID_ARGUMENT, where + ": the group '" + name + "' cannot be made (a dataset has that name)");
    g = next;
  }
  return g;
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (at <= key.size()) {
    size_t slash = key.find('/', at);
    if (slash == std::string::npos) slash = key.size();
    if (slash > at) parts.push_back(key.substr(at, slash - at));
    at = slash + 1;
  }
  return parts;
}

// Chunks of about this many bytes: big enough for fast reads, small enough that reading
// one through its filters needs little memory.
constexpr uint64_t kChunkBytes = uint64_t(1) << 20;

// The chunk shape for an array: whole trailing axes, as many rows of them as fit.
std::vector<hsize_t> chunk_shape(const std::vector<hsize_t>& dims, size_t item) {
  std::vector<hsize_t> chunk(dims.size(), 1);
  uint64_t inner = item;
  for (size_t i = dims.size(); i-- > 0;) {
    if (inner * dims[i] <= kChunkBytes) {
      chunk[i] = dims[i];
      inner *= dims[i];
      continue;
    }
    chunk[i] = std::max<hsize_t>(1, hsize_t(kChunkBytes / inner));
    break;
  }
  return chunk;
}

}  // namespace

void write_hdf5(const std::string& path, const KeyStore& store, bool compress) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  quiet();
  // libhdf5 opens files by name; it is given the temporary's own descriptor path, so it
  // writes into exactly the file AtomicFile made (O_EXCL, O_NOFOLLOW), whatever happens
  // to names in the folder meanwhile.
  AtomicFile out(path);
  {
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110);
    Handle file(H5Fcreate(out.fd_path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
    if (!file.ok()) throw Error(CT_PERMISSION_DENIED, path + ": HDF5 could not create the file");
    for (const std::string& key : store.keys()) {
      const std::string where = path + ": '" + key + "'";
      std::vector<std::string> parts = split_key(key);
      if (parts.empty()) throw Error(CT_INVALID_ARGUMENT, path + ": an empty key cannot be stored");
      Handle group(open_group(file.get(), parts, parts.size() - 1, where), H5Gclose);
      const char* name = parts.back().c_str();
      if (H5Lexists(group.get(), name, H5P_DEFAULT) > 0)
        throw Error(CT_ALREADY_EXISTS, where + " is both a group and a dataset, or appears twice");
      const Tensor t = store.peek(key);
      if (!t.defined()) {  // None: h5py.Empty('f')
        Handle space(H5Screate(H5S_NULL), H5Sclose);
        Handle ds(H5Dcreate2(group.get(), name, H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                  H5Dclose);
        if (!ds.ok()) throw Error(CT_INTERNAL, where + ": HDF5 could not make the dataset");
        continue;
      }
      const Tensor host = t.contiguous();
      std::vector<hsize_t> dims(host.shape().begin(), host.shape().end());
      Handle space(host.ndim() == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(host.ndim(), dims.data(), nullptr),
                   H5Sclose);
      Handle type(file_type(host.dtype(), where), H5Tclose);
      Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
      if (host.ndim() == 0) {
        // Inside the dataset's object header, under its checksum.
        H5Pset_layout(dcpl.get(), H5D_COMPACT);
      } else if (host.numel() > 0) {
        const std::vector<hsize_t> chunk = chunk_shape(dims, host.dtype().size());
        H5Pset_chunk(dcpl.get(), host.ndim(), chunk.data());
        if (compress && host.numel() > 1) H5Pset_deflate(dcpl.get(), 4);
        H5Pset_fletcher32(dcpl.get());
      }
      Handle ds(H5Dcreate2(group.get(), name, type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                H5Dclose);
      if (!ds.ok()) throw Error(CT_INTERNAL, where + ": HDF5 could not make the dataset");
      Handle mem(file_type(host.dtype(), where), H5Tclose);
      if (host.numel() && H5Dwrite(ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, host.host_data()) < 0)
        throw Error(CT_PERMISSION_DENIED, where + ": HDF5 could not write the data (is the disk full?)");
    }
    if (H5Fclose(file.release()) < 0) throw Error(CT_PERMISSION_DENIED, path + ": HDF5 could not finish the file");
  }
  out.commit();  // syncs the temporary's descriptor: libhdf5 wrote into the same file
}

}  // namespace catena
