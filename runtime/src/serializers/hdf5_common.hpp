// What Catena's HDF5 reader and writer share: handles closed on scope exit, one thread at a
// time in libhdf5, and the file types of Catena's dtypes (h5py's half and boolean).
#pragma once

#include <catena/dtype.hpp>
#include <catena/error.hpp>

#include <hdf5.h>

#include <mutex>
#include <string>

namespace catena {
namespace hdf5 {

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
  hid_t release() {
    hid_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// HDF5 prints its error stack to stderr by default; Catena reports errors itself.
inline void quiet() {
  static bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// One thread at a time uses libhdf5 here (it is built without thread safety), and a
// reader process is never forked while another thread is inside it.
inline std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

// IEEE half precision as h5py defines it.
inline hid_t half_type() {
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  return t;
}

// h5py's boolean: an enum over int8 with FALSE = 0 and TRUE = 1.
inline hid_t bool_type() {
  hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
  int8_t f = 0, v = 1;
  H5Tenum_insert(t, "FALSE", &f);
  H5Tenum_insert(t, "TRUE", &v);
  return t;
}

// The file type for a dtype (a new handle the caller closes).
inline hid_t file_type(Dtype d, const std::string& where) {
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

}  // namespace hdf5
}  // namespace catena
