// Zip archives read strictly (see zip.hpp). The field offsets are those of PKWARE's
// APPNOTE: end of central directory (22 bytes and a comment), zip64 end record and
// locator, central directory records (46 bytes and variable parts), local headers (30).
#include "zip.hpp"

#include "../internal.hpp"

#include <catena/error.hpp>

#ifdef CATENA_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <thread>

namespace catena {
namespace zip {

namespace {

constexpr uint32_t kEndSig = 0x06054b50, kEnd64Sig = 0x06064b50, kLocatorSig = 0x07064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50, kDescriptorSig = 0x08074b50;
// Flags read here: deflate's speed options (bits 1, 2), a data descriptor (3), UTF-8
// names (11). Anything else (encryption, patches, masked headers) is refused.
constexpr uint16_t kKnownFlags = 0x080e;
// Deflate cannot produce more than about 1032 bytes per compressed byte.
constexpr uint64_t kDeflateRatio = 1032;

// Bytes a machine can hold: more than this is not an array anyone can load.
uint64_t memory_limit() {
  static const uint64_t limit = [] {
    long pages = ::sysconf(_SC_PHYS_PAGES), size = ::sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? uint64_t(pages) * uint64_t(size) : uint64_t(1) << 34;
  }();
  return limit;
}

// Little-endian fields of the file, every one checked to lie inside it.
struct Fields {
  const MappedFile& f;
  [[noreturn]] void fail(const std::string& what) const { throw Error(CT_DATA_LOSS, f.path() + ": " + what); }
  uint64_t get(uint64_t at, int bytes) const {
    if (at > f.size() || f.size() - at < uint64_t(bytes)) fail("truncated (a zip structure runs past the end of the file)");
    const unsigned char* p = reinterpret_cast<const unsigned char*>(f.data()) + at;
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  uint16_t u16(uint64_t at) const { return uint16_t(get(at, 2)); }
  uint32_t u32(uint64_t at) const { return uint32_t(get(at, 4)); }
  uint64_t u64(uint64_t at) const { return get(at, 8); }
};

// The zip64 values in an extra field [x, end) for the fields that are all ones (in the
// order usize, csize, offset, disk); `found` says whether the field was there.
struct Zip64 {
  uint64_t* usize = nullptr;
  uint64_t* csize = nullptr;
  uint64_t* offset = nullptr;
  uint32_t* disk = nullptr;
};

bool read_extra(const Fields& f, uint64_t x, uint64_t end, Zip64 want, const std::string& where) {
  bool found = false;
  while (x < end) {
    if (end - x < 4) f.fail(where + ": corrupt extra field");
    const uint64_t id = f.u16(x), len = f.u16(x + 2);
    if (len > end - x - 4) f.fail(where + ": corrupt extra field");
    if (id == 1) {
      uint64_t q = x + 4;
      const uint64_t stop = q + len;
      auto take = [&](uint64_t* v, int bytes) {
        if (!v) return;
        if (stop - q < uint64_t(bytes)) f.fail(where + ": corrupt zip64 extra field");
        *v = f.get(q, bytes);
        q += uint64_t(bytes);
      };
      take(want.usize, 8), take(want.csize, 8), take(want.offset, 8);
      if (want.disk) {
        uint64_t d = 0;
        take(&d, 4);
        *want.disk = uint32_t(d);
      }
      found = true;
    }
    x += 4 + len;
  }
  return found;
}

// An entry's sync points from its central extra field [x, end), if it has a table that
// is consistent with the entry; none otherwise (a shortcut only: never an error).
std::vector<std::pair<uint64_t, uint64_t>> read_sync(const Fields& f, uint64_t x, uint64_t end, const Entry& e) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  while (end - x >= 4) {
    const uint64_t id = f.u16(x), len = f.u16(x + 2);
    if (len > end - x - 4) break;
    if (id == kSyncExtraId && len >= 1 && (len - 1) % 16 == 0 && f.get(x + 4, 1) == 1 && e.method == 8) {
      uint64_t c0 = 0, u0 = 0;
      for (uint64_t q = x + 5; q < x + 4 + len; q += 16) {
        const uint64_t c = f.u64(q), u = f.u64(q + 8);
        if (c <= c0 || u <= u0 || c >= e.csize || u >= e.usize) return {};
        out.push_back({c, u});
        c0 = c, u0 = u;
      }
      return out;
    }
    x += 4 + len;
  }
  return {};
}

// The end of central directory record: the one whose comment reaches exactly to the end of
// the file.
uint64_t find_end(const Fields& f) {
  const uint64_t n = f.f.size();
  const uint64_t lo = n > 22 + 65535 ? n - 22 - 65535 : 0;
  for (uint64_t i = n - 22 + 1; i-- > lo;)
    if (f.u32(i) == kEndSig && i + 22 + f.u16(i + 20) == n) return i;
  f.fail("not a zip file, or its end is damaged (no end of central directory record; .npz files are zip archives)");
}

}  // namespace

Archive::Archive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
  const Fields f{*file_};
  const uint64_t n = file_->size();
  if (n < 22) f.fail("not a zip file (too short; .npz files are zip archives)");
  const uint64_t end = find_end(f);
  uint64_t disk = f.u16(end + 4), cd_disk = f.u16(end + 6), on_disk = f.u16(end + 8), count = f.u16(end + 10);
  uint64_t cd_size = f.u32(end + 12), cd_off = f.u32(end + 16);
  uint64_t cd_end = end;  // where the central directory must stop
  const bool wants64 = disk == 0xffff || cd_disk == 0xffff || on_disk == 0xffff || count == 0xffff ||
                       cd_size == 0xffffffffu || cd_off == 0xffffffffu;
  if (end >= 20 && f.u32(end - 20) == kLocatorSig) {
    const uint64_t locator = end - 20, record = f.u64(locator + 8);
    if (f.u32(locator + 4) != 0 || f.u32(locator + 16) > 1)
      throw Error(CT_UNIMPLEMENTED, file_->path() + ": a multi-part zip archive (Catena reads one-file archives)");
    if (record > locator || locator - record < 56 || f.u32(record) != kEnd64Sig ||
        record + 12 + f.u64(record + 4) != locator)
      f.fail("corrupt zip64 end of central directory");
    auto agree = [&](uint64_t& narrow, uint64_t wide, uint64_t all_ones) {
      if (narrow != all_ones && narrow != wide) f.fail("the zip64 end record and the end record disagree");
      narrow = wide;
    };
    agree(disk, f.u32(record + 16), 0xffff), agree(cd_disk, f.u32(record + 20), 0xffff);
    agree(on_disk, f.u64(record + 24), 0xffff), agree(count, f.u64(record + 32), 0xffff);
    agree(cd_size, f.u64(record + 40), 0xffffffffu), agree(cd_off, f.u64(record + 48), 0xffffffffu);
    cd_end = record;
  } else if (wants64) {
    f.fail("corrupt end of central directory (it points to zip64 records that are not there)");
  }
  if (disk != 0 || cd_disk != 0 || on_disk != count)
    throw Error(CT_UNIMPLEMENTED, file_->path() + ": a multi-part zip archive (Catena reads one-file archives)");
  if (cd_off > cd_end || cd_size != cd_end - cd_off)
    f.fail("truncated or corrupt (the central directory's size and place disagree with the end record)");
  if (count > cd_size / 46) f.fail("corrupt central directory (too many entries for its size)");

