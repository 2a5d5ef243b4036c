// Reading regular files only, writing through safe temporaries, locking a run's folder.
#include <catena/error.hpp>
#include <catena/files.hpp>

#include "internal.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

namespace catena {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

// What a non-regular file is, for messages.
std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

std::string dir_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void close_quietly(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace

unsigned file_threads() {
  static const unsigned n = [] {
    cpu_set_t set;
    const unsigned cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? unsigned(CPU_COUNT(&set)) : 1;
    return std::max(1u, std::min(cpus, 8u));
  }();
  return n;
}

// --- Reading ---------------------------------------------------------------------------

InputFile::InputFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO without a writer, or a device that waits, returns at once;
  // fstat then says what it is. A regular file ignores the flag.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd_ < 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) throw Error(CT_NOT_FOUND, path + ": no such file");
    if (e == EACCES || e == EPERM) throw Error(CT_PERMISSION_DENIED, path + ": may not be read (" + errno_text(e) + ")");
    if (e == ENXIO || e == EISDIR) throw Error(CT_INVALID_ARGUMENT, path + " is not a regular file");
    throw Error(CT_PERMISSION_DENIED, path + ": cannot be opened (" + errno_text(e) + ")");
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int e = errno;
    close_quietly(fd_);
    throw Error(CT_PERMISSION_DENIED, path + ": cannot be read (" + errno_text(e) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    close_quietly(fd_);
    fd_ = -1;
    if (S_ISDIR(st.st_mode)) throw Error(CT_INVALID_ARGUMENT, path + " is a directory, not a file");
    throw Error(CT_INVALID_ARGUMENT, path + " is not a regular file (it is " + kind_of(st.st_mode) + ")");
  }
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  size_ = uint64_t(st.st_size);
}

InputFile::~InputFile() { close_quietly(fd_); }

void InputFile::read_at(uint64_t offset, void* dst, size_t n) const {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t got = ::pread(fd_, p, n, off_t(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw Error(CT_DATA_LOSS, path_ + ": read failed (" + errno_text(errno) + ")");
    if (got == 0) throw Error(CT_DATA_LOSS, path_ + ": truncated (the file ends at byte " + std::to_string(offset) + ")");
    p += got, n -= size_t(got), offset += uint64_t(got);
  }
}

std::string InputFile::head(size_t n) const {
  std::string out(size_t(std::min<uint64_t>(n, size_)), '\0');
  if (!out.empty()) read_at(0, &out[0], out.size());
  return out;
}

void check_readable_file(const std::string& path) { InputFile f(path); }

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  InputFile f(path);
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = f.size();
  if (m->size_ == 0) return m;
  void* p = ::mmap(nullptr, size_t(m->size_), PROT_READ, MAP_PRIVATE, f.fd(), 0);
  if (p == MAP_FAILED) throw Error(CT_RESOURCE_EXHAUSTED, path + ": cannot be mapped (" + errno_text(errno) + ")");
  // Arrays are read front to back: read ahead generously.
  ::madvise(p, size_t(m->size_), MADV_SEQUENTIAL);
  m->data_ = static_cast<const char*>(p);
  m->mapped_ = true;
  return m;
}

std::shared_ptr<const MappedFile> MappedFile::of_bytes(std::string bytes, std::string name) {
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = std::move(name);
  m->bytes_ = std::move(bytes);
  m->data_ = m->bytes_.data();
  m->size_ = m->bytes_.size();
  return m;
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<char*>(data_), size_t(size_));
}

void MappedFile::release(uint64_t offset, uint64_t size) const {
  if (!mapped_ || size == 0 || offset >= size_) return;
  static const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
  // Whole pages inside the range only: a page shared with a neighbour may still be read.
  const uint64_t lo = (offset + page - 1) / page * page, hi = std::min(offset + size, size_) / page * page;
  if (hi > lo) ::madvise(const_cast<char*>(data_) + lo, size_t(hi - lo), MADV_DONTNEED);
}

// --- Writing ---------------------------------------------------------------------------

std::string output_target(const std::string& path) {
  std::string at = path;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(at.c_str(), &st) != 0) return at;  // nothing there (yet): made fresh
    if (S_ISREG(st.st_mode)) return at;
    if (!S_ISLNK(st.st_mode)) {
      const std::string what = at == path ? path : path + " (a link to " + at + ")";
      throw Error(CT_INVALID_ARGUMENT, what + " is not a regular file (it is " + kind_of(st.st_mode) +
                                           "); Catena will not replace it: give the path of a file");
    }
    if (hops >= 40) throw Error(CT_INVALID_ARGUMENT, path + ": too many levels of symbolic links");
    std::string link(size_t(st.st_size > 0 ? st.st_size : 255) + 1, '\0');
    ssize_t n = ::readlink(at.c_str(), &link[0], link.size());
    if (n < 0) throw Error(CT_PERMISSION_DENIED, at + ": cannot read the link (" + errno_text(errno) + ")");
    link.resize(size_t(n));
    at = !link.empty() && link[0] == '/' ? link : dir_of(at) + "/" + link;
  }
}

