// Reading .npz files (zip archives of .npy arrays, stored or deflated, zip64 included).
// The file is mapped, not read: listing it reads the zip directory and each entry's .npy
// header; an array's values are read when used, straight into the tensor that holds them,
// and only after their CRC-32 matched. Errors name the file and the key.
#include <catena/runtime.hpp>
#include <catena/serializers.hpp>

#include "npy.hpp"
#include "zip.hpp"

#include <algorithm>
#include <cstring>

namespace catena {

namespace {

std::string key_of(const std::string& entry) {
  if (entry.size() > 4 && entry.compare(entry.size() - 4, 4, ".npy") == 0) return entry.substr(0, entry.size() - 4);
  return entry;
}

void swap_bytes(void* data, uint64_t count, size_t size) {
  char* p = static_cast<char*>(data);
  for (uint64_t i = 0; i < count; ++i, p += size) std::reverse(p, p + size);
}

// One array of an npz file, read on demand.
class NpzArray : public StoredArray {
 public:
  NpzArray(std::shared_ptr<const zip::Archive> archive, size_t entry, const npy::Header& h, std::string where)
      : StoredArray(h.dtype, h.shape), archive_(std::move(archive)), entry_(entry), h_(h), where_(std::move(where)) {}

  Tensor read() const override {
    if (!h_.fortran) {
      Tensor t = Tensor::empty(shape(), dtype(), runtime().cpu());
      stream(t.numel() ? t.host_data() : nullptr);
      return t;
    }
    // Column-major: the transpose of a C-ordered array of the reversed shape.
    Shape reversed;
    for (int i = shape().ndim() - 1; i >= 0; --i) reversed.push_back(shape()[i]);
    Tensor t = Tensor::empty(reversed, dtype(), runtime().cpu());
    stream(t.numel() ? t.host_data() : nullptr);
    return t.transpose().contiguous();
  }
  void read_into(void* dst) const override {
    if (h_.fortran) return StoredArray::read_into(dst);
    stream(dst);
  }
  bool direct() const override { return !h_.fortran; }
  bool checks_cheaply() const override { return entry().method == 0; }
  void verify() const override {
    zip::EntryReader r(archive_, entry(), where_);
    r.skip(entry().usize);
    r.finish();
  }

 private:
  const zip::Entry& entry() const { return archive_->entries()[entry_]; }
  // The data after the header into dst, checked.
  void stream(void* dst) const {
    // A large deflated entry with sync points (Catena's) on every core; if that cannot be
    // done, or finds anything wrong, the reader below reads it again and says what.
    if (nbytes() > 0 && zip::inflate_parallel(*archive_, entry(), h_.size, dst)) {
      if (h_.big_endian) swap_bytes(dst, uint64_t(shape().numel()), dtype().size());
      return;
    }
    zip::EntryReader r(archive_, entry(), where_);
    r.skip(h_.size);
    if (nbytes()) r.read(dst, nbytes());
    r.finish();
    if (h_.big_endian) swap_bytes(dst, uint64_t(shape().numel()), dtype().size());
  }

  std::shared_ptr<const zip::Archive> archive_;
  size_t entry_;
  npy::Header h_;
  std::string where_;
};

KeyStore keys_of(std::shared_ptr<const MappedFile> file) {
  auto archive = std::make_shared<const zip::Archive>(file);
  const std::string& path = archive->path();
  KeyStore out;
  for (size_t i = 0; i < archive->entries().size(); ++i) {
    const zip::Entry& e = archive->entries()[i];
    const std::string key = key_of(e.name), where = path + ": " + key;
    if (out.contains(key)) throw Error(CT_DATA_LOSS, path + ": the key '" + key + "' appears twice");
    // The header, from the entry's first bytes.
    zip::EntryReader r(archive, e, where);
    std::string head(size_t(std::min<uint64_t>(npy::kPreamble, e.usize)), '\0');
    r.read(&head[0], head.size());
    const uint64_t hsize = npy::header_size(head.data(), head.size(), where);
    if (hsize > e.usize) throw Error(CT_DATA_LOSS, where + ": truncated .npy header");
    head.resize(size_t(hsize));
    if (hsize > npy::kPreamble) r.read(&head[npy::kPreamble], hsize - npy::kPreamble);
    const npy::Header h = npy::parse_header(head.data(), head.size(), where);
    const uint64_t body = e.usize - hsize;
    if (h.object) {
      // Chainer's None. Anything else pickled is refused, never unpickled.
      std::string pickle(size_t(std::min<uint64_t>(body, npy::kMaxPickledNone + 1)), '\0');
      if (body <= npy::kMaxPickledNone) {
        r.read(&pickle[0], body);
        r.finish();
      }
      if (body > npy::kMaxPickledNone || h.shape.ndim() != 0 || h.fortran || !npy::is_pickled_none(pickle.data(), body))
        throw Error(CT_DATA_LOSS, where + ": a pickled Python object; Catena reads only None (numpy's pickle of None, "
                                          "as Chainer saves an uninitialised parameter) and never unpickles anything");
      out.put_none(key);
      continue;
    }
    if (body != h.data_bytes())
      throw Error(CT_DATA_LOSS, where + ": " + std::to_string(body) + " bytes of data for shape " + h.shape.str() +
                                    " of " + h.dtype.name() + " (" + std::to_string(h.data_bytes()) + " expected)");
    out.put_stored(key, std::make_shared<NpzArray>(archive, i, h, where));
  }
  return out;
}

}  // namespace

KeyStore read_npz_keys(const std::string& path) { return keys_of(MappedFile::open(path)); }

KeyStore read_npz_bytes(const std::string& bytes, const std::string& name) {
  return keys_of(MappedFile::of_bytes(bytes, name));
}

std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& path, std::vector<std::string>* absent) {
  KeyStore keys = read_npz_keys(path);
  std::vector<std::pair<std::string, Tensor>> out;
  for (const std::string& key : keys.keys()) {
    if (keys.is_none(key)) {
      if (absent) absent->push_back(key);
      continue;
    }
    out.push_back({key, keys.take(key)});
  }
  return out;
}

void load_npz(const std::string& path, Link& link, const std::string& prefix, bool strict) {
  load(path, link, prefix, strict, "npz");
}

}  // namespace catena