  std::set<std::string> names;
  uint64_t p = cd_off;
  for (uint64_t i = 0; i < count; ++i) {
    if (cd_end - p < 46 || f.u32(p) != kCentralSig) f.fail("corrupt central directory");
    Entry e;
    const uint16_t need = f.u16(p + 6);
    e.flags = f.u16(p + 8);
    e.method = f.u16(p + 10);
    e.crc = f.u32(p + 16);
    e.csize = f.u32(p + 20);
    e.usize = f.u32(p + 24);
    const uint64_t nlen = f.u16(p + 28), xlen = f.u16(p + 30), clen = f.u16(p + 32);
    uint32_t start_disk = f.u16(p + 34);
    e.header_offset = f.u32(p + 42);
    if (cd_end - p - 46 < nlen + xlen + clen) f.fail("corrupt central directory (a record runs past its end)");
    e.name.assign(file_->data() + p + 46, size_t(nlen));
    const std::string where = "the entry '" + e.name + "'";
    if (e.name.empty() || e.name.find('\0') != std::string::npos) f.fail("corrupt central directory (a bad entry name)");
    if (!names.insert(e.name).second) f.fail(where + " appears twice in the central directory");
    Zip64 z;
    if (e.usize == 0xffffffffu) z.usize = &e.usize;
    if (e.csize == 0xffffffffu) z.csize = &e.csize;
    if (e.header_offset == 0xffffffffu) z.offset = &e.header_offset;
    if (start_disk == 0xffff) z.disk = &start_disk;
    const bool has64 = read_extra(f, p + 46 + nlen, p + 46 + nlen + xlen, z, where);
    if ((z.usize || z.csize || z.offset || z.disk) && !has64) f.fail(where + ": corrupt sizes (no zip64 field)");
    if (start_disk != 0) throw Error(CT_UNIMPLEMENTED, file_->path() + ": a multi-part zip archive");
    if (need > 63)
      throw Error(CT_UNIMPLEMENTED, file_->path() + ": " + where + " needs zip version " + std::to_string(need / 10) +
                                        "." + std::to_string(need % 10) + " (Catena reads up to 6.3)");
    if (e.flags & 1) throw Error(CT_UNIMPLEMENTED, file_->path() + ": " + where + " is encrypted");
    if (e.flags & ~kKnownFlags) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%04x", unsigned(e.flags));
      throw Error(CT_UNIMPLEMENTED, file_->path() + ": " + where + " uses zip features Catena does not read (flags " +
                                        hex + ")");
    }
    if (e.method != 0 && e.method != 8)
      throw Error(CT_UNIMPLEMENTED, file_->path() + ": " + where + ": zip compression method " +
                                        std::to_string(e.method) + " (only stored and deflate are read)");
    e.sync = read_sync(f, p + 46 + nlen, p + 46 + nlen + xlen, e);
    entries_.push_back(std::move(e));
    p += 46 + nlen + xlen + clen;
  }
  if (p != cd_end) f.fail("corrupt central directory (its records do not fill it)");

