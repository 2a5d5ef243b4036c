// The formats built into libcatena: npz always, hdf5 when the build found libhdf5.
#include <catena/serializers.hpp>

namespace catena {

#ifndef CATENA_HAVE_HDF5
namespace {
[[noreturn]] void no_hdf5(const std::string& name) {
  throw Error(CT_UNIMPLEMENTED, name + ": this build of Catena has no HDF5 support: install libhdf5-dev (Debian) and rebuild");
}
}  // namespace
KeyStore read_hdf5_keys(const std::string& path) { no_hdf5(path); }
KeyStore list_hdf5_keys(const std::string& path) { no_hdf5(path); }
KeyStore read_hdf5_bytes(const std::string&, const std::string& name) { no_hdf5(name); }
void write_hdf5(const std::string& path, const KeyStore&, bool) { no_hdf5(path); }
#endif

void save_hdf5(const std::string& path, Serializable& obj, bool compress) { save(path, obj, "hdf5", compress); }

void load_hdf5(const std::string& file, Serializable& obj, const std::string& path, bool strict) {
  load(file, obj, path, strict, "hdf5");
}

void register_builtin_formats() {
  SerializerFormat npz;
  npz.name = "npz";
  npz.extensions = {".npz"};
  npz.sniff = [](const std::string& head) { return head.rfind("PK\x03\x04", 0) == 0 || head.rfind("PK\x05\x06", 0) == 0; };
  npz.write = [](const std::string& path, const KeyStore& store, bool compress) { write_npz(path, store, compress); };
  npz.read = [](const std::string& path) { return read_npz_keys(path); };
  register_format(std::move(npz));

  SerializerFormat h5;
  h5.name = "hdf5";
  h5.extensions = {".h5", ".hdf5", ".hdf"};
  h5.sniff = [](const std::string& head) { return head.rfind("\x89HDF\r\n\x1a\n", 0) == 0; };
#ifdef CATENA_HAVE_HDF5
  h5.write = [](const std::string& path, const KeyStore& store, bool compress) { write_hdf5(path, store, compress); };
  h5.read = [](const std::string& path) { return read_hdf5_keys(path); };
  h5.list = [](const std::string& path) { return list_hdf5_keys(path); };
#else
  h5.unavailable = "this build of Catena has no HDF5 support: install libhdf5-dev (Debian) and rebuild";
#endif
  register_format(std::move(h5));
}

}  // namespace catena
