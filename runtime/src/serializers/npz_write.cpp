// A minimal .npz writer: a zip (stored, no compression) of .npy files.
#include <catena/serializers.hpp>
#include <catena/runtime.hpp>

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

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

void put16(std::string& s, uint32_t v) { s += char(v & 0xff), s += char((v >> 8) & 0xff); }
void put32(std::string& s, uint32_t v) { put16(s, v & 0xffff), put16(s, v >> 16); }

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), std::streamsize(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      throw Error(CT_PERMISSION_DENIED, "cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(CT_PERMISSION_DENIED, "cannot move " + tmp + " to " + path);
  }
}

void save_npz(const std::string& path, Link& link) {
  std::vector<std::pair<std::string, Tensor>> entries;
  for (auto& [name, p] : link.namedparams())
    if (p->is_initialized()) entries.push_back({name.substr(1), p->array()});
  for (auto& [name, t] : link.namedpersistents())
    if (t->defined()) entries.push_back({name.substr(1), *t});
  save_npz(path, entries);
}

void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& entries) {
  for (size_t i = 0; i < entries.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (entries[i].first == entries[j].first)
        throw Error(CT_ALREADY_EXISTS, "save_npz: " + path + ": the key '" + entries[i].first + "' appears twice");
  std::string zip, central;
  uint32_t count = 0;
  for (auto& [key, t] : entries) {
    std::string name = key + ".npy", data = npy(t);
    if (data.size() >= 0xffffffffu || zip.size() >= 0xffffffffu)
      throw Error(CT_UNIMPLEMENTED, "save_npz: " + path + ": arrays over 4 GiB need zip64, which is not written yet");
    uint32_t crc = uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(data.data()), uInt(data.size())));
    uint32_t offset = uint32_t(zip.size());
    // Local file header.
    put32(zip, 0x04034b50);
    put16(zip, 20), put16(zip, 0), put16(zip, 0), put16(zip, 0), put16(zip, 0x21);
    put32(zip, crc), put32(zip, uint32_t(data.size())), put32(zip, uint32_t(data.size()));
    put16(zip, uint32_t(name.size())), put16(zip, 0);
    zip += name + data;
    // Central directory entry.
    put32(central, 0x02014b50);
    put16(central, 20), put16(central, 20), put16(central, 0), put16(central, 0), put16(central, 0), put16(central, 0x21);
    put32(central, crc), put32(central, uint32_t(data.size())), put32(central, uint32_t(data.size()));
    put16(central, uint32_t(name.size())), put16(central, 0), put16(central, 0), put16(central, 0), put16(central, 0);
    put32(central, 0), put32(central, offset);
    central += name;
    ++count;
  }
  uint32_t cd_offset = uint32_t(zip.size());
  zip += central;
  put32(zip, 0x06054b50);
  put16(zip, 0), put16(zip, 0), put16(zip, count), put16(zip, count);
  put32(zip, uint32_t(central.size())), put32(zip, cd_offset), put16(zip, 0);
  write_file_atomic(path, zip);
}

}  // namespace catena