  // Each local header must say what the directory says, and the entries must lie one
  // after another, before the directory: overlapping entries (one deflated stream counted
  // many times over) are a zip bomb.
  std::vector<std::pair<uint64_t, uint64_t>> extents;  // [header, end) per entry
  uint64_t declared = 0;
  for (Entry& e : entries_) {
    const std::string where = "the entry '" + e.name + "'";
    const uint64_t h = e.header_offset;
    if (h > cd_off || cd_off - h < 30 || f.u32(h) != kLocalSig)
      f.fail(where + ": corrupt (no local header where the central directory says)");
    const uint64_t nlen = f.u16(h + 26), xlen = f.u16(h + 28);
    if (cd_off - h - 30 < nlen + xlen) f.fail(where + ": corrupt local header");
    if (nlen != e.name.size() || std::memcmp(file_->data() + h + 30, e.name.data(), e.name.size()) != 0)
      f.fail(where + ": the local header names '" + std::string(file_->data() + h + 30, size_t(nlen)) +
             "' (the file name in the central directory and in the header differ)");
    if (f.u16(h + 6) != e.flags || f.u16(h + 8) != e.method)
      f.fail(where + ": the local header and the central directory disagree (flags or method)");
    uint64_t lcrc = f.u32(h + 14), lcsize = f.u32(h + 18), lusize = f.u32(h + 22);
    if (lusize == 0xffffffffu || lcsize == 0xffffffffu) {
      Zip64 z;
      z.usize = &lusize, z.csize = &lcsize;  // a local zip64 field holds both sizes
      if (!read_extra(f, h + 30 + nlen, h + 30 + nlen + xlen, z, where)) f.fail(where + ": corrupt local sizes");
    } else {
      read_extra(f, h + 30 + nlen, h + 30 + nlen + xlen, Zip64{}, where);
    }
    e.data_offset = h + 30 + nlen + xlen;
    if (e.csize > cd_off - e.data_offset) f.fail(where + ": truncated (the archive ends inside it)");
    uint64_t stop = e.data_offset + e.csize;
    if (e.flags & 8) {
      // Sizes and CRC after the data; the local fields are zero or the same.
      if ((lcrc && lcrc != e.crc) || (lcsize && lcsize != e.csize) || (lusize && lusize != e.usize))
        f.fail(where + ": the local header and the central directory disagree (CRC-32 or sizes)");
      if (cd_off - stop >= 4 && f.u32(stop) == kDescriptorSig) stop += 4;
      const int width = e.csize >= 0xffffffffu || e.usize >= 0xffffffffu ? 8 : 4;
      if (cd_off - stop < uint64_t(4 + 2 * width)) f.fail(where + ": truncated (no data descriptor)");
      if (f.u32(stop) != e.crc || f.get(stop + 4, width) != e.csize || f.get(stop + 4 + uint64_t(width), width) != e.usize)
        f.fail(where + ": its data descriptor and the central directory disagree");
      stop += uint64_t(4 + 2 * width);
    } else if (lcrc != e.crc || lcsize != e.csize || lusize != e.usize) {
      f.fail(where + ": the local header and the central directory disagree (CRC-32 or sizes)");
    }
    if (e.method == 0 && e.csize != e.usize) f.fail(where + ": inconsistent sizes (a stored entry's two sizes differ)");
    if (e.method == 8 && e.usize > e.csize * kDeflateRatio + 64)
      f.fail(where + " claims " + std::to_string(e.usize) + " bytes from " + std::to_string(e.csize) +
             " compressed ones, more than deflate can produce");
    extents.push_back({h, stop});
    declared += e.usize;
  }
  std::vector<size_t> order(entries_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return extents[a].first < extents[b].first; });
  for (size_t i = 1; i < order.size(); ++i)
    if (extents[order[i - 1]].second > extents[order[i]].first)
      f.fail("the entries '" + entries_[order[i - 1]].name + "' and '" + entries_[order[i]].name +
             "' overlap (a zip bomb, or a damaged central directory)");
  if (declared > memory_limit())
    throw Error(CT_RESOURCE_EXHAUSTED, file_->path() + ": its entries hold " + std::to_string(declared) +
                                           " bytes in all, more than this machine's memory");
}