namespace {

// Temporaries are ".<target name>.<pid>.<16 hex digits>.tmp", in the target's folder.
const char* const kTmpSuffix = ".tmp";

std::string random_hex() {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r) {
    static std::atomic<uint64_t> counter{0};
    r = uint64_t(::getpid()) * 0x9e3779b97f4a7c15ull ^ uint64_t(::time(nullptr)) ^ (counter++ << 32) ^
        uint64_t(reinterpret_cast<uintptr_t>(&r));
  }
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(r));
  return b;
}

// The process id in a temporary's name, or 0 when the name is not one.
long temporary_pid(const std::string& name) {
  const size_t n = name.size(), suffix = std::strlen(kTmpSuffix);
  if (n < 1 + 1 + 1 + 16 + suffix || name[0] != '.' || name.compare(n - suffix, suffix, kTmpSuffix) != 0) return 0;
  const size_t hex = n - suffix - 16;
  if (name[hex - 1] != '.') return 0;
  for (size_t i = hex; i < hex + 16; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(name[i]))) return 0;
  size_t dot = name.rfind('.', hex - 2);
  if (dot == std::string::npos || dot == 0 || dot + 1 >= hex - 1) return 0;
  long pid = 0;
  for (size_t i = dot + 1; i < hex - 1; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i])) || pid > 100000000) return 0;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid;
}

// Earlier Catena versions named them "<target>.tmp<pid>": such a name of a file Catena
// writes (an .npz, .h5 or .svg, or the log) gives its pid too.
long legacy_temporary_pid(const std::string& name) {
  const size_t tmp = name.rfind(".tmp");
  if (tmp == std::string::npos || tmp + 4 >= name.size() || name.size() - tmp > 14) return 0;
  long pid = 0;
  for (size_t i = tmp + 4; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return 0;
    pid = pid * 10 + (name[i] - '0');
  }
  const std::string target = name.substr(0, tmp);
  auto ends = [&](const char* ext) {
    const size_t n = std::strlen(ext);
    return target.size() > n && target.compare(target.size() - n, n, ext) == 0;
  };
  return ends(".npz") || ends(".h5") || ends(".svg") || target == "log" ? pid : 0;
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  target_ = output_target(path_);
  const std::string dir = dir_of(target_);
  struct stat existing {};
  const bool exists = ::stat(target_.c_str(), &existing) == 0;
  for (int attempt = 0; fd_ < 0; ++attempt) {
    tmp_ = dir + "/." + base_of(target_) + "." + std::to_string(::getpid()) + "." + random_hex() + kTmpSuffix;
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ >= 0) break;
    const int e = errno;
    if (e == EEXIST && attempt < 16) continue;
    throw Error(CT_PERMISSION_DENIED, "cannot write " + path_ + ": " + errno_text(e) + " (making a temporary in " + dir +
                                          ": does the folder exist, and may it be written?)");
  }
  if (exists) ::fchmod(fd_, existing.st_mode & 07777);
}

