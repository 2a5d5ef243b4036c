// HDF5 files in Chainer's layout (save_hdf5 / load_hdf5): each "/"-separated part of a key
// is a group, the last a dataset; scalars are scalar datasets; None is an empty dataset
// (a null dataspace, h5py.Empty('f')); booleans are h5py's enum {FALSE, TRUE}. Arrays of
// more than one element are gzip-compressed at level 4 when asked, as Chainer does.
//
// Catena's files carry checksums: every array's chunks have HDF5's Fletcher-32 filter
// and the file is in HDF5 1.10's format, whose metadata (object headers, where scalars
// live, chunk indexes) is checksummed too. h5py and Chainer read such files unchanged;
// files without checksums (Chainer's, h5py's) still read.
//
// libhdf5 (1.10) can crash on a damaged file, so files are read in a child process. It
// reads each dataset into memory shared with this process (a memfd), which becomes the
// tensor's memory here: an array is never copied through a pipe or held twice.
#include <catena/runtime.hpp>
#include <catena/serializers.hpp>

#include <hdf5.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../internal.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

// Present in processes built with a sanitizer (weak: null otherwise).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

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
void quiet() {
  static bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// One thread at a time uses libhdf5 here (it is built without thread safety), and a
// reader process is never forked while another thread is inside it.
std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
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

namespace {

// What a damaged or foreign file gets, by name, found while visiting its links.
struct Visit {
  std::vector<std::string> datasets;
  std::string refused;
};

herr_t visit_link(hid_t group, const char* name, const H5L_info_t* info, void* data) {
  Visit& v = *static_cast<Visit*>(data);
  const std::string key = name;
  if (info->type == H5L_TYPE_EXTERNAL) {
    v.refused = "'" + key + "' is an external link: it points into another file; Catena reads only what a file holds";
    return -1;
  }
  if (info->type != H5L_TYPE_HARD) {
    v.refused = "'" + key + "' is a " + std::string(info->type == H5L_TYPE_SOFT ? "soft" : "user-defined") +
                " link; Catena reads only groups and datasets";
    return -1;
  }
  H5O_info_t o;
  if (H5Oget_info_by_name2(group, name, &o, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
    v.refused = "'" + key + "' cannot be read (truncated or corrupt?)";
    return -1;
  }
  if (o.type == H5O_TYPE_DATASET) v.datasets.push_back(key);
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

// libhdf5 trusts a dataset's storage description: on a damaged file it reads past the end
// of the file's image. So the storage is checked first: every byte a dataset's data
// occupies must lie inside the file, and hold at least the elements its shape claims.
void check_storage(hid_t ds, hid_t type, uint64_t numel, uint64_t file_size, const std::string& where) {
  auto bad = [&](const std::string& what) { throw Error(CT_DATA_LOSS, where + ": " + what + " (truncated or corrupt?)"); };
  const uint64_t need = numel * uint64_t(H5Tget_size(type));
  Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (!dcpl.ok()) bad("its storage cannot be read");
  if (H5Pget_external_count(dcpl.get()) > 0)
    throw Error(CT_INVALID_ARGUMENT, where + " keeps its data in another file (external storage); Catena reads only "
                                             "what a file holds");
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_VIRTUAL)
    throw Error(CT_INVALID_ARGUMENT, where + " is a virtual dataset: it points into other datasets or files; Catena "
                                             "reads only what a file holds");
  if (layout == H5D_COMPACT) {
    if (H5Dget_storage_size(ds) < need) bad("its data is smaller than its shape");
    return;
  }
  if (layout == H5D_CONTIGUOUS) {
    if (numel == 0) return;
    const haddr_t at = H5Dget_offset(ds);
    const hsize_t size = H5Dget_storage_size(ds);
    if (at == HADDR_UNDEF) bad("its data was never written");
    if (size < need || at > file_size || size > file_size - at) bad("its data lies outside the file");
    return;
  }
  if (layout != H5D_CHUNKED) bad("its storage layout is not one Catena reads (contiguous, chunked or compact)");
  const int rank = H5Pget_chunk(dcpl.get(), 0, nullptr);
  if (rank < 0 || rank > 16) bad("bad chunk shape");
  std::vector<hsize_t> chunk(static_cast<size_t>(rank) + 1, hsize_t(0));
  if (rank > 0 && H5Pget_chunk(dcpl.get(), rank, chunk.data()) < 0) bad("bad chunk shape");
  uint64_t chunk_bytes = uint64_t(H5Tget_size(type));
  for (int i = 0; i < rank; ++i) {
    if (chunk[size_t(i)] == 0 || chunk[size_t(i)] > (uint64_t(1) << 32)) bad("bad chunk shape");
    chunk_bytes *= chunk[size_t(i)];
    if (chunk_bytes > std::max<uint64_t>(file_size * 1100, uint64_t(1) << 20)) bad("its chunks are impossibly large");
  }
  hsize_t count = 0;
  Handle space(H5Dget_space(ds), H5Sclose);
  if (H5Dget_num_chunks(ds, space.get(), &count) < 0) bad("its chunks cannot be listed");
  if (count > file_size) bad("more chunks than the file can hold");
  std::vector<hsize_t> offset(static_cast<size_t>(rank) + 1, hsize_t(0));
  for (hsize_t i = 0; i < count; ++i) {
    unsigned mask = 0;
    haddr_t at = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info(ds, space.get(), i, offset.data(), &mask, &at, &size) < 0) bad("a chunk cannot be read");
    if (at == HADDR_UNDEF || at > file_size || size > file_size - at) bad("a chunk lies outside the file");
  }
}

herr_t find_checksum_error(unsigned, const H5E_error2_t* e, void* data) {
  if (e->desc && (std::strstr(e->desc, "checksum") || std::strstr(e->desc, "fletcher32")))
    *static_cast<bool*>(data) = true;
  return 0;
}

// Why the last HDF5 call failed, when a checksum says the file is damaged.
bool checksum_failed() {
  bool found = false;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_checksum_error, &found);
  return found;
}

// One dataset as found: None, or an array's dtype and shape.
struct Record {
  std::string key;
  bool none = false;
  Dtype dtype;
  Shape shape;
  uint64_t bytes = 0;
};

// Where a dataset's values go: `place` gives memory for a record (nullptr: do not read
// it), `done` takes the record afterwards.
struct Sink {
  virtual ~Sink() = default;
  virtual void* place(const Record& r) = 0;
  virtual void done(const Record& r, bool read) = 0;
};

// Every dataset of an open file (or the one named `only`), to `sink`; `file_size` bounds
// what arrays may claim.
void datasets_of(hid_t file_id, uint64_t file_size, const std::string& path, const std::string& only, Sink& sink) {
  Visit v;
  if (!only.empty()) {
    v.datasets.push_back(only);
  } else {
    Handle root(H5Gopen2(file_id, "/", H5P_DEFAULT), H5Gclose);
    if (!root.ok() || H5Lvisit(root.get(), H5_INDEX_NAME, H5_ITER_INC, visit_link, &v) < 0) {
      if (!v.refused.empty()) throw Error(CT_INVALID_ARGUMENT, path + ": " + v.refused);
      throw Error(CT_DATA_LOSS, path + ": its groups cannot be read (" +
                                    std::string(checksum_failed() ? "a metadata checksum does not match: the file is "
                                                                    "damaged"
                                                                  : "truncated or corrupt?") +
                                    ")");
    }
  }
  // No array may claim more than the file could hold: gzip expands at most ~1032 times.
  const uint64_t limit = std::max<uint64_t>(file_size * 1100, uint64_t(1) << 20);
  uint64_t total = 0;
  for (const std::string& key : v.datasets) {
    const std::string where = path + ": '" + key + "'";
    Record r;
    r.key = key;
    Handle ds(H5Dopen2(file_id, key.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok())
      throw Error(CT_DATA_LOSS, where + (checksum_failed() ? ": a metadata checksum does not match: the file is damaged"
                                                           : " cannot be opened (corrupt?)"));
    Handle space(H5Dget_space(ds.get()), H5Sclose);
    if (!space.ok()) throw Error(CT_DATA_LOSS, where + ": its shape cannot be read");
    H5S_class_t sc = H5Sget_simple_extent_type(space.get());
    if (sc == H5S_NULL) {
      r.none = true;
      sink.done(r, false);
      continue;
    }
    int ndim = sc == H5S_SCALAR ? 0 : H5Sget_simple_extent_ndims(space.get());
    if (ndim < 0 || ndim > kMaxDims) throw Error(CT_DATA_LOSS, where + ": bad number of dimensions");
    std::vector<hsize_t> dims(static_cast<size_t>(ndim), hsize_t(0));
    if (ndim && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
      throw Error(CT_DATA_LOSS, where + ": its shape cannot be read");
    Handle type(H5Dget_type(ds.get()), H5Tclose);
    hid_t mem_id = -1;
    r.dtype = dtype_of(type.get(), &mem_id, where);
    Handle mem(mem_id, H5Tclose);
    uint64_t numel = 1;
    for (hsize_t d : dims) {
      if (d > (uint64_t(1) << 40) || (d && numel > (uint64_t(1) << 62) / d))
        throw Error(CT_DATA_LOSS, where + ": its shape is impossibly large");
      numel *= d;
      r.shape.push_back(int64_t(d));
    }
    r.bytes = numel * r.dtype.size();
    total += r.bytes;
    if (r.bytes > limit || total > limit)
      throw Error(CT_DATA_LOSS, where + " claims " + std::to_string(r.bytes) + " bytes, more than a " +
                                    std::to_string(file_size) + "-byte file can hold");
    check_storage(ds.get(), type.get(), numel, file_size, where);
    void* dst = sink.place(r);
    if (!dst) {
      sink.done(r, false);
      continue;
    }
    if (r.bytes && H5Dread(ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
      throw Error(CT_DATA_LOSS, where + (checksum_failed() ? ": Fletcher-32 checksum mismatch: the file is damaged"
                                                           : ": its data cannot be read (truncated or corrupt?)"));
    if (r.dtype == bool_) {
      char* c = static_cast<char*>(dst);
      for (uint64_t i = 0; i < r.bytes; ++i) c[i] = c[i] != 0;
    }
    sink.done(r, true);
  }
}

// --- The reader process ----------------------------------------------------------------
//
// The child writes records to a pipe: u8 kind (1 array read into the shared memory, 4 an
// array not read, 0 None, 2 error, 3 end), then u32 key length and the key; for arrays u8
// dtype code, u8 bits, u8 ndim, u64 dims..., and for kind 1 the u64 offset in the shared
// memory; for an error the message instead of the key.

constexpr uint8_t kNone = 0, kArray = 1, kError = 2, kEnd = 3, kHeader = 4;

void put_bytes(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) ::_exit(4);  // the parent is gone
    p += w;
    n -= size_t(w);
  }
}

template <class T>
void put_value(int fd, T v) {
  put_bytes(fd, &v, sizeof v);
}

void put_string(int fd, const std::string& s) {
  put_value<uint32_t>(fd, uint32_t(s.size()));
  put_bytes(fd, s.data(), s.size());
}

// Reads exactly n bytes, waiting at most `timeout_ms` for each piece; false at EOF.
bool get_bytes(int fd, void* data, size_t n, int timeout_ms, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    pollfd pfd{fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0)
      throw Error(CT_DEADLINE_EXCEEDED, path + ": reading it took over " + std::to_string(timeout_ms / 1000) +
                                            " s without progress (a damaged file that makes libhdf5 loop? "
                                            "CATENA_HDF5_TIMEOUT sets the budget)");
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

uint64_t page_size() {
  static const uint64_t p = uint64_t(::sysconf(_SC_PAGESIZE));
  return p;
}
uint64_t page_round(uint64_t n) { return (n + page_size() - 1) / page_size() * page_size(); }

// The child's sink: each array read into the shared memory at the next page, then sent.
struct ChildSink : Sink {
  int out, memfd;
  uint64_t max_bytes, cursor = 0;
  void* mapped = nullptr;
  uint64_t mapped_bytes = 0, offset = 0;
  void* place(const Record& r) override {
    if (r.bytes > max_bytes) return nullptr;
    offset = cursor;
    if (r.bytes == 0) {
      static char nothing;
      return &nothing;
    }
    mapped_bytes = page_round(r.bytes);
    if (::ftruncate(memfd, off_t(offset + mapped_bytes)) != 0)
      throw Error(CT_RESOURCE_EXHAUSTED, r.key + ": no memory for " + std::to_string(r.bytes) + " bytes");
    mapped = ::mmap(nullptr, size_t(mapped_bytes), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd,
                    off_t(offset));
    if (mapped == MAP_FAILED)
      throw Error(CT_RESOURCE_EXHAUSTED, r.key + ": no memory for " + std::to_string(r.bytes) + " bytes");
    return mapped;
  }
  void done(const Record& r, bool read) override {
    if (mapped) ::munmap(mapped, size_t(mapped_bytes)), mapped = nullptr;
    if (read) cursor = offset + mapped_bytes, mapped_bytes = 0;
    put_value<uint8_t>(out, r.none ? kNone : read ? kArray : kHeader);
    put_string(out, r.key);
    if (r.none) return;
    put_value<uint8_t>(out, uint8_t(r.dtype.raw.code));
    put_value<uint8_t>(out, uint8_t(r.dtype.raw.bits));
    put_value<uint8_t>(out, uint8_t(r.shape.ndim()));
    for (int64_t d : r.shape) put_value<uint64_t>(out, uint64_t(d));
    if (read) put_value<uint64_t>(out, offset);
  }
};

// In this process (CATENA_HDF5_IN_PROCESS=1, or no fork): into fresh tensors.
struct LocalSink : Sink {
  KeyStore& keys;
  uint64_t max_bytes;
  std::function<std::shared_ptr<const StoredArray>(const Record&)> later;
  Tensor t;
  LocalSink(KeyStore& k, uint64_t m, std::function<std::shared_ptr<const StoredArray>(const Record&)> l)
      : keys(k), max_bytes(m), later(std::move(l)) {}
  void* place(const Record& r) override {
    if (r.bytes > max_bytes) return nullptr;
    t = Tensor::empty(r.shape, r.dtype, runtime().cpu());
    static char nothing;
    return r.bytes ? t.host_data() : &nothing;
  }
  void done(const Record& r, bool read) override {
    if (r.none) keys.put_none(r.key);
    else if (read) keys.put(r.key, t);
    else keys.put_stored(r.key, later(r));
    t = Tensor();
  }
};

// The memory the child filled, mapped here; arrays are tensors over it. Each array's
// pages go back to the system when its tensor is freed, the mapping with the last one.
struct SharedArrays {
  int fd = -1;
  char* base = nullptr;
  uint64_t size = 0;
  ~SharedArrays() {
    if (base) ::munmap(base, size_t(size));
    if (fd >= 0) ::close(fd);
  }
};

// Reads `path` (or the one key `only`) in a child process. Arrays over `max_bytes` are
// listed, not read: `later` makes what reads them when asked.
template <class Open>
KeyStore read_isolated(const std::string& path, uint64_t file_size, Open&& open, const std::string& only,
                       uint64_t max_bytes,
                       const std::function<std::shared_ptr<const StoredArray>(const Record&)>& later) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  // CATENA_HDF5_IN_PROCESS=1 reads in this process (for debuggers), as does a system
  // that refuses to fork.
  static const bool in_process = [] {
    const char* v = std::getenv("CATENA_HDF5_IN_PROCESS");
    return v && *v == '1';
  }();
  // A damaged file can make libhdf5 loop: the child gets a CPU-time budget (a base of
  // CATENA_HDF5_TIMEOUT seconds, default 60, plus a second per 20 MB of file), and the
  // parent stops waiting when the pipe stays silent that long. Read before the fork: the
  // child only makes HDF5 calls.
  const long base_seconds = long(env_integer("CATENA_HDF5_TIMEOUT", 60, 1, 1000000));
  int fds[2] = {-1, -1};
  auto shared = std::make_shared<SharedArrays>();
  pid_t pid = -1;
  if (!in_process) {
    shared->fd = ::memfd_create("catena-hdf5", MFD_CLOEXEC);
    if (shared->fd >= 0 && ::pipe2(fds, O_CLOEXEC) == 0) pid = ::fork();
    if (pid < 0 && fds[0] >= 0) ::close(fds[0]), ::close(fds[1]);
  }
  if (pid < 0) {
    quiet();
    hid_t file = open();
    if (file < 0) throw Error(CT_DATA_LOSS, path + ": HDF5 cannot open it (truncated or corrupt?)");
    Handle owned(file, H5Fclose);
    KeyStore keys;
    LocalSink sink(keys, max_bytes, later);
    datasets_of(file, file_size, path, only, sink);
    return keys;
  }
  const long budget = base_seconds + long(file_size / (20u << 20));
  if (pid == 0) {  // the child: HDF5 calls, writes to the pipe and the shared memory, nothing else
    ::close(fds[0]);
    // A crash here is reported by the parent: the child just dies (no handler of a
    // sanitizer or fuzzer in the process writes reports for it).
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) ::signal(sig, SIG_DFL);
    rlimit cpu{rlim_t(budget), rlim_t(budget + 1)};
    ::setrlimit(RLIMIT_CPU, &cpu);
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 2);
    ChildSink sink;
    sink.out = fds[1];
    sink.memfd = shared->fd;
    sink.max_bytes = max_bytes;
    try {
      quiet();
      hid_t file = open();
      if (file < 0) throw Error(CT_DATA_LOSS, path + ": HDF5 cannot open it (truncated or corrupt?)");
      datasets_of(file, file_size, path, only, sink);
      put_value<uint8_t>(sink.out, kEnd);
    } catch (const std::exception& e) {
      put_value<uint8_t>(sink.out, kError);
      put_string(sink.out, e.what());
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  const int in = fds[0];
  struct Pending {
    Record r;
    uint8_t kind;
    uint64_t offset = 0;
  };
  std::vector<Pending> records;
  std::string error;
  bool ended = false;
  const int timeout_ms = int(std::min<long>(budget, 100000) * 1000);
  try {
    for (;;) {
      uint8_t kind = 0;
      if (!get_bytes(in, &kind, 1, timeout_ms, path)) break;
      if (kind == kEnd) {
        ended = true;
        break;
      }
      uint32_t len = 0;
      if (!get_bytes(in, &len, 4, timeout_ms, path) || len > (1u << 20)) break;
      std::string text(len, '\0');
      if (len && !get_bytes(in, &text[0], len, timeout_ms, path)) break;
      if (kind == kError) {
        error = text;
        ended = true;
        break;
      }
      Pending p;
      p.kind = kind;
      p.r.key = text;
      if (kind == kNone) {
        p.r.none = true;
        records.push_back(std::move(p));
        continue;
      }
      if (kind != kArray && kind != kHeader) break;
      uint8_t code = 0, bits = 0, ndim = 0;
      if (!get_bytes(in, &code, 1, timeout_ms, path) || !get_bytes(in, &bits, 1, timeout_ms, path) ||
          !get_bytes(in, &ndim, 1, timeout_ms, path) || ndim > kMaxDims)
        break;
      bool whole = true;
      for (int i = 0; i < ndim && whole; ++i) {
        uint64_t d = 0;
        whole = get_bytes(in, &d, 8, timeout_ms, path) && d <= (uint64_t(1) << 40);
        if (whole) p.r.shape.push_back(int64_t(d));
      }
      if (!whole || (kind == kArray && !get_bytes(in, &p.offset, 8, timeout_ms, path))) break;
      p.r.dtype = Dtype(ct_dtype_code(code), bits);
      p.r.bytes = uint64_t(p.r.shape.numel()) * p.r.dtype.size();
      records.push_back(std::move(p));
    }
  } catch (...) {
    ::close(in);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw;
  }
  ::close(in);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!error.empty()) throw Error(CT_DATA_LOSS, error);
  if (!ended || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL))
      throw Error(CT_DEADLINE_EXCEEDED, path + ": libhdf5 ran over its time reading it (" + std::to_string(budget) +
                                            " s of CPU): a damaged file that makes it loop? (CATENA_HDF5_TIMEOUT sets "
                                            "the budget)");
    std::string how = WIFSIGNALED(status) ? "crashed (signal " + std::to_string(WTERMSIG(status)) + ")"
                                          : "stopped (status " + std::to_string(WEXITSTATUS(status)) + ")";
    throw Error(CT_DATA_LOSS, path + ": libhdf5 " + how + " reading it: the file is damaged (Catena reads HDF5 in a "
                                     "separate process, so this process is safe)");
  }
  // The child is gone: what it left in the shared memory is mapped here, and checked
  // against its records (the child read a hostile file; nothing it says is trusted).
  struct stat st {};
  if (::fstat(shared->fd, &st) != 0) throw Error(CT_INTERNAL, path + ": the HDF5 reader's memory is gone");
  shared->size = uint64_t(st.st_size);
  if (shared->size) {
    void* base = ::mmap(nullptr, size_t(shared->size), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, shared->fd, 0);
    if (base == MAP_FAILED) throw Error(CT_RESOURCE_EXHAUSTED, path + ": cannot map what the HDF5 reader read");
    shared->base = static_cast<char*>(base);
  }
  KeyStore keys;
  uint64_t next = 0;
  for (Pending& p : records) {
    if (p.r.none) {
      keys.put_none(p.r.key);
      continue;
    }
    if (p.kind == kHeader) {
      keys.put_stored(p.r.key, later(p.r));
      continue;
    }
    const uint64_t span = page_round(p.r.bytes);
    if (p.offset < next || p.offset > shared->size || span > shared->size - p.offset || p.offset % page_size())
      throw Error(CT_INTERNAL, path + ": the HDF5 reader's records do not fit what it read");
    next = p.offset + span;
    char* data = shared->base + p.offset;
    std::function<void()> release = [shared, data, span] {
      if (span) ::madvise(data, size_t(span), MADV_REMOVE);
    };
    keys.put(p.r.key, wrap_host_memory(p.r.bytes ? data : nullptr, p.r.bytes, p.r.shape, p.r.dtype, std::move(release)));
  }
  return keys;
}