// --- EntryReader -----------------------------------------------------------------------

namespace {
// Pieces a stream is read in: small enough to stay in cache between copying and checksum.
constexpr uint64_t kPiece = uint64_t(1) << 18;
// Pages of the file read are given back in steps of this.
constexpr uint64_t kReleaseStep = uint64_t(1) << 23;
}  // namespace

EntryReader::EntryReader(std::shared_ptr<const Archive> archive, const Entry& entry, std::string where)
    : archive_(std::move(archive)), entry_(entry), where_(std::move(where)) {
  if (entry_.method == 8) {
    if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) throw Error(CT_RESOURCE_EXHAUSTED, where_ + ": zlib could not start");
    inflating_ = true;
  }
}

EntryReader::~EntryReader() {
  if (inflating_) inflateEnd(&z_);
}

void EntryReader::release_consumed() {
  if (consumed_ - released_ < kReleaseStep && consumed_ != entry_.csize) return;
  archive_->file().release(entry_.data_offset + released_, consumed_ - released_);
  released_ = consumed_;
}

namespace {

// Stored arrays from this size on are copied and checked by several threads at once (a
// copy from the page cache and a CRC-32 are each a few GB/s per core).
constexpr uint64_t kParallelFrom = uint64_t(32) << 20;

}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, size_t n) {
#ifdef CATENA_HAVE_LIBDEFLATE
  return libdeflate_crc32(crc, data, n);
#else
  return uint32_t(crc32_z(crc, static_cast<const Bytef*>(data), n));
#endif
}

