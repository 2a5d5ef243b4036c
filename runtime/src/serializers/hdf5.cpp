// HDF5 files in Chainer's layout (save_hdf5 / load_hdf5): each "/"-separated part of a key
// is a group, the last a dataset; scalars are scalar datasets; None is an empty dataset
// (a null dataspace, h5py.Empty('f')); booleans are h5py's enum {FALSE, TRUE}. Arrays of
// more than one element are gzip-compressed at level 4 when asked, as Chainer does.
#include <catena/runtime.hpp>
#include <catena/serializers.hpp>

#include <hdf5.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

namespace catena {

namespace {

// An HDF5 handle closed on scope exit.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// HDF5 prints its error stack to stderr by default; Catena reports errors itself.
void quiet() {
  static bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// IEEE half precision as h5py defines it.
hid_t half_type() {
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  return t;
}

// h5py's boolean: an enum over int8 with FALSE = 0 and TRUE = 1.
hid_t bool_type() {
  hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
  int8_t f = 0, v = 1;
  H5Tenum_insert(t, "FALSE", &f);
  H5Tenum_insert(t, "TRUE", &v);
  return t;
}

// The file type for a dtype (a new handle the caller closes).
hid_t file_type(Dtype d, const std::string& where) {
  if (d == float32) return H5Tcopy(H5T_IEEE_F32LE);
  if (d == float64) return H5Tcopy(H5T_IEEE_F64LE);
  if (d == float16) return half_type();
  if (d == int8) return H5Tcopy(H5T_STD_I8LE);
  if (d == int32) return H5Tcopy(H5T_STD_I32LE);
  if (d == int64) return H5Tcopy(H5T_STD_I64LE);
  if (d == uint8) return H5Tcopy(H5T_STD_U8LE);
  if (d == bool_) return bool_type();
  throw Error(CT_UNIMPLEMENTED, where + ": HDF5 files here hold no " + std::string(d.name()) + " arrays");
}

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

}  // namespace

void write_hdf5(const std::string& path, const KeyStore& store, bool compress) {
  quiet();
  // The file is built in memory (the core driver, no backing store) and its image then
  // written atomically like every other Catena file.
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl.get(), size_t(1) << 20, 0);
  Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!file.ok()) throw Error(CT_INTERNAL, path + ": HDF5 could not create the file in memory");
  for (const std::string& key : store.keys()) {
    const std::string where = path + ": '" + key + "'";
    std::vector<std::string> parts = split_key(key);
    if (parts.empty()) throw Error(CT_INVALID_ARGUMENT, path + ": an empty key cannot be stored");
    Handle group(open_group(file.get(), parts, parts.size() - 1, where), H5Gclose);
    const char* name = parts.back().c_str();
    if (H5Lexists(group.get(), name, H5P_DEFAULT) > 0)
      throw Error(CT_ALREADY_EXISTS, where + " is both a group and a dataset, or appears twice");
    const Tensor* t = store.find(key);
    if (!t) {  // None: h5py.Empty('f')
      Handle space(H5Screate(H5S_NULL), H5Sclose);
      Handle ds(H5Dcreate2(group.get(), name, H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Dclose);
      if (!ds.ok()) throw Error(CT_INTERNAL, where + ": HDF5 could not make the dataset");
      continue;
    }
    Tensor host = t->contiguous();
    std::vector<hsize_t> dims(host.shape().begin(), host.shape().end());
    Handle space(host.ndim() == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(host.ndim(), dims.data(), nullptr),
                 H5Sclose);
    Handle type(file_type(host.dtype(), where), H5Tclose);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (compress && host.numel() > 1 && host.ndim() > 0) {
      H5Pset_chunk(dcpl.get(), host.ndim(), dims.data());
      H5Pset_deflate(dcpl.get(), 4);
    }
    Handle ds(H5Dcreate2(group.get(), name, type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) throw Error(CT_INTERNAL, where + ": HDF5 could not make the dataset");
    std::string bytes(size_t(host.numel()) * host.dtype().size(), '\0');
    if (!bytes.empty()) host.copy_to_host(&bytes[0], bytes.size());
    if (!bytes.empty() && H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()) < 0)
      throw Error(CT_INTERNAL, where + ": HDF5 could not write the data");
  }
  H5Fflush(file.get(), H5F_SCOPE_GLOBAL);
  ssize_t size = H5Fget_file_image(file.get(), nullptr, 0);
  if (size < 0) throw Error(CT_INTERNAL, path + ": HDF5 could not produce the file's image");
  std::string image(size_t(size), '\0');
  if (H5Fget_file_image(file.get(), &image[0], image.size()) != size)
    throw Error(CT_INTERNAL, path + ": HDF5 could not produce the file's image");
  write_file_atomic(path, image);
}

namespace {

struct Visit {
  std::vector<std::string> datasets;
};

herr_t collect(hid_t, const char* name, const H5O_info_t* info, void* data) {
  if (info->type == H5O_TYPE_DATASET) static_cast<Visit*>(data)->datasets.push_back(name);
  return 0;
}

// The dtype of a dataset's type and the memory type to read it as (a new handle).
Dtype dtype_of(hid_t type, hid_t* mem, const std::string& where) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT) {
    if (size == 4) return *mem = H5Tcopy(H5T_NATIVE_FLOAT), float32;
    if (size == 8) return *mem = H5Tcopy(H5T_NATIVE_DOUBLE), float64;
    if (size == 2) return *mem = half_type(), float16;
  } else if (cls == H5T_INTEGER) {
    bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    if (size == 1) return *mem = H5Tcopy(is_signed ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8), is_signed ? int8 : uint8;
    if (size == 4 && is_signed) return *mem = H5Tcopy(H5T_NATIVE_INT32), int32;
    if (size == 8 && is_signed) return *mem = H5Tcopy(H5T_NATIVE_INT64), int64;
    if (size == 2 || size == 4) return *mem = H5Tcopy(H5T_NATIVE_INT64), int64;  // widened, exactly
  } else if (cls == H5T_ENUM && size == 1 && H5Tget_nmembers(type) == 2) {
    return *mem = bool_type(), bool_;
  }
  throw Error(CT_INVALID_ARGUMENT, where + " has an HDF5 type Catena does not read (class " + std::to_string(int(cls)) +
                                       ", " + std::to_string(size) + " bytes): floats, integers and booleans are read");
}

}  // namespace