void check_signature(const InputFile& f) {
  if (f.head(8) != std::string("\x89HDF\r\n\x1a\n", 8)) throw Error(CT_DATA_LOSS, f.path() + ": not an HDF5 file");
}

// An array of an HDF5 file listed but not read: read alone, in its own reader process.
class Hdf5Array : public StoredArray {
 public:
  Hdf5Array(std::string path, std::string key, Dtype d, const Shape& s)
      : StoredArray(d, s), path_(std::move(path)), key_(std::move(key)) {}
  Tensor read() const override;

 private:
  std::string path_, key_;
};

std::shared_ptr<const StoredArray> stored_later(const std::string& path, const Record& r) {
  return std::make_shared<Hdf5Array>(path, r.key, r.dtype, r.shape);
}

KeyStore read_file(const std::string& path, const std::string& only, uint64_t max_bytes) {
  InputFile f(path);
  check_signature(f);
  return read_isolated(
      path, f.size(), [&] { return H5Fopen(f.fd_path().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }, only,
      max_bytes, [&](const Record& r) { return stored_later(path, r); });
}

Tensor Hdf5Array::read() const {
  KeyStore one = read_file(path_, key_, ~uint64_t(0));
  const Tensor* t = one.find(key_);
  if (!t || t->dtype() != dtype() || t->shape() != shape())
    throw Error(CT_DATA_LOSS, path_ + ": '" + key_ + "' changed while the file was being read");
  return one.take(key_);
}

}  // namespace

KeyStore read_hdf5_keys(const std::string& path) { return read_file(path, "", ~uint64_t(0)); }

KeyStore list_hdf5_keys(const std::string& path) { return read_file(path, "", uint64_t(1) << 16); }

KeyStore read_hdf5_bytes(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 8 || bytes.compare(0, 8, "\x89HDF\r\n\x1a\n") != 0)
    throw Error(CT_DATA_LOSS, name + ": not an HDF5 file");
  return read_isolated(
      name, bytes.size(),
      [&] {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_fapl_core(fapl, size_t(1) << 16, 0);
        H5Pset_file_image(fapl, const_cast<char*>(bytes.data()), bytes.size());
        hid_t file = H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl);
        H5Pclose(fapl);
        return file;
      },
      "", ~uint64_t(0), [](const Record&) -> std::shared_ptr<const StoredArray> {
        throw Error(CT_INTERNAL, "every array of an HDF5 image is read");
      });
}

}  // namespace catena
