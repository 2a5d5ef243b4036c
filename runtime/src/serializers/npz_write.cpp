// Writing .npz files: a zip of .npy files, stored or deflated, streamed to a temporary
// file (no copy of the arrays in memory) that replaces the target when whole.
#include <catena/runtime.hpp>
#include <catena/serializer.hpp>
#include <catena/serializers.hpp>

#include <zlib.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace catena {

namespace {

std::string npy_descr(Dtype d) {
  if (d == float32) return "<f4";
  if (d == float64) return "<f8";
  if (d == float16) return "<f2";
  if (d == int32) return "<i4";
  if (d == int64) return "<i8";
  if (d == int8) return "|i1";
  if (d == uint8) return "|u1";
  if (d == bool_) return "|b1";
  throw Error(CT_UNIMPLEMENTED, std::string("save_npz: numpy has no dtype for ") + d.name());
}

// The .npy header (magic, version 1.0, length, the dictionary padded to 64 bytes) of t.
std::string npy_header(const Tensor& t) {
  std::string shape = "(";
  for (int i = 0; i < t.ndim(); ++i) shape += std::to_string(t.shape()[i]) + (t.ndim() == 1 ? "," : i + 1 < t.ndim() ? ", " : "");
  shape += ")";
  std::string header = "{'descr': '" + npy_descr(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  return out + header;
}

// numpy.save(numpy.asarray(None), allow_pickle=True): how Chainer stores None (an
// uninitialised parameter), so that Chainer and numpy read it back as None. Catena's reader
// never unpickles it. The .npy header (magic, version 1.0, the header's length, the
// dictionary padded to 128 bytes) and the pickle's bytes.
std::string none_npy() {
  static const unsigned char pickle[] = {
    0x80, 0x03, 0x63, 0x6e, 0x75, 0x6d, 0x70, 0x79, 0x2e, 0x63, 0x6f, 0x72, 0x65, 0x2e, 0x6d, 0x75,
    0x6c, 0x74, 0x69, 0x61, 0x72, 0x72, 0x61, 0x79, 0x0a, 0x5f, 0x72, 0x65, 0x63, 0x6f, 0x6e, 0x73,
    0x74, 0x72, 0x75, 0x63, 0x74, 0x0a, 0x71, 0x00, 0x63, 0x6e, 0x75, 0x6d, 0x70, 0x79, 0x0a, 0x6e,
    0x64, 0x61, 0x72, 0x72, 0x61, 0x79, 0x0a, 0x71, 0x01, 0x4b, 0x00, 0x85, 0x71, 0x02, 0x43, 0x01,
    0x62, 0x71, 0x03, 0x87, 0x71, 0x04, 0x52, 0x71, 0x05, 0x28, 0x4b, 0x01, 0x29, 0x63, 0x6e, 0x75,
    0x6d, 0x70, 0x79, 0x0a, 0x64, 0x74, 0x79, 0x70, 0x65, 0x0a, 0x71, 0x06, 0x58, 0x02, 0x00, 0x00,
    0x00, 0x4f, 0x38, 0x71, 0x07, 0x89, 0x88, 0x87, 0x71, 0x08, 0x52, 0x71, 0x09, 0x28, 0x4b, 0x03,
    0x58, 0x01, 0x00, 0x00, 0x00, 0x7c, 0x71, 0x0a, 0x4e, 0x4e, 0x4e, 0x4a, 0xff, 0xff, 0xff, 0xff,
    0x4a, 0xff, 0xff, 0xff, 0xff, 0x4b, 0x3f, 0x74, 0x71, 0x0b, 0x62, 0x89, 0x5d, 0x71, 0x0c, 0x4e,
    0x61, 0x74, 0x71, 0x0d, 0x62, 0x2e,
  };
  std::string header = "{'descr': '|O', 'fortran_order': False, 'shape': (), }";
  header += std::string(128 - 10 - header.size() - 1, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += char(1), out += char(0), out += char(header.size() & 0xff), out += char(header.size() >> 8);
  return out + header + std::string(reinterpret_cast<const char*>(pickle), sizeof pickle);
}

void put16(std::string& s, uint32_t v) { s += char(v & 0xff), s += char((v >> 8) & 0xff); }
void put32(std::string& s, uint32_t v) { put16(s, v & 0xffff), put16(s, v >> 16); }

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp" + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error(CT_PERMISSION_DENIED, "cannot write " + tmp_ + ": " + std::strerror(errno) +
                                          " (does the folder exist, and may it be written?)");
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(CT_PERMISSION_DENIED, "cannot write " + tmp_ + ": " + std::strerror(errno));
    p += n;
    bytes -= size_t(n);
    written_ += uint64_t(n);
  }
}

void AtomicFile::commit() {
  // The data on disk first, then the rename, then the folder's entry: after a crash at any
  // moment the path holds the old file or the new one, whole.
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    fd_ = -1;
    throw Error(CT_PERMISSION_DENIED, "cannot write " + tmp_ + " to disk: " + std::strerror(errno));
  }
  fd_ = -1;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw Error(CT_PERMISSION_DENIED, "cannot move " + tmp_ + " to " + path_ + ": " + std::strerror(errno));
  committed_ = true;
  size_t slash = path_.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