uint32_t crc32_of(uint32_t crc, const void* data, uint64_t n) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  const unsigned parts = n >= kParallelFrom ? unsigned(std::min<uint64_t>(file_threads(), n / (kParallelFrom / 2))) : 1;
  if (parts <= 1) return crc32_update(crc, p, size_t(n));
  std::vector<uLong> crcs(parts);
  std::vector<uint64_t> begin(parts + 1);
  for (unsigned i = 0; i <= parts; ++i) begin[i] = i == parts ? n : n / parts * i;
  auto part = [&](unsigned i) { crcs[i] = crc32_update(0, p + begin[i], size_t(begin[i + 1] - begin[i])); };
  std::vector<std::thread> helpers;
  for (unsigned i = 1; i < parts; ++i) helpers.emplace_back(part, i);
  part(0);
  for (std::thread& t : helpers) t.join();
  uLong out = crc;
  for (unsigned i = 0; i < parts; ++i) out = crc32_combine(out, crcs[i], z_off_t(begin[i + 1] - begin[i]));
  return uint32_t(out);
}

bool inflate_parallel(const Archive& archive, const Entry& e, uint64_t skip, void* dst) {
  if (e.method != 8 || e.sync.empty() || skip > e.usize || file_threads() < 2) return false;
  // Segments between sync points, shared out by uncompressed bytes: part k runs from
  // bounds[cut[k]] to bounds[cut[k + 1]].
  std::vector<std::pair<uint64_t, uint64_t>> bounds = {{0, 0}};
  bounds.insert(bounds.end(), e.sync.begin(), e.sync.end());
  bounds.push_back({e.csize, e.usize});
  const unsigned parts = unsigned(std::min<size_t>(file_threads(), bounds.size() - 1));
  std::vector<size_t> cut = {0};
  for (unsigned k = 1; k < parts; ++k) {
    size_t i = cut.back() + 1;
    while (i + 1 < bounds.size() && bounds[i].second < e.usize / parts * k) ++i;
    if (i + 1 < bounds.size()) cut.push_back(i);
  }
  cut.push_back(bounds.size() - 1);
  const unsigned char* in = reinterpret_cast<const unsigned char*>(archive.file().data()) + e.data_offset;
  unsigned char* out = static_cast<unsigned char*>(dst);
  std::vector<unsigned char> head(static_cast<size_t>(skip));
  std::vector<uint32_t> crcs(cut.size() - 1);
  std::vector<char> ok(cut.size() - 1, 0);
  auto part = [&](size_t k) {
    const uint64_t c0 = bounds[cut[k]].first, c1 = bounds[cut[k + 1]].first;
    const uint64_t u0 = bounds[cut[k]].second, u1 = bounds[cut[k + 1]].second;
    const bool last = k + 2 == cut.size();
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return;
    uint64_t fed = c0, released = c0, u = u0;
    uint32_t crc = 0;
    auto feed = [&] {
      if (z.avail_in == 0 && fed < c1) {
        z.next_in = const_cast<unsigned char*>(in + fed);
        z.avail_in = uInt(std::min<uint64_t>(c1 - fed, uint64_t(1) << 30));
        fed += z.avail_in;
      }
    };
    bool good = true, ended = false;
    while (good && !ended && u < u1) {
      // The bytes before `skip` (the .npy header) go aside; the rest into dst.
      unsigned char* to = u < skip ? head.data() + u : out + (u - skip);
      uint64_t room = std::min<uint64_t>(kPiece, u1 - u);
      if (u < skip) room = std::min(room, skip - u);
      z.next_out = to;
      z.avail_out = uInt(room);
      int rc = Z_OK;
      while (z.avail_out > 0 && rc == Z_OK) {
        feed();
        rc = inflate(&z, Z_NO_FLUSH);  // Z_BUF_ERROR: the part's input ran out
      }
      const uint64_t got = room - z.avail_out;
      crc = crc32_update(crc, to, size_t(got));
      u += got;
      ended = rc == Z_STREAM_END;
      good = rc == Z_OK || (ended && last && u == u1);
      const uint64_t used = fed - z.avail_in;
      if (used - released >= kReleaseStep) {
        archive.file().release(e.data_offset + released, used - released);
        released = used;
      }
    }
    // What is left of the part's input must give nothing more: the empty block of the
    // flush before the next part, or the end of the stream after the last.
    while (good && !ended && (z.avail_in > 0 || fed < c1 || last)) {
      unsigned char extra = 0;
      feed();
      z.next_out = &extra;
      z.avail_out = 1;
      const int rc = inflate(&z, Z_NO_FLUSH);
      ended = rc == Z_STREAM_END;
      good = z.avail_out == 1 && (rc == Z_OK || (ended && last));
      if (last && !ended && rc == Z_OK && z.avail_in == 0 && fed == c1) good = false;  // truncated
    }
    good = good && z.total_in == c1 - c0 && u == u1;
    inflateEnd(&z);
    archive.file().release(e.data_offset + released, c1 - released);
    crcs[k] = crc;
    ok[k] = good;
  };
  std::vector<std::thread> helpers;
  for (size_t k = 1; k + 1 < cut.size(); ++k) helpers.emplace_back(part, k);
  part(0);
  for (std::thread& t : helpers) t.join();
  uint32_t crc = 0;
  for (size_t k = 0; k + 1 < cut.size(); ++k) {
    if (!ok[k]) return false;
    crc = uint32_t(crc32_combine(crc, crcs[k], z_off_t(bounds[cut[k + 1]].second - bounds[cut[k]].second)));
  }
  return crc == e.crc;
}