AtomicFile::~AtomicFile() {
  close_quietly(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

std::string AtomicFile::fd_path() const { return "/proc/self/fd/" + std::to_string(fd_); }

namespace {
// Written data is handed to the disk in steps of this, as it is written, so that the sync
// before the rename has little left to wait for.
constexpr uint64_t kWritebackStep = uint64_t(64) << 20;
}  // namespace

void AtomicFile::write(const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd_, p, std::min<size_t>(bytes, size_t(kWritebackStep)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(CT_PERMISSION_DENIED, "cannot write " + path_ + ": " + errno_text(errno));
    p += n;
    bytes -= size_t(n);
    written_ += uint64_t(n);
    if (written_ - handed_ >= kWritebackStep) {
      ::sync_file_range(fd_, off_t(handed_), off_t(written_ - handed_), SYNC_FILE_RANGE_WRITE);  // a hint only
      handed_ = written_;
    }
  }
}

void AtomicFile::write_at(uint64_t offset, const void* data, size_t bytes) {
  if (offset > written_ || bytes > written_ - offset)
    throw Error(CT_INTERNAL, "AtomicFile::write_at: bytes [" + std::to_string(offset) + ", +" + std::to_string(bytes) +
                                 ") were never written");
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::pwrite(fd_, p, bytes, off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(CT_PERMISSION_DENIED, "cannot write " + path_ + ": " + errno_text(errno));
    p += n, bytes -= size_t(n), offset += uint64_t(n);
  }
}

void AtomicFile::commit() {
  // The data on disk first, then the rename, then the folder's entry: after a crash at any
  // moment the target holds the old file or the new one, whole.
  if (::fsync(fd_) != 0) throw Error(CT_PERMISSION_DENIED, "cannot write " + path_ + " to disk: " + errno_text(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw Error(CT_PERMISSION_DENIED, "cannot write " + path_ + " to disk: " + errno_text(errno));
  // What is at the target may have changed since the temporary was made.
  output_target(target_);
  if (::rename(tmp_.c_str(), target_.c_str()) != 0)
    throw Error(CT_PERMISSION_DENIED, "cannot move the new " + path_ + " into place: " + errno_text(errno));
  committed_ = true;
  int dfd = ::open(dir_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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

int remove_stale_temporaries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  int removed = 0;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    long pid = temporary_pid(name);
    if (pid == 0) pid = legacy_temporary_pid(name);
    if (pid <= 0 || pid == long(::getpid())) continue;
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to ask)
    struct stat st {};
    const std::string path = dir + "/" + name;
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::unlink(path.c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

// --- Folder locks ----------------------------------------------------------------------

namespace {

struct HeldLock {
  int fd = -1;
  int count = 0;
  pid_t pid = 0;  // a child made by fork inherits the table, not the lock
};

std::mutex& locks_mutex() {
  static std::mutex m;
  return m;
}
std::map<uint64_t, HeldLock>& held_locks() {
  static std::map<uint64_t, HeldLock> m;
  return m;
}

// "process 1234 (catena train --out result)", from the lock file and /proc.
std::string holder(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
  if (pid <= 0) return "another process";
  std::string out = "process " + std::to_string(pid);
  int cmd = ::open(("/proc/" + std::to_string(pid) + "/cmdline").c_str(), O_RDONLY | O_CLOEXEC);
  if (cmd >= 0) {
    char line[256] = {};
    ssize_t got = ::read(cmd, line, sizeof line - 1);
    ::close(cmd);
    for (ssize_t i = 0; i + 1 < got; ++i)
      if (line[i] == '\0') line[i] = ' ';
    if (got > 0) out += " (" + std::string(line, size_t(got) - (line[got - 1] == '\0' ? 1 : 0)) + ")";
  }
  return out;
}

}  // namespace

FolderLock::FolderLock(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    // Made like mkdir -p.
    for (size_t at = 1; at <= dir.size(); ++at)
      if (at == dir.size() || dir[at] == '/') {
        const std::string part = dir.substr(0, at);
        if (::mkdir(part.c_str(), 0777) != 0 && errno != EEXIST)
          throw Error(CT_PERMISSION_DENIED, "cannot make the folder " + part + ": " + errno_text(errno));
      }
    if (::stat(dir.c_str(), &st) != 0)
      throw Error(CT_PERMISSION_DENIED, "cannot make the folder " + dir + ": " + errno_text(errno));
  }
  if (!S_ISDIR(st.st_mode))
    throw Error(CT_INVALID_ARGUMENT, dir + " is not a folder (it is " + kind_of(st.st_mode) + ")");
  key_ = (uint64_t(st.st_dev) << 40) ^ uint64_t(st.st_ino);
  std::lock_guard<std::mutex> g(locks_mutex());
  HeldLock& held = held_locks()[key_];
  if (held.count > 0 && held.pid == ::getpid()) {
    ++held.count;
    return;
  }
  held = HeldLock{};
  const std::string file = dir + "/.catena-lock";
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;
    held_locks().erase(key_);
    throw Error(CT_PERMISSION_DENIED, "cannot write in " + dir + ": " + errno_text(e) +
                                          " (give an --out folder this user may write)");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    const std::string who = holder(fd);
    ::close(fd);
    held_locks().erase(key_);
    if (e == EWOULDBLOCK)
      throw Error(CT_ALREADY_EXISTS, dir + " is in use by " + who +
                                         ", which is writing its results there: give another folder, or wait for it "
                                         "to finish");
    throw Error(CT_PERMISSION_DENIED, "cannot lock " + file + ": " + errno_text(e));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    const int e = errno;
    ::close(fd);
    held_locks().erase(key_);
    throw Error(CT_PERMISSION_DENIED, "cannot write in " + dir + ": " + errno_text(e));
  }
  held.fd = fd;
  held.count = 1;
  held.pid = ::getpid();
}

FolderLock::~FolderLock() {
  std::lock_guard<std::mutex> g(locks_mutex());
  auto it = held_locks().find(key_);
  if (it == held_locks().end() || it->second.pid != ::getpid() || --it->second.count > 0) return;
  // The pid goes first, so a reader never names a process that has let go.
  if (::ftruncate(it->second.fd, 0) != 0) {
  }
  ::close(it->second.fd);
  held_locks().erase(it);
}

}  // namespace catena
