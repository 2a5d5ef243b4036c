// Writing .npz files: a zip of .npy files, stored or deflated, zip64 where sizes or
// offsets need it, streamed to an AtomicFile: each array is read once, its CRC-32 and its
// deflated bytes computed piece by piece as it is written (no copy of it in memory), and
// the sizes and CRC patched into its local header afterwards.
#include <catena/files.hpp>
#include <catena/runtime.hpp>
#include <catena/serializer.hpp>
#include <catena/serializers.hpp>

#include "npy.hpp"
#include "zip.hpp"

#include <zlib.h>

#include <algorithm>
#include <vector>

namespace catena {

namespace {

void put16(std::string& s, uint64_t v) { s += char(v & 0xff), s += char((v >> 8) & 0xff); }
void put32(std::string& s, uint64_t v) { put16(s, v & 0xffff), put16(s, (v >> 16) & 0xffff); }
void put64(std::string& s, uint64_t v) { put32(s, v & 0xffffffffu), put32(s, v >> 32); }

constexpr uint64_t kAllOnes32 = 0xffffffffu;
// An entry this large gets zip64 sizes even when deflated (deflate can add a little).
constexpr uint64_t kZip64Entry = kAllOnes32 - (uint64_t(1) << 24);
constexpr size_t kPiece = size_t(1) << 20;
constexpr uint16_t kDosDate = 0x21;  // 1980-01-01, as numpy's zipfile writes without a clock

struct Written {
  std::string name;
  uint16_t method, flags;
  uint32_t crc;
  uint64_t csize, usize, offset;
  std::vector<std::pair<uint64_t, uint64_t>> sync;
};

// Streams one entry's bytes (its .npy header, then its array) into the file, deflated or
// not; returns the compressed size and sets the CRC.
class EntryWriter {
 public:
  // `usize`: the entry's uncompressed size. A large deflated entry gets sync points (see
  // zip.hpp): every `step` bytes of input the compressor is flushed whole (Z_FULL_FLUSH), so
  // the stream may be inflated from there on by another thread.
  EntryWriter(AtomicFile& file, bool deflate, uint64_t usize, const std::string& where)
      : file_(file), deflate_(deflate), where_(where) {
    if (deflate_ && usize >= zip::kSyncFrom)
      step_ = std::max(zip::kSyncStep, (usize / zip::kMaxSyncPoints + zip::kSyncStep) / zip::kSyncStep * zip::kSyncStep);
    if (deflate_) {
      if (deflateInit2(&z_, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw Error(CT_RESOURCE_EXHAUSTED, where_ + ": zlib could not start");
      out_.resize(kPiece);
    }
  }
  ~EntryWriter() {
    if (deflate_) deflateEnd(&z_);
  }
  void add(const char* data, size_t n) {
    if (!deflate_) {  // the checksum on every core, then the bytes in one go
      crc_ = zip::crc32_of(crc_, data, n);
      file_.write(data, n);
      written_ += n;
      return;
    }
    while (n > 0) {
      size_t piece = std::min(n, kPiece);
      if (step_) piece = size_t(std::min<uint64_t>(piece, next_sync() - fed_));
      crc_ = zip::crc32_update(crc_, data, piece);
      pump(data, piece, Z_NO_FLUSH);
      data += piece, n -= piece, fed_ += piece;
      if (step_ && fed_ == next_sync()) {
        pump(nullptr, 0, Z_FULL_FLUSH);
        sync_.push_back({written_, fed_});
      }
    }
  }
  // The sync points: (compressed, uncompressed) offsets where a fresh inflater may start.
  const std::vector<std::pair<uint64_t, uint64_t>>& sync_points() const { return sync_; }
  uint64_t finish() {
    if (!sync_.empty() && sync_.back().second == fed_) sync_.pop_back();  // nothing after it
    if (deflate_) pump(nullptr, 0, Z_FINISH);
    return written_;
  }
  uint32_t crc() const { return crc_; }

 private:
  void pump(const char* data, size_t n, int flush) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z_.avail_in = uInt(n);
    for (;;) {
      z_.next_out = reinterpret_cast<Bytef*>(&out_[0]);
      z_.avail_out = uInt(out_.size());
      const int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) throw Error(CT_INTERNAL, where_ + ": compressing failed");
      const size_t got = out_.size() - z_.avail_out;
      if (got) file_.write(out_.data(), got), written_ += got;
      if (flush == Z_FINISH ? rc == Z_STREAM_END : z_.avail_in == 0 && z_.avail_out > 0) return;
    }
  }
  uint64_t next_sync() const { return (sync_.size() + 1) * step_; }
  AtomicFile& file_;
  bool deflate_;
  std::string where_;
  uint64_t step_ = 0, fed_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> sync_;
  z_stream z_{};
  std::string out_;
  uint32_t crc_ = 0;
  uint64_t written_ = 0;
};

bool ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

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
  std::vector<Written> done;
  for (const std::string& key : store.keys()) {
    const std::string where = "save_npz: " + path + ": '" + key + "'";
    Written w;
    w.name = key + ".npy";
    if (w.name.size() > 0xffff) throw Error(CT_INVALID_ARGUMENT, where + ": the key is too long");
    // The array, read once (a stored array of the store being read back is read here).
    const Tensor t = store.peek(key);
    const Tensor dense = t.defined() ? t.contiguous() : Tensor();
    const std::string head = dense.defined() ? npy::header_for(dense.dtype(), dense.shape()) : npy::none_file();
    const size_t body = dense.defined() ? size_t(dense.numel()) * dense.dtype().size() : 0;
    w.usize = head.size() + body;
    w.method = compress && w.usize > 0 ? 8 : 0;
    w.flags = ascii(w.name) ? 0 : 0x800;
    w.offset = file.written();
    const bool wide = w.usize >= kZip64Entry;  // zip64 sizes in the local header too
    std::string local;
    put32(local, 0x04034b50), put16(local, wide ? 45 : 20), put16(local, w.flags), put16(local, w.method);
    put16(local, 0), put16(local, kDosDate);
    put32(local, 0), put32(local, wide ? kAllOnes32 : 0), put32(local, wide ? kAllOnes32 : w.usize);
    put16(local, w.name.size()), put16(local, wide ? 20 : 0);
    local += w.name;
    if (wide) put16(local, 1), put16(local, 16), put64(local, w.usize), put64(local, 0);
    file.write(local.data(), local.size());
    EntryWriter out(file, w.method == 8, w.usize, where);
    out.add(head.data(), head.size());
    if (body) out.add(static_cast<const char*>(dense.host_data()), body);
    w.csize = out.finish();
    w.sync = out.sync_points();
    w.crc = out.crc();
    if (!wide && w.csize >= kAllOnes32) throw Error(CT_INTERNAL, where + ": compressed beyond zip's 32-bit sizes");
    // The CRC and the compressed size, now known, into the local header.
    std::string patch;
    put32(patch, w.crc);
    if (!wide) put32(patch, w.csize);
    file.write_at(w.offset + 14, patch.data(), patch.size());
    if (wide) {
      patch.clear();
      put64(patch, w.csize);
      file.write_at(w.offset + 30 + w.name.size() + 12, patch.data(), patch.size());
    }
    done.push_back(std::move(w));
  }
  const uint64_t cd_offset = file.written();
  std::string central;
  for (const Written& w : done) {
    std::string extra;  // zip64: the fields that do not fit, in this order
    if (w.usize >= kAllOnes32) put64(extra, w.usize);
    if (w.csize >= kAllOnes32) put64(extra, w.csize);
    if (w.offset >= kAllOnes32) put64(extra, w.offset);
    std::string x;
    if (!extra.empty()) put16(x, 1), put16(x, extra.size()), x += extra;
    if (!w.sync.empty()) {  // in the central directory only: other readers skip it
      put16(x, zip::kSyncExtraId), put16(x, 1 + 16 * w.sync.size()), x += char(1);
      for (auto& [c, u] : w.sync) put64(x, c), put64(x, u);
    }
    const uint16_t version = x.empty() ? 20 : 45;
    put32(central, 0x02014b50), put16(central, version), put16(central, version), put16(central, w.flags);
    put16(central, w.method), put16(central, 0), put16(central, kDosDate), put32(central, w.crc);
    put32(central, std::min(w.csize, kAllOnes32)), put32(central, std::min(w.usize, kAllOnes32));
    put16(central, w.name.size()), put16(central, x.size()), put16(central, 0), put16(central, 0), put16(central, 0);
    put32(central, 0), put32(central, std::min(w.offset, kAllOnes32));
    central += w.name + x;
  }
  std::string end;
  const uint64_t count = done.size(), cd_size = central.size();
  if (count >= 0xffff || cd_size >= kAllOnes32 || cd_offset >= kAllOnes32) {
    const uint64_t record = cd_offset + cd_size;
    put32(end, 0x06064b50), put64(end, 44), put16(end, 45), put16(end, 45), put32(end, 0), put32(end, 0);
    put64(end, count), put64(end, count), put64(end, cd_size), put64(end, cd_offset);
    put32(end, 0x07064b50), put32(end, 0), put64(end, record), put32(end, 1);
  }
  put32(end, 0x06054b50), put16(end, 0), put16(end, 0);
  put16(end, std::min<uint64_t>(count, 0xffff)), put16(end, std::min<uint64_t>(count, 0xffff));
  put32(end, std::min(cd_size, kAllOnes32)), put32(end, std::min(cd_offset, kAllOnes32)), put16(end, 0);
  file.write(central.data(), central.size());
  file.write(end.data(), end.size());
  file.commit();
}

}  // namespace catena