void EntryReader::read_stored_parallel(unsigned char* out, const unsigned char* in, uint64_t n) {
  const unsigned parts = unsigned(std::min<uint64_t>(file_threads(), n / (kParallelFrom / 2)));
  std::vector<uLong> crcs(parts);
  std::vector<uint64_t> begin(parts + 1);
  for (unsigned i = 0; i <= parts; ++i) begin[i] = i == parts ? n : n / parts * i / kPiece * kPiece;
  const MappedFile& file = archive_->file();
  const uint64_t base = entry_.data_offset + produced_;
  auto part = [&](unsigned i) {
    uint32_t crc = 0;
    uint64_t released = begin[i];
    for (uint64_t at = begin[i]; at < begin[i + 1]; at += kPiece) {
      const uint64_t piece = std::min(kPiece, begin[i + 1] - at);
      std::memcpy(out + at, in + at, size_t(piece));
      crc = crc32_update(crc, out + at, size_t(piece));
      if (at + piece - released >= kReleaseStep || at + piece == begin[i + 1]) {
        file.release(base + released, at + piece - released);
        released = at + piece;
      }
    }
    crcs[i] = crc;
  };
  std::vector<std::thread> helpers;
  for (unsigned i = 1; i < parts; ++i) helpers.emplace_back(part, i);
  part(0);
  for (std::thread& t : helpers) t.join();
  for (unsigned i = 0; i < parts; ++i) crc_ = uint32_t(crc32_combine(crc_, crcs[i], z_off_t(begin[i + 1] - begin[i])));
  produced_ += n;
  consumed_ = released_ = produced_;
}

