// Reading HDF5 files (load_hdf5, Chainer's and h5py's files, Catena's own). libhdf5 (1.10)
// can crash or loop on a damaged file: it trusts what the file says in places Catena cannot
// check first. So it runs only in a child process, which walks the file's links (refusing
// any that leave the file), checks each dataset's storage against the file, and then, per
// dataset, either
//
// - says where its bytes lie: a contiguous range, or chunks with no filter but Fletcher-32
//   (how Catena writes arrays), each mapping to one range of the array. This process then
//   reads those bytes itself, straight into the tensor, after checking every range lies
//   in the file and the ranges cover the array exactly, and checks each chunk's
//   Fletcher-32; or
// - reads it with libhdf5 (other filters: gzip, shuffle...) into memory this process
//   shares with it (a memfd), which becomes the tensor's memory here.
//
// Either way an array is never sent through a pipe or held twice.
#include <catena/files.hpp>
#include <catena/runtime.hpp>
#include <catena/serializers.hpp>

#include "../internal.hpp"
#include "fletcher32.hpp"
#include "hdf5_common.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

// Present in processes built with a sanitizer (weak: null otherwise).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace catena {

using namespace hdf5;

namespace {

// --- What the child finds ----------------------------------------------------------------

struct Visit {
  std::vector<std::string> datasets;
  std::string refused;  // a link Catena does not follow, named
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

// Where a dataset's bytes lie in the file: ranges that this process may read itself.
struct Piece {
  uint64_t file = 0, stored = 0;  // in the file: where, and how many bytes (checksum included)
  uint64_t array = 0, bytes = 0;  // in the array: where, and how many of the stored bytes are its
};
struct Layout {
  bool direct = false;    // the pieces below are the whole array
  bool fletcher = false;  // each piece ends with its Fletcher-32
  uint64_t chunk = 0;     // bytes of a chunk before its checksum (0: contiguous)
  std::vector<Piece> pieces;
};

// libhdf5 trusts a dataset's storage description: on a damaged file it reads past the end
// of the file's image. So the storage is checked first: every byte a dataset's data
// occupies must lie inside the file, and hold at least the elements its shape claims.
// Returns where the bytes lie when this process can read them itself.
Layout check_storage(hid_t ds, hid_t type, hid_t mem, const std::vector<hsize_t>& dims, uint64_t file_size,
                     const std::string& where) {
  auto bad = [&](const std::string& what) { throw Error(CT_DATA_LOSS, where + ": " + what + " (truncated or corrupt?)"); };
  uint64_t numel = 1;
  for (hsize_t d : dims) numel *= d;
  const uint64_t item = uint64_t(H5Tget_size(type)), need = numel * item;
  Layout out;
  Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (!dcpl.ok()) bad("its storage cannot be read");
  if (H5Pget_external_count(dcpl.get()) > 0)
    throw Error(CT_INVALID_ARGUMENT, where + " keeps its data in another file (external storage); Catena reads only "
                                             "what a file holds");
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout == H5D_VIRTUAL)
    throw Error(CT_INVALID_ARGUMENT, where + " is a virtual dataset: it points into other datasets or files; Catena "
                                             "reads only what a file holds");
  // The file's bytes are the memory's only when both types are the same.
  const bool same_bytes = H5Tequal(type, mem) > 0;
  if (layout == H5D_COMPACT) {
    if (H5Dget_storage_size(ds) < need) bad("its data is smaller than its shape");
    return out;
  }
  if (layout == H5D_CONTIGUOUS) {
    if (numel == 0) return out;
    const haddr_t at = H5Dget_offset(ds);
    const hsize_t size = H5Dget_storage_size(ds);
    if (at == HADDR_UNDEF) bad("its data was never written");
    if (size < need || at > file_size || size > file_size - at) bad("its data lies outside the file");
    if (same_bytes) out.direct = true, out.pieces.push_back({at, need, 0, need});
    return out;
  }
  if (layout != H5D_CHUNKED) bad("its storage layout is not one Catena reads (contiguous, chunked or compact)");
  const int rank = H5Pget_chunk(dcpl.get(), 0, nullptr);
  if (rank < 0 || rank > 16 || size_t(rank) != dims.size()) bad("bad chunk shape");
  std::vector<hsize_t> chunk(static_cast<size_t>(rank) + 1, hsize_t(0));
  if (rank > 0 && H5Pget_chunk(dcpl.get(), rank, chunk.data()) < 0) bad("bad chunk shape");
  uint64_t chunk_bytes = item;
  for (int i = 0; i < rank; ++i) {
    if (chunk[size_t(i)] == 0 || chunk[size_t(i)] > (uint64_t(1) << 32)) bad("bad chunk shape");
    chunk_bytes *= chunk[size_t(i)];
    if (chunk_bytes > std::max<uint64_t>(file_size * 1100, uint64_t(1) << 20)) bad("its chunks are impossibly large");
  }
  hsize_t count = 0;
  Handle space(H5Dget_space(ds), H5Sclose);
  if (H5Dget_num_chunks(ds, space.get(), &count) < 0) bad("its chunks cannot be listed");
  if (count > file_size) bad("more chunks than the file can hold");
  // Read here when the only filter is Fletcher-32 (or none), and each chunk is whole
  // trailing axes (a run of rows): then each is one range of the array.
  const int filters = H5Pget_nfilters(dcpl.get());
  bool fletcher = false;
  if (filters == 1) {
    unsigned flags = 0;
    size_t n = 0;
    fletcher = H5Pget_filter2(dcpl.get(), 0, &flags, &n, nullptr, 0, nullptr, nullptr) == H5Z_FILTER_FLETCHER32;
  }
  size_t split = 0;  // the axis chunks are cut along: whole axes after it, single indices before
  while (split + 1 < dims.size() && chunk[split] == 1) ++split;
  bool rows = true;
  for (size_t i = split + 1; i < dims.size(); ++i) rows = rows && chunk[i] == dims[i];
  out.direct = same_bytes && (filters == 0 || fletcher) && rows && numel > 0;
  out.fletcher = fletcher;
  out.chunk = chunk_bytes;
  std::vector<uint64_t> stride(dims.size(), item);  // bytes per step along each axis
  for (size_t i = dims.size(); i-- > 1;) stride[i - 1] = stride[i] * dims[i];
  std::vector<hsize_t> offset(static_cast<size_t>(rank) + 1, hsize_t(0));
  for (hsize_t i = 0; i < count; ++i) {
    unsigned mask = 0;
    haddr_t at = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info(ds, space.get(), i, offset.data(), &mask, &at, &size) < 0) bad("a chunk cannot be read");
    if (at == HADDR_UNDEF || at > file_size || size > file_size - at) bad("a chunk lies outside the file");
    if (!out.direct) continue;
    uint64_t start = 0;
    bool inside = true;
    for (size_t a = 0; a < dims.size(); ++a) {
      inside = inside && offset[a] < dims[a];
      start += offset[a] * stride[a];
    }
    if (!inside || mask != 0 || size != chunk_bytes + (fletcher ? 4 : 0)) {
      out.direct = false;  // libhdf5 sorts such a dataset out, or refuses it
      continue;
    }
    const uint64_t valid = std::min<uint64_t>(chunk[split], dims[split] - offset[split]) * (chunk_bytes / chunk[split]);
    out.pieces.push_back({at, size, start, valid});
  }
  if (!out.direct) out.pieces.clear();
  return out;
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

// What the child does with each dataset: `direct` takes one whose bytes this process can
// read (false: not taken), `place` gives memory for one libhdf5 reads (nullptr: do not
// read it), `done` takes the record afterwards.
struct Sink {
  virtual ~Sink() = default;
  virtual bool direct(const Record&, const Layout&) { return false; }
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
    const Layout layout = check_storage(ds.get(), type.get(), mem.get(), dims, file_size, where);
    if (layout.direct && sink.direct(r, layout)) continue;
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
// The child writes records to a pipe: u8 kind, then u32 key length and the key (for an
// error, the message instead), then for arrays u8 dtype code, u8 bits, u8 ndim, u64 dims;
// for kArray the u64 offset of its bytes in the shared memory; for kDirect u8 fletcher,
// u64 chunk bytes, u64 pieces, and per piece u64 file offset, stored bytes, array offset,
// array bytes.

constexpr uint8_t kNone = 0, kArray = 1, kError = 2, kEnd = 3, kHeader = 4, kDirect = 5;

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

void put_header(int out, uint8_t kind, const Record& r) {
  put_value<uint8_t>(out, kind);
  put_string(out, r.key);
  if (r.none) return;
  put_value<uint8_t>(out, uint8_t(r.dtype.raw.code));
  put_value<uint8_t>(out, uint8_t(r.dtype.raw.bits));
  put_value<uint8_t>(out, uint8_t(r.shape.ndim()));
  for (int64_t d : r.shape) put_value<uint64_t>(out, uint64_t(d));
}

// The child's sink: arrays whose bytes the parent can read are described; others are read
// into the shared memory at the next page, then described.
struct ChildSink : Sink {
  int out = -1, memfd = -1;
  uint64_t max_bytes = 0, cursor = 0;
  void* mapped = nullptr;
  uint64_t mapped_bytes = 0, offset = 0;
  bool direct(const Record& r, const Layout& l) override {
    if (r.bytes > max_bytes) return false;
    put_header(out, kDirect, r);
    put_value<uint8_t>(out, l.fletcher ? 1 : 0);
    put_value<uint64_t>(out, l.chunk);
    put_value<uint64_t>(out, uint64_t(l.pieces.size()));
    for (const Piece& p : l.pieces) {
      put_value<uint64_t>(out, p.file), put_value<uint64_t>(out, p.stored);
      put_value<uint64_t>(out, p.array), put_value<uint64_t>(out, p.bytes);
    }
    return true;
  }
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
    put_header(out, r.none ? kNone : read ? kArray : kHeader, r);
    if (read) put_value<uint64_t>(out, offset);
  }
};

using Later = std::function<std::shared_ptr<const StoredArray>(const Record&)>;

// In this process (CATENA_HDF5_IN_PROCESS=1, or no fork): into fresh tensors.
struct LocalSink : Sink {
  KeyStore& keys;
  uint64_t max_bytes;
  Later later;
  Tensor t;
  LocalSink(KeyStore& k, uint64_t m, Later l) : keys(k), max_bytes(m), later(std::move(l)) {}
  void* place(const Record& r) override {
    if (r.bytes > max_bytes) return nullptr;
    t = Tensor::empty(r.shape, r.dtype, runtime().cpu());
    static char nothing;
    return r.bytes ? t.host_data() : &nothing;
  }
  void done(const Record& r, bool read) override {
    if (keys.contains(r.key))
      throw Error(CT_DATA_LOSS, "the file holds two arrays named '" + r.key + "' (a damaged file)");
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

// Reads file bytes (the file's descriptor, or an image in memory).
using ReadAt = std::function<void(uint64_t offset, void* dst, size_t n)>;

// A dataset the child described: its pieces read straight into a fresh tensor, on
// several threads, each chunk's Fletcher-32 checked. The child read a hostile file, so
// nothing it says is trusted: the pieces must lie in the file and cover the array once.
Tensor read_direct(const Record& r, bool fletcher, uint64_t chunk, std::vector<Piece>& pieces, uint64_t file_size,
                   const ReadAt& read_at, const std::string& path) {
  const std::string where = path + ": '" + r.key + "'";
  auto odd = [&] { return Error(CT_INTERNAL, where + ": the HDF5 reader's description does not fit the file"); };
  std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.array < b.array; });
  if (chunk == 0) {
    // Contiguous data is cut into pieces the threads can share.
    constexpr uint64_t kCut = uint64_t(16) << 20;
    std::vector<Piece> cut;
    for (const Piece& p : pieces)
      for (uint64_t at = 0; at < p.bytes; at += kCut) {
        const uint64_t n = std::min(kCut, p.bytes - at);
        cut.push_back({p.file + at, n, p.array + at, n});
      }
    pieces = std::move(cut);
  }
  uint64_t next = 0;
  for (const Piece& p : pieces) {
    const uint64_t stored = fletcher ? chunk + 4 : chunk ? chunk : p.bytes;  // contiguous: exactly the bytes
    if (p.array != next || p.bytes > r.bytes - next || p.stored != stored || p.bytes > stored - (fletcher ? 4 : 0) ||
        p.file > file_size || p.stored > file_size - p.file)
      throw odd();
    next += p.bytes;
  }
  if (next != r.bytes) throw odd();
  Tensor t = Tensor::empty(r.shape, r.dtype, runtime().cpu());
  char* dst = static_cast<char*>(t.host_data());
  auto read_piece = [&](const Piece& p, std::vector<char>& scratch) {
    if (!fletcher) return read_at(p.file, dst + p.array, size_t(p.bytes));
    const size_t data = size_t(p.stored - 4);
    char* where_to = dst + p.array;
    if (p.bytes < data) {  // an edge chunk: its whole stored size is checked
      scratch.resize(data);
      where_to = scratch.data();
    }
    unsigned char sum[4];
    read_at(p.file, where_to, data);
    read_at(p.file + data, sum, 4);
    const uint32_t stored = uint32_t(sum[0]) | uint32_t(sum[1]) << 8 | uint32_t(sum[2]) << 16 | uint32_t(sum[3]) << 24;
    if (fletcher32(where_to, data) != stored)
      throw Error(CT_DATA_LOSS, where + ": Fletcher-32 checksum mismatch: the file is damaged");
    if (where_to != dst + p.array) std::memcpy(dst + p.array, where_to, size_t(p.bytes));
  };
  // Pieces shared out by bytes, in order.
  const unsigned threads = r.bytes >= (uint64_t(32) << 20) ? std::min<unsigned>(file_threads(), unsigned(pieces.size())) : 1;
  std::vector<size_t> first(threads + 1, pieces.size());
  first[0] = 0;
  for (unsigned k = 1, i = 0; k < threads; ++k) {
    while (i < pieces.size() && pieces[i].array < r.bytes / threads * k) ++i;
    first[k] = i;
  }
  std::vector<std::string> errors(threads);
  auto run = [&](unsigned k) {
    std::vector<char> scratch;
    try {
      for (size_t i = first[k]; i < first[k + 1]; ++i) read_piece(pieces[i], scratch);
    } catch (const std::exception& e) {
      errors[k] = e.what();
    }
  };
  std::vector<std::thread> helpers;
  for (unsigned k = 1; k < threads; ++k) helpers.emplace_back(run, k);
  run(0);
  for (std::thread& h : helpers) h.join();
  for (const std::string& e : errors)
    if (!e.empty()) throw Error(CT_DATA_LOSS, e);
  if (r.dtype == bool_)
    for (uint64_t i = 0; i < r.bytes; ++i) dst[i] = dst[i] != 0;
  return t;
}

// Reads a file (or the one key `only`) through a child process. Arrays over `max_bytes`
// are listed, not read: `later` makes what reads them when asked.
template <class Open>
KeyStore read_isolated(const std::string& path, uint64_t file_size, Open&& open, const ReadAt& read_at,
                       const std::string& only, uint64_t max_bytes, const Later& later) {
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
    bool fletcher = false;
    uint64_t chunk = 0;
    std::vector<Piece> pieces;
  };
  std::vector<Pending> records;
  std::string error;
  bool ended = false;
  const int timeout_ms = int(std::min<long>(budget, 100000) * 1000);
  auto get = [&](void* p, size_t n) { return get_bytes(in, p, n, timeout_ms, path); };
  try {
    for (;;) {
      uint8_t kind = 0;
      if (!get(&kind, 1)) break;
      if (kind == kEnd) {
        ended = true;
        break;
      }
      uint32_t len = 0;
      if (!get(&len, 4) || len > (1u << 20)) break;
      std::string text(len, '\0');
      if (len && !get(&text[0], len)) break;
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
      if (kind != kArray && kind != kHeader && kind != kDirect) break;
      uint8_t code = 0, bits = 0, ndim = 0;
      if (!get(&code, 1) || !get(&bits, 1) || !get(&ndim, 1) || ndim > kMaxDims) break;
      bool whole = true;
      for (int i = 0; i < ndim && whole; ++i) {
        uint64_t d = 0;
        whole = get(&d, 8) && d <= (uint64_t(1) << 40);
        if (whole) p.r.shape.push_back(int64_t(d));
      }
      if (!whole || (kind == kArray && !get(&p.offset, 8))) break;
      if (kind == kDirect) {
        uint8_t fletcher = 0;
        uint64_t count = 0;
        if (!get(&fletcher, 1) || !get(&p.chunk, 8) || !get(&count, 8) || count > file_size) break;
        p.fletcher = fletcher != 0;
        p.pieces.resize(size_t(count));
        for (Piece& piece : p.pieces)
          whole = whole && get(&piece.file, 8) && get(&piece.stored, 8) && get(&piece.array, 8) && get(&piece.bytes, 8);
        if (!whole) break;
      }
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
    if (keys.contains(p.r.key))
      throw Error(CT_DATA_LOSS, path + ": the file holds two arrays named '" + p.r.key + "' (a damaged file)");
    if (p.r.none) {
      keys.put_none(p.r.key);
      continue;
    }
    if (p.kind == kHeader) {
      keys.put_stored(p.r.key, later(p.r));
      continue;
    }
    if (p.kind == kDirect) {
      keys.put(p.r.key, read_direct(p.r, p.fletcher, p.chunk, p.pieces, file_size, read_at, path));
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

// An array of an HDF5 file listed but not read: read alone, through its own reader process.
class Hdf5Array : public StoredArray {
 public:
  Hdf5Array(std::string path, std::string key, Dtype d, const Shape& s)
      : StoredArray(d, s), path_(std::move(path)), key_(std::move(key)) {}
  Tensor read() const override;

 private:
  std::string path_, key_;
};

KeyStore read_file(const std::string& path, const std::string& only, uint64_t max_bytes) {
  InputFile f(path);
  check_signature(f);
  return read_isolated(
      path, f.size(), [&] { return H5Fopen(f.fd_path().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); },
      [&](uint64_t offset, void* dst, size_t n) { f.read_at(offset, dst, n); }, only, max_bytes,
      [&](const Record& r) { return std::make_shared<Hdf5Array>(path, r.key, r.dtype, r.shape); });
}

Tensor Hdf5Array::read() const {
  KeyStore one = read_file(path_, key_, ~uint64_t(0));
  Dtype d;
  Shape s;
  if (!one.describe(key_, &d, &s) || d != dtype() || s != shape())
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
      [&](uint64_t offset, void* dst, size_t n) {
        if (offset > bytes.size() || n > bytes.size() - offset) throw Error(CT_DATA_LOSS, name + ": truncated");
        std::memcpy(dst, bytes.data() + offset, n);
      },
      "", ~uint64_t(0), [](const Record&) -> std::shared_ptr<const StoredArray> {
        throw Error(CT_INTERNAL, "every array of an HDF5 image is read");
      });
}

}  // namespace catena