void save_npz(const std::string& path, Link& link) { save(path, link, "npz"); }

void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& entries) {
  KeyStore store;
  for (auto& [key, t] : entries) {
    if (store.contains(key))
      throw Error(CT_ALREADY_EXISTS, "save_npz: " + path + ": the key '" + key + "' appears twice");
    store.put(key, t.to(runtime().cpu()));
  }
  write_npz(path, store, false);
}

void write_npz(const std::string& path, const KeyStore& store, bool compress) {
  AtomicFile file(path);
  std::string central, local;
  uint32_t count = 0;
  for (const std::string& key : store.keys()) {
    const Tensor* t = store.find(key);
    // The entry's bytes: a header and the array's memory (or the whole None file).
    Tensor dense = t ? t->contiguous() : Tensor();
    const std::string head = t ? npy_header(dense) : none_npy();
    const char* body = t && dense.numel() ? static_cast<const char*>(dense.host_data()) : nullptr;
    const size_t body_size = t ? size_t(dense.numel()) * dense.dtype().size() : 0;
    const uint64_t usize = head.size() + body_size;
    uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(head.data()), uInt(head.size()));
    for (size_t at = 0; at < body_size; at += (size_t(1) << 30))
      crc = crc32(crc, reinterpret_cast<const Bytef*>(body + at), uInt(std::min(body_size - at, size_t(1) << 30)));
    std::string packed;  // the deflated bytes, when compressing
    uint16_t method = 0;
    if (compress && usize > 0) {
      // Raw deflate (no zlib header), as zip entries hold it.
      z_stream z{};
      if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw Error(CT_RESOURCE_EXHAUSTED, "save_npz: " + path + ": zlib could not start");
      packed.resize(deflateBound(&z, uLong(usize)));
      z.next_out = reinterpret_cast<Bytef*>(&packed[0]);
      z.avail_out = uInt(packed.size());
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(head.data()));
      z.avail_in = uInt(head.size());
      int rc = deflate(&z, body_size ? Z_NO_FLUSH : Z_FINISH);
      if (body_size && rc == Z_OK) {
        z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body));
        z.avail_in = uInt(body_size);
        rc = deflate(&z, Z_FINISH);
      }
      packed.resize(z.total_out);
      deflateEnd(&z);
      if (rc != Z_STREAM_END) throw Error(CT_INTERNAL, "save_npz: " + path + ": compressing '" + key + "' failed");
      method = 8;
    }
    const uint64_t csize = method ? packed.size() : usize;
    const uint64_t offset = file.written();
    if (csize >= 0xffffffffu || usize >= 0xffffffffu || offset >= 0xffffffffu)
      throw Error(CT_UNIMPLEMENTED, "save_npz: " + path + ": files and arrays over 4 GiB need zip64, which is not written yet");
    const std::string name = key + ".npy";
    if (name.size() > 0xffff) throw Error(CT_INVALID_ARGUMENT, "save_npz: " + path + ": the key '" + key + "' is too long");
    local.clear();
    put32(local, 0x04034b50);
    put16(local, 20), put16(local, 0), put16(local, method), put16(local, 0), put16(local, 0x21);
    put32(local, uint32_t(crc)), put32(local, uint32_t(csize)), put32(local, uint32_t(usize));
    put16(local, uint32_t(name.size())), put16(local, 0);
    local += name;
    file.write(local.data(), local.size());
    if (method) {
      file.write(packed.data(), packed.size());
    } else {
      file.write(head.data(), head.size());
      if (body_size) file.write(body, body_size);
    }
    put32(central, 0x02014b50);
    put16(central, 20), put16(central, 20), put16(central, 0), put16(central, method), put16(central, 0),
        put16(central, 0x21);
    put32(central, uint32_t(crc)), put32(central, uint32_t(csize)), put32(central, uint32_t(usize));
    put16(central, uint32_t(name.size())), put16(central, 0), put16(central, 0), put16(central, 0), put16(central, 0);
    put32(central, 0), put32(central, uint32_t(offset));
    central += name;
    if (++count > 0xffff) throw Error(CT_UNIMPLEMENTED, "save_npz: " + path + ": over 65535 keys need zip64");
  }
  const uint64_t cd_offset = file.written();
  if (cd_offset >= 0xffffffffu)
    throw Error(CT_UNIMPLEMENTED, "save_npz: " + path + ": files over 4 GiB need zip64, which is not written yet");
  std::string end;
  put32(end, 0x06054b50);
  put16(end, 0), put16(end, 0), put16(end, count), put16(end, count);
  put32(end, uint32_t(central.size())), put32(end, uint32_t(cd_offset)), put16(end, 0);
  file.write(central.data(), central.size());
  file.write(end.data(), end.size());
  file.commit();
}

}  // namespace catena
