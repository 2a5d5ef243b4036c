// Zip archives as npz files use them, read without trusting any field: the central
// directory is checked against the end records, every entry's local header against its
// directory record, entries against each other (no overlap) and against the file, and an
// entry's bytes are streamed (stored or deflated, zip64 included) with their CRC-32 and
// size checked at the end. Errors are catena::Error naming the file and the entry.
#pragma once

#include <catena/files.hpp>

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace catena {
namespace zip {

// Sync points: Catena's writer flushes the compressor whole (Z_FULL_FLUSH) every few MiB
// of a large deflated entry and lists where, in an extra field of the entry's central
// directory record (id kSyncExtraId: a version byte, 1, then pairs of u64 compressed and
// uncompressed offsets). From each such point the stream inflates without what came
// before, so cores can share one array. Other readers skip the field; Catena uses it only
// as a shortcut, checked like the rest (a table that does not fit the stream is ignored).
constexpr uint16_t kSyncExtraId = 0x4354;  // "TC"
constexpr uint64_t kSyncFrom = uint64_t(32) << 20;  // entries at least this large get them
constexpr uint64_t kSyncStep = uint64_t(4) << 20;   // at least this far apart
constexpr uint64_t kMaxSyncPoints = 4000;          // what one extra field holds

struct Entry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated
  uint16_t flags = 0;
  uint32_t crc = 0;
  uint64_t csize = 0, usize = 0;
  uint64_t header_offset = 0;  // the local header
  uint64_t data_offset = 0;    // the stored or deflated bytes
  std::vector<std::pair<uint64_t, uint64_t>> sync;  // (compressed, uncompressed) offsets
};

class Archive {
 public:
  // Reads and checks the directory and every local header (no entry's data is read).
  explicit Archive(std::shared_ptr<const MappedFile> file);
  const std::vector<Entry>& entries() const { return entries_; }
  const MappedFile& file() const { return *file_; }
  const std::string& path() const { return file_->path(); }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<Entry> entries_;
};

// An entry's uncompressed bytes, in order. finish() checks that they are all there, no
// more, and that their CRC-32 is the directory's; read() and finish() throw CT_DATA_LOSS
// naming `where` otherwise. Pages of the file already read are given back as it goes.
// The zip CRC-32 of `n` more bytes after `crc` (0 to start): libdeflate's, which folds
// with carry-less multiplication (about 14 GB/s here against zlib's 6), where the build has
// it; zlib's otherwise.
uint32_t crc32_update(uint32_t crc, const void* data, size_t n);
// The same over a large buffer on every core at once (the pieces joined by crc32_combine).
uint32_t crc32_of(uint32_t crc, const void* data, uint64_t n);

// Inflates a deflated entry with sync points on several threads: its bytes from `skip`
// on into `dst`, CRC-32 and sizes checked. False when that could not be done (no table, a
// table that does not fit, damage): the caller then reads it with an EntryReader, which
// says what is wrong.
bool inflate_parallel(const Archive& archive, const Entry& entry, uint64_t skip, void* dst);

class EntryReader {
 public:
  EntryReader(std::shared_ptr<const Archive> archive, const Entry& entry, std::string where);
  ~EntryReader();
  EntryReader(const EntryReader&) = delete;
  EntryReader& operator=(const EntryReader&) = delete;
  // Exactly n more bytes into dst.
  void read(void* dst, uint64_t n);
  // n more bytes, checked and thrown away.
  void skip(uint64_t n);
  uint64_t position() const { return produced_; }
  void finish();

 private:
  void release_consumed();
  void read_stored_parallel(unsigned char* out, const unsigned char* in, uint64_t n);
  std::shared_ptr<const Archive> archive_;
  const Entry& entry_;
  std::string where_;
  uint64_t produced_ = 0, consumed_ = 0, released_ = 0;
  uint32_t crc_ = 0;
  z_stream z_{};
  bool inflating_ = false, ended_ = false;
};

}  // namespace zip
}  // namespace catena
