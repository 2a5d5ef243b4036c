// Files as Catena reads and writes them. Every file read may be damaged or hostile, and
// every folder written may be one that others can write:
//
// - Inputs must be regular files. Opening never blocks: a FIFO, socket, device or
//   folder given as a file is refused at once, with what it is.
// - Outputs go to a fresh temporary beside the target, made with O_CREAT|O_EXCL|O_NOFOLLOW
//   under a name nobody can predict, written, synced, and renamed over the target, so a
//   reader or a crash sees the old file or the new one, and nothing planted at a name is
//   ever followed. A target that exists and is not a regular file is refused; a target
//   that is a symbolic link has the file it names replaced, in that file's folder.
// - A folder one training run writes is locked for that run (FolderLock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace catena {

// A regular file open for reading. Throws catena::Error: CT_NOT_FOUND when it does not
// exist, CT_PERMISSION_DENIED when it may not be read, CT_INVALID_ARGUMENT when it is not a
// regular file ("is a directory", "is not a regular file (a FIFO)").
class InputFile {
 public:
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  // Exactly `n` bytes at `offset`; CT_DATA_LOSS when the file ends first.
  void read_at(uint64_t offset, void* dst, size_t n) const;
  // The file's first bytes (fewer when it is shorter).
  std::string head(size_t n) const;
  // A path that opens this very file ("/proc/self/fd/N"), for libraries that open files by
  // name: what they open is what was checked, whatever happens to the name meanwhile.
  std::string fd_path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The bytes of a file, mapped read-only (pages are read as they are touched), or bytes
// already in memory. Shared by everything read from it; unmapped with the last owner.
class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  static std::shared_ptr<const MappedFile> of_bytes(std::string bytes, std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const char* data() const { return data_; }
  uint64_t size() const { return size_; }
  // Gives the pages of [offset, offset + size) back to the system once read (they stay in
  // the page cache), so streaming a large file through costs no more memory than a chunk.
  void release(uint64_t offset, uint64_t size) const;

 private:
  MappedFile() = default;
  std::string path_;
  const char* data_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;
  std::string bytes_;
};

// Throws as InputFile does unless `path` is a regular file that may be read.
void check_readable_file(const std::string& path);

// Where a write to `path` lands: `path`, or the file a symbolic link there names
// (followed to the end). Throws CT_INVALID_ARGUMENT when that exists and is not a regular
// file ("is not a regular file; Catena will not replace it").
std::string output_target(const std::string& path);

// A file written whole or not at all: write() pieces, then commit(). Without commit() (an
// error, an exception) the temporary is removed and the target is untouched. An existing
// target keeps its permission bits.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t bytes);
  // Overwrites bytes already written (a header whose sizes are known only afterwards).
  void write_at(uint64_t offset, const void* data, size_t bytes);
  uint64_t written() const { return written_; }
  // The temporary's descriptor, for writers that write through a path of their own
  // (fd_path()) or position themselves (pwrite).
  int fd() const { return fd_; }
  // A path that opens this very temporary ("/proc/self/fd/N"), whatever happens to its
  // name meanwhile.
  std::string fd_path() const;
  // Syncs the data, renames the temporary over the target, syncs the folder.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, target_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0, handed_ = 0;  // handed_: bytes already handed to the disk
  bool committed_ = false;
};

// Writes `bytes` to `path` through an AtomicFile.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Removes the temporaries AtomicFile left in `dir` (a process killed mid-write) whose
// process no longer exists. Returns how many were removed.
int remove_stale_temporaries(const std::string& dir);

// An exclusive lock on a folder for one run that writes into it: the folder is made when
// missing and must be writable; `<dir>/.catena-lock` is locked (flock) and holds this
// process's id. A folder locked by another process is refused at once (CT_ALREADY_EXISTS),
// naming that process. Locks are counted per process: a process may take the same folder
// again (a command, then its Trainer); the lock goes with the last holder.
class FolderLock {
 public:
  explicit FolderLock(const std::string& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  uint64_t key_ = 0;
};

}  // namespace catena
