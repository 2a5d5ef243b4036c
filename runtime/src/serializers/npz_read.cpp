// Reading .npz files (zip archives of .npy arrays, stored or deflated, zip64 included) and
// loading them into links. Sizes in headers are checked against the file before anything
// is allocated; errors name the file and the key.
#include <catena/runtime.hpp>
#include <catena/serializers.hpp>

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace catena {

namespace {

struct Bytes {
  std::string path;
  std::string data;
};

Bytes slurp(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw Error(CT_NOT_FOUND, path + ": no such file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(CT_PERMISSION_DENIED, path + ": cannot be read");
  Bytes b{path, std::string(size_t(st.st_size), '\0')};
  if (st.st_size && !in.read(&b.data[0], st.st_size)) throw Error(CT_DATA_LOSS, path + ": read failed");
  return b;
}

uint64_t le(const std::string& s, uint64_t at, int bytes, const std::string& path) {
  if (at > s.size() || s.size() - at < uint64_t(bytes)) throw Error(CT_DATA_LOSS, path + ": truncated zip structure");
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | uint8_t(s[at + size_t(i)]);
  return v;
}

struct Entry {
  std::string name;
  int method;
  uint64_t csize, usize, offset;
};

std::vector<Entry> directory(const Bytes& f) {
  const std::string& s = f.data;
  if (s.size() < 22) throw Error(CT_DATA_LOSS, f.path + ": not a zip file (too short; .npz files are zip archives)");
  // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
  size_t eocd = std::string::npos;
  size_t lo = s.size() > 65557 ? s.size() - 65557 : 0;
  for (size_t i = s.size() - 22 + 1; i-- > lo;)
    if (le(s, i, 4, f.path) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) throw Error(CT_DATA_LOSS, f.path + ": not a zip file (no central directory)");
  uint64_t count = le(s, eocd + 10, 2, f.path), cd_size = le(s, eocd + 12, 4, f.path), cd_off = le(s, eocd + 16, 4, f.path);
  if (cd_off == 0xffffffffu || count == 0xffff) {  // zip64: the locator precedes the record
    if (eocd < 20 || le(s, eocd - 20, 4, f.path) != 0x07064b50) throw Error(CT_DATA_LOSS, f.path + ": bad zip64 locator");
    uint64_t rec = le(s, eocd - 20 + 8, 8, f.path);
    if (le(s, size_t(rec), 4, f.path) != 0x06064b50) throw Error(CT_DATA_LOSS, f.path + ": bad zip64 record");
    count = le(s, size_t(rec) + 32, 8, f.path);
    cd_size = le(s, size_t(rec) + 40, 8, f.path);
    cd_off = le(s, size_t(rec) + 48, 8, f.path);
  }
  if (cd_off > s.size() || cd_size > s.size() - cd_off)
    throw Error(CT_DATA_LOSS, f.path + ": truncated (the central directory is cut off)");
  if (count > cd_size / 46) throw Error(CT_DATA_LOSS, f.path + ": corrupt central directory (too many entries for its size)");
  std::vector<Entry> out;
  size_t p = size_t(cd_off);
  for (uint64_t i = 0; i < count; ++i) {
    if (le(s, p, 4, f.path) != 0x02014b50) throw Error(CT_DATA_LOSS, f.path + ": corrupt central directory");
    Entry e;
    e.method = int(le(s, p + 10, 2, f.path));
    e.csize = le(s, p + 20, 4, f.path);
    e.usize = le(s, p + 24, 4, f.path);
    uint64_t nlen = le(s, p + 28, 2, f.path), xlen = le(s, p + 30, 2, f.path), clen = le(s, p + 32, 2, f.path);
    e.offset = le(s, p + 42, 4, f.path);
    if (p + 46 + nlen + xlen + clen > s.size()) throw Error(CT_DATA_LOSS, f.path + ": truncated central directory");
    e.name = s.substr(p + 46, size_t(nlen));
    // zip64 extra field: the 64-bit values of the fields that are 0xffffffff, in order.
    size_t x = p + 46 + size_t(nlen), xend = x + size_t(xlen);
    while (x + 4 <= xend) {
      uint64_t id = le(s, x, 2, f.path), len = le(s, x + 2, 2, f.path);
      if (id == 1) {
        size_t q = x + 4;
        if (e.usize == 0xffffffffu) e.usize = le(s, q, 8, f.path), q += 8;
        if (e.csize == 0xffffffffu) e.csize = le(s, q, 8, f.path), q += 8;
        if (e.offset == 0xffffffffu) e.offset = le(s, q, 8, f.path);
      }
      x += 4 + size_t(len);
    }
    out.push_back(e);
    p += 46 + size_t(nlen + xlen + clen);
  }
  return out;
}

// The most bytes one array may claim: the machine's physical memory.
uint64_t memory_limit() {
  static const uint64_t limit = [] {
    long pages = ::sysconf(_SC_PHYS_PAGES), size = ::sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? uint64_t(pages) * uint64_t(size) : uint64_t(1) << 34;
  }();
  return limit;
}

std::string extract(const Bytes& f, const Entry& e) {
  const std::string& s = f.data;
  if (le(s, size_t(e.offset), 4, f.path) != 0x04034b50) throw Error(CT_DATA_LOSS, f.path + ": " + e.name + ": corrupt entry");
  uint64_t nlen = le(s, size_t(e.offset) + 26, 2, f.path), xlen = le(s, size_t(e.offset) + 28, 2, f.path);
  uint64_t start = e.offset + 30 + nlen + xlen;
  if (start > s.size() || e.csize > s.size() - start)
    throw Error(CT_DATA_LOSS, f.path + ": " + e.name + ": truncated (the archive ends inside it)");
  if (e.method == 0) {
    if (e.csize != e.usize) throw Error(CT_DATA_LOSS, f.path + ": " + e.name + ": inconsistent sizes");
    return s.substr(size_t(start), size_t(e.csize));
  }
  if (e.method != 8)
    throw Error(CT_UNIMPLEMENTED, f.path + ": " + e.name + ": zip compression method " + std::to_string(e.method) +
                                      " (only stored and deflate are read)");
  // Deflate, into exactly the declared size: a larger stream (a zip bomb) is an error, and
  // no declared size is believed beyond what deflate can reach (1032:1) or this machine's
  // memory, so a hostile header cannot make us allocate much.
  if (e.usize > e.csize * 1032 + 64)
    throw Error(CT_DATA_LOSS, f.path + ": " + e.name + ": claims " + std::to_string(e.usize) + " bytes from " +
                                  std::to_string(e.csize) + " compressed ones, more than deflate can produce");
  if (e.usize > memory_limit())
    throw Error(CT_RESOURCE_EXHAUSTED, f.path + ": " + e.name + ": claims " + std::to_string(e.usize) +
                                           " bytes, more than this machine's memory");
  std::string out(size_t(e.usize), '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw Error(CT_INTERNAL, "zlib: inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data() + start));
  z.avail_in = uInt(e.csize);
  z.next_out = reinterpret_cast<Bytef*>(out.empty() ? nullptr : &out[0]);
  z.avail_out = uInt(out.size());
  int rc = inflate(&z, Z_FINISH);
  uint64_t produced = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != e.usize)
    throw Error(CT_DATA_LOSS, f.path + ": " + e.name + ": corrupt compressed data (or larger than its declared size)");
  return out;
}

// One .npy array; `absent` for a pickled object (Chainer's None).
struct Npy {
  Tensor array;
  bool absent = false;
};

Npy parse_npy(const std::string& d, const std::string& where) {
  if (d.size() < 10 || d.compare(0, 6, "\x93NUMPY") != 0) throw Error(CT_DATA_LOSS, where + ": not a .npy array");
  int major = uint8_t(d[6]);
  size_t hlen, hstart;
  if (major == 1) hlen = size_t(uint8_t(d[8])) | (size_t(uint8_t(d[9])) << 8), hstart = 10;
  else if (major == 2 || major == 3) {
    if (d.size() < 12) throw Error(CT_DATA_LOSS, where + ": truncated .npy header");
    hlen = size_t(uint8_t(d[8])) | (size_t(uint8_t(d[9])) << 8) | (size_t(uint8_t(d[10])) << 16) |
           (size_t(uint8_t(d[11])) << 24);
    hstart = 12;
  } else {
    throw Error(CT_UNIMPLEMENTED, where + ": .npy format version " + std::to_string(major));
  }
  if (hstart + hlen > d.size()) throw Error(CT_DATA_LOSS, where + ": truncated .npy header");
  const std::string h = d.substr(hstart, hlen);
  auto field = [&](const std::string& key) -> std::string {
    size_t k = h.find("'" + key + "'");
    if (k == std::string::npos) throw Error(CT_DATA_LOSS, where + ": the .npy header has no '" + key + "'");
    size_t c = h.find(':', k);
    if (c == std::string::npos) throw Error(CT_DATA_LOSS, where + ": bad .npy header");
    return h.substr(c + 1);
  };
  std::string descr = field("descr");
  size_t q1 = descr.find('\''), q2 = q1 == std::string::npos ? q1 : descr.find('\'', q1 + 1);
  if (q2 == std::string::npos) throw Error(CT_DATA_LOSS, where + ": bad dtype in the .npy header");
  descr = descr.substr(q1 + 1, q2 - q1 - 1);
  const std::string fortran_field = field("fortran_order");
  const bool fortran = fortran_field.find("True") < fortran_field.find(',');
  std::string shp = field("shape");
  size_t open = shp.find('('), close = shp.find(')');
  if (open == std::string::npos || close == std::string::npos) throw Error(CT_DATA_LOSS, where + ": bad shape");
  Shape shape;
  uint64_t count = 1;
  {
    std::string inside = shp.substr(open + 1, close - open - 1);
    size_t p = 0;
    while (p < inside.size()) {
      while (p < inside.size() && (inside[p] == ' ' || inside[p] == ',')) ++p;
      if (p >= inside.size()) break;
      size_t e = p;
      while (e < inside.size() && inside[e] >= '0' && inside[e] <= '9') ++e;
      if (e == p) throw Error(CT_DATA_LOSS, where + ": bad shape " + inside);
      if (e - p > 15) throw Error(CT_DATA_LOSS, where + ": implausible shape " + inside);
      uint64_t n = std::stoull(inside.substr(p, e - p));
      if (shape.ndim() >= 8) throw Error(CT_UNIMPLEMENTED, where + ": more than 8 dimensions");
      shape.push_back(int64_t(n));
      if (n && count > (uint64_t(1) << 40) / n) throw Error(CT_DATA_LOSS, where + ": implausible shape");
      count *= n;
      p = e;
    }
  }
  Npy out;
  if (descr == "|O") {  // a pickled object: Chainer writes None this way. Never unpickled.
    out.absent = true;
    return out;
  }
  static const std::map<std::string, Dtype> types = {
      {"f4", float32}, {"f8", float64}, {"f2", float16}, {"i4", int32}, {"i8", int64},
      {"i1", int8},    {"u1", uint8},   {"b1", bool_}};
  char order = descr.empty() ? '?' : descr[0];
  auto it = types.find(descr.size() > 1 ? descr.substr(1) : "");
  if (it == types.end() || (order != '<' && order != '>' && order != '|' && order != '='))
    throw Error(CT_UNIMPLEMENTED, where + ": dtype '" + descr + "' is not supported");
  Dtype dt = it->second;
  const size_t isz = dt.size(), body = hstart + hlen;
  if (d.size() - body != count * isz)
    throw Error(CT_DATA_LOSS, where + ": " + std::to_string(d.size() - body) + " bytes of data for shape " +
                                  shape.str() + " of " + descr + " (" + std::to_string(count * isz) + " expected)");
  std::string data = d.substr(body);
  if (order == '>' && isz > 1)
    for (size_t i = 0; i < count; ++i) std::reverse(data.begin() + long(i * isz), data.begin() + long((i + 1) * isz));
  if (fortran) {
    Shape rev;
    for (int i = shape.ndim() - 1; i >= 0; --i) rev.push_back(shape[i]);
    out.array = Tensor::from_host(data.data(), data.size(), rev, dt, runtime().cpu()).transpose().contiguous();
  } else {
    out.array = Tensor::from_host(data.data(), data.size(), shape, dt, runtime().cpu());
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& path, std::vector<std::string>* absent) {
  Bytes f = slurp(path);
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Entry& e : directory(f)) {
    std::string key = e.name;
    if (key.size() > 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
    Npy a = parse_npy(extract(f, e), path + ": " + key);
    if (a.absent) {
      if (absent) absent->push_back(key);
      continue;
    }
    out.push_back({key, a.array});
  }
  return out;
}

namespace {

KeyStore keys_of(const Bytes& f) {
  const std::string& path = f.path;
  KeyStore out;
  for (const Entry& e : directory(f)) {
    std::string key = e.name;
    if (key.size() > 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
    if (out.contains(key)) throw Error(CT_INVALID_ARGUMENT, path + ": the key '" + key + "' appears twice");
    Npy a = parse_npy(extract(f, e), path + ": " + key);
    if (a.absent)
      out.put_none(key);
    else
      out.put(key, a.array);
  }
  return out;
}

}  // namespace

KeyStore read_npz_keys(const std::string& path) { return keys_of(slurp(path)); }

KeyStore read_npz_bytes(const std::string& bytes, const std::string& name) { return keys_of(Bytes{name, bytes}); }

void load_npz(const std::string& path, Link& link, const std::string& prefix, bool strict) {
  load(path, link, prefix, strict, "npz");
}

}  // namespace catena