KeyStore read_hdf5_keys(const std::string& path) {
  quiet();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw Error(CT_NOT_FOUND, path + ": no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw Error(CT_DATA_LOSS, path + ": not an HDF5 file");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) throw Error(CT_DATA_LOSS, path + ": HDF5 cannot open it (truncated or corrupt?)");
  Visit v;
  if (H5Ovisit(file.get(), H5_INDEX_NAME, H5_ITER_INC, collect, &v) < 0)
    throw Error(CT_DATA_LOSS, path + ": its groups cannot be read (truncated or corrupt?)");
  // No array may claim more than the file could hold: gzip expands at most ~1032 times.
  const uint64_t limit = std::max<uint64_t>(uint64_t(st.st_size) * 1100, uint64_t(1) << 20);
  KeyStore out;
  uint64_t total = 0;
  for (const std::string& key : v.datasets) {
    const std::string where = path + ": '" + key + "'";
    Handle ds(H5Dopen2(file.get(), key.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) throw Error(CT_DATA_LOSS, where + " cannot be opened (corrupt?)");
    Handle space(H5Dget_space(ds.get()), H5Sclose);
    if (!space.ok()) throw Error(CT_DATA_LOSS, where + ": its shape cannot be read");
    H5S_class_t sc = H5Sget_simple_extent_type(space.get());
    if (sc == H5S_NULL) {
      out.put_none(key);
      continue;
    }
    int ndim = sc == H5S_SCALAR ? 0 : H5Sget_simple_extent_ndims(space.get());
    if (ndim < 0 || ndim > 16) throw Error(CT_DATA_LOSS, where + ": bad number of dimensions");
    std::vector<hsize_t> dims(static_cast<size_t>(ndim), hsize_t(0));
    if (ndim && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
      throw Error(CT_DATA_LOSS, where + ": its shape cannot be read");
    Handle type(H5Dget_type(ds.get()), H5Tclose);
    hid_t mem_id = -1;
    Dtype dt = dtype_of(type.get(), &mem_id, where);
    Handle mem(mem_id, H5Tclose);
    Shape shape;
    uint64_t numel = 1;
    for (hsize_t d : dims) {
      if (d > (uint64_t(1) << 40) || (d && numel > (uint64_t(1) << 62) / d))
        throw Error(CT_DATA_LOSS, where + ": its shape is impossibly large");
      numel *= d;
      shape.push_back(int64_t(d));
    }
    const uint64_t bytes = numel * dt.size();
    total += bytes;
    if (bytes > limit || total > limit)
      throw Error(CT_DATA_LOSS, where + " claims " + std::to_string(bytes) + " bytes, more than a " +
                                    std::to_string(st.st_size) + "-byte file can hold");
    std::string data(size_t(bytes), '\0');
    if (bytes && H5Dread(ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &data[0]) < 0)
      throw Error(CT_DATA_LOSS, where + ": its data cannot be read (truncated or corrupt?)");
    if (dt == bool_)
      for (char& c : data) c = c != 0;
    out.put(key, Tensor::from_host(data.data(), data.size(), shape, dt, runtime().cpu()));
  }
  return out;
}

}  // namespace catena
