// A minimal .npz writer: a zip (stored, no compression) of .npy files.
#include <catena/serializers.hpp>
#include <catena/runtime.hpp>

#include <zlib.h>

#include <catena/serializer.hpp>

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

std::string npy(const Tensor& t) {
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
  out += header;
  size_t bytes = size_t(t.numel()) * t.dtype().size();
  size_t at = out.size();
  out.resize(at + bytes);
  if (bytes) t.copy_to_host(&out[at], bytes);
  return out;
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

void write_file_atomic(const std::string& path, const std::string& bytes) {
  // A temporary file in the same folder, its data forced to disk, then renamed over the
  // target and the folder's entry forced to disk too: after a crash at any moment the
  // path holds the old file or the new one, whole.
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error(CT_PERMISSION_DENIED, "cannot write " + tmp + ": " + std::strerror(errno) +
                                          " (does the folder exist, and may it be written?)");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      std::remove(tmp.c_str());
      throw Error(CT_PERMISSION_DENIED, "cannot write " + tmp + ": " + why);
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error(CT_PERMISSION_DENIED, "cannot write " + tmp + " to disk: " + why);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error(CT_PERMISSION_DENIED, "cannot move " + tmp + " to " + path + ": " + why);
  }
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
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
  std::string zip, central;
  uint32_t count = 0;
  for (const std::string& key : store.keys()) {
    const Tensor* t = store.find(key);
    std::string name = key + ".npy", data = t ? npy(*t) : none_npy();
    std::string stored = data;
    uint16_t method = 0;
    if (compress && !data.empty()) {
      // Raw deflate (no zlib header), as zip entries hold it.
      z_stream z{};
      if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw Error(CT_RESOURCE_EXHAUSTED, "save_npz: " + path + ": zlib could not start");
      std::string out(deflateBound(&z, uLong(data.size())), '\0');
      z.next_in = reinterpret_cast<Bytef*>(&data[0]);
      z.avail_in = uInt(data.size());
      z.next_out = reinterpret_cast<Bytef*>(&out[0]);
      z.avail_out = uInt(out.size());
      int rc = deflate(&z, Z_FINISH);
      out.resize(z.total_out);
      deflateEnd(&z);
      if (rc != Z_STREAM_END) throw Error(CT_INTERNAL, "save_npz: " + path + ": compressing '" + key + "' failed");
      stored = std::move(out);
      method = 8;
    }
    if (stored.size() >= 0xffffffffu || data.size() >= 0xffffffffu || zip.size() >= 0xffffffffu)
      throw Error(CT_UNIMPLEMENTED, "save_npz: " + path + ": arrays over 4 GiB need zip64, which is not written yet");
    if (name.size() > 0xffff) throw Error(CT_INVALID_ARGUMENT, "save_npz: " + path + ": the key '" + key + "' is too long");
    uint32_t crc = uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(data.data()), uInt(data.size())));
    uint32_t offset = uint32_t(zip.size());
    // Local file header.
    put32(zip, 0x04034b50);
    put16(zip, 20), put16(zip, 0), put16(zip, method), put16(zip, 0), put16(zip, 0x21);
    put32(zip, crc), put32(zip, uint32_t(stored.size())), put32(zip, uint32_t(data.size()));
    put16(zip, uint32_t(name.size())), put16(zip, 0);
    zip += name + stored;
    // Central directory entry.
    put32(central, 0x02014b50);
    put16(central, 20), put16(central, 20), put16(central, 0), put16(central, method), put16(central, 0),
        put16(central, 0x21);
    put32(central, crc), put32(central, uint32_t(stored.size())), put32(central, uint32_t(data.size()));
    put16(central, uint32_t(name.size())), put16(central, 0), put16(central, 0), put16(central, 0), put16(central, 0);
    put32(central, 0), put32(central, offset);
    central += name;
    if (++count > 0xffff) throw Error(CT_UNIMPLEMENTED, "save_npz: " + path + ": over 65535 keys need zip64");
  }
  uint32_t cd_offset = uint32_t(zip.size());
  zip += central;
  put32(zip, 0x06054b50);
  put16(zip, 0), put16(zip, 0), put16(zip, count), put16(zip, count);
  put32(zip, uint32_t(central.size())), put32(zip, cd_offset), put16(zip, 0);
  write_file_atomic(path, zip);
}

}  // namespace catena