void EntryReader::read(void* dst, uint64_t n) {
  auto fail = [&](const std::string& what) { throw Error(CT_DATA_LOSS, where_ + ": " + what); };
  if (n > entry_.usize - produced_) fail("its data is shorter than its header says (truncated or corrupt)");
  unsigned char* out = static_cast<unsigned char*>(dst);
  const unsigned char* in = reinterpret_cast<const unsigned char*>(archive_->file().data()) + entry_.data_offset;
  if (entry_.method == 0 && n >= kParallelFrom && file_threads() > 1)
    return read_stored_parallel(out, in + produced_, n);
  while (n > 0) {
    const uint64_t piece = std::min(n, kPiece);
    if (entry_.method == 0) {
      std::memcpy(out, in + produced_, size_t(piece));
      consumed_ = produced_ + piece;
    } else {
      if (ended_) fail("corrupt compressed data (its stream ends before its declared size)");
      z_.next_out = out;
      z_.avail_out = uInt(piece);
      while (z_.avail_out > 0) {
        // With all input given, inflate may still have output to give (a long match).
        if (z_.avail_in == 0 && consumed_ < entry_.csize) {
          z_.next_in = const_cast<unsigned char*>(in + consumed_);
          z_.avail_in = uInt(std::min<uint64_t>(entry_.csize - consumed_, uint64_t(1) << 30));
          consumed_ += z_.avail_in;
        }
        const int rc = inflate(&z_, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
          ended_ = true;
          if (z_.avail_out > 0) fail("corrupt compressed data (its stream ends before its declared size)");
          break;
        }
        if (rc == Z_BUF_ERROR && z_.avail_in == 0) fail("corrupt compressed data (truncated)");
        if (rc != Z_OK) fail("corrupt compressed data");
      }
      consumed_ -= z_.avail_in;  // what inflate has not used yet is not consumed
      z_.avail_in = 0;
    }
    crc_ = crc32_update(crc_, out, size_t(piece));
    out += piece;
    produced_ += piece;
    n -= piece;
    release_consumed();
  }
}

void EntryReader::skip(uint64_t n) {
  std::vector<unsigned char> scratch(size_t(std::min(n, kPiece)));
  while (n > 0) {
    const uint64_t piece = std::min<uint64_t>(n, scratch.size());
    read(scratch.data(), piece);
    n -= piece;
  }
}

void EntryReader::finish() {
  auto fail = [&](const std::string& what) { throw Error(CT_DATA_LOSS, where_ + ": " + what); };
  if (produced_ != entry_.usize) fail("its data is longer than its header says (corrupt)");
  if (entry_.method == 8) {
    if (!ended_) {
      // Everything declared is out; the stream must end here and now.
      const unsigned char* in = reinterpret_cast<const unsigned char*>(archive_->file().data()) + entry_.data_offset;
      unsigned char extra = 0;
      z_.next_in = const_cast<unsigned char*>(in + consumed_);
      z_.avail_in = uInt(std::min<uint64_t>(entry_.csize - consumed_, uint64_t(1) << 30));
      z_.next_out = &extra;
      z_.avail_out = 1;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (z_.avail_out == 0) fail("corrupt compressed data (larger than its declared size: a zip bomb?)");
      if (rc != Z_STREAM_END) fail("corrupt compressed data (truncated)");
      ended_ = true;
    }
    if (z_.total_in != entry_.csize) fail("corrupt compressed data (bytes after the end of its stream)");
  }
  if (crc_ != entry_.crc) fail("CRC-32 mismatch: the file is damaged");
  consumed_ = entry_.csize;
  release_consumed();
}

}  // namespace zip
}  // namespace catena
