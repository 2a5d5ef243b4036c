// Files as Catena reads and writes them (catena/files.hpp): only regular files are read,
// and never waited on; writes go through fresh temporaries that follow nothing planted;
// what is not a regular file is never replaced; a folder is locked for one run.
#include "../support.hpp"

#include <catena/files.hpp>
#include <catena/serializers.hpp>

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <thread>

using namespace catena;
using catena_test::contains;
using catena_test::error_of;
using catena_test::TempDir;

namespace {

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

KeyStore small_store() {
  KeyStore k;
  k.put("a", Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{3}, runtime().cpu()));
  return k;
}

}  // namespace

TEST_CASE("files: a FIFO, a directory, a device or a missing path is refused at once, never waited on") {
  TempDir dir;
  REQUIRE(mkfifo((dir / "fifo").c_str(), 0644) == 0);
  REQUIRE(mkdir((dir / "folder").c_str(), 0755) == 0);
  struct Case {
    std::string path, says;
  };
  for (const Case& c : {Case{dir / "fifo", "is not a regular file (it is a FIFO)"},
                        Case{dir / "folder", "is a directory, not a file"},
                        Case{"/dev/zero", "is not a regular file (it is a character device)"},
                        Case{dir / "missing", "no such file"}}) {
    CAPTURE(c.path);
    std::string err;
    // No reader may block: a FIFO without a writer would wait forever.
    CHECK(seconds_of([&] { err = error_of([&] { InputFile f(c.path); }); }) < 1.0);
    CHECK(contains(err, c.path));
    CHECK(contains(err, c.says));
    CHECK(contains(error_of([&] { read_keys(c.path, "npz"); }), c.says));
    CHECK(contains(error_of([&] { read_keys(c.path); }), c.says));
    CHECK(contains(error_of([&] { read_keys(c.path, "hdf5"); }), c.says));
  }
}

TEST_CASE("files: an output that is not a regular file is refused and left as it was") {
  TempDir dir;
  REQUIRE(mkfifo((dir / "fifo.npz").c_str(), 0644) == 0);
  REQUIRE(mkdir((dir / "folder.npz").c_str(), 0755) == 0);
  std::vector<std::string> outputs = {dir / "fifo.npz", dir / "folder.npz"};
  // A character device (what /dev/null is), where the test may make one.
  if (mknod((dir / "device.npz").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) outputs.push_back(dir / "device.npz");
  else MESSAGE("not root: the character-device case is not run");
  // A symbolic link to a FIFO: the link names what would be replaced.
  REQUIRE(symlink((dir / "fifo.npz").c_str(), (dir / "link.npz").c_str()) == 0);
  outputs.push_back(dir / "link.npz");
  for (const std::string& out : outputs) {
    CAPTURE(out);
    struct stat before {}, after {};
    REQUIRE(lstat(out.c_str(), &before) == 0);
    for (const char* format : {"npz", "hdf5"}) {
      std::string err = error_of([&] { write_keys(out, small_store(), format); });
      CHECK(contains(err, "is not a regular file"));
      CHECK(contains(err, "Catena will not replace it"));
      REQUIRE(lstat(out.c_str(), &after) == 0);
      CHECK(after.st_mode == before.st_mode);
      CHECK(after.st_ino == before.st_ino);
      CHECK(after.st_rdev == before.st_rdev);
    }
  }
  // Nothing was left behind in the folder.
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path)) entries += e.path().filename().string()[0] == '.';
  CHECK(entries == 0);
}

TEST_CASE("files: a symbolic link planted where a write puts its temporary is never followed") {
  TempDir dir;
  catena_test::write_file(dir / "precious.txt", "precious");
  // What earlier versions used as the temporary ("<target>.tmp<pid>"), for this process
  // and its neighbours; and names in the new pattern, for good measure.
  for (long pid = long(getpid()) - 2; pid <= long(getpid()) + 2; ++pid) {
    symlink((dir / "precious.txt").c_str(), (dir / ("victim.npz.tmp" + std::to_string(pid))).c_str());
    symlink((dir / "precious.txt").c_str(), (dir / ("victim.h5.tmp" + std::to_string(pid))).c_str());
    symlink((dir / "precious.txt").c_str(),
            (dir / (".victim.npz." + std::to_string(pid) + ".0000000000000000.tmp")).c_str());
  }
  write_keys(dir / "victim.npz", small_store());
  write_keys(dir / "victim.h5", small_store());
  write_file_atomic(dir / "victim.txt", "text");
  CHECK(catena_test::read_file(dir / "precious.txt") == "precious");
  CHECK(read_keys(dir / "victim.npz").find("a")->to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(read_keys(dir / "victim.h5").find("a")->to_vector<float>() == std::vector<float>{1, 2, 3});
}

TEST_CASE("files: an output that is a symbolic link has the file it names replaced, in that file's folder") {
  TempDir dir;
  REQUIRE(mkdir((dir / "real").c_str(), 0755) == 0);
  catena_test::write_file(dir / "real/model.npz", "old");
  chmod((dir / "real/model.npz").c_str(), 0640);
  REQUIRE(symlink("real/model.npz", (dir / "link.npz").c_str()) == 0);
  write_keys(dir / "link.npz", small_store());
  struct stat st {};
  REQUIRE(lstat((dir / "link.npz").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));  // still the link
  REQUIRE(stat((dir / "real/model.npz").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);  // the permission bits the file had
  CHECK(read_keys(dir / "real/model.npz").find("a")->to_vector<float>() == std::vector<float>{1, 2, 3});
  // A dangling link: the file it names is made.
  REQUIRE(symlink("real/new.npz", (dir / "dangling.npz").c_str()) == 0);
  write_keys(dir / "dangling.npz", small_store());
  CHECK(read_keys(dir / "real/new.npz").size() == 1);
}

TEST_CASE("files: a write that fails leaves the target as it was and no temporary") {
  TempDir dir;
  write_file_atomic(dir / "keep.npz", "old");
  {
    AtomicFile f(dir / "keep.npz");
    f.write("new", 3);
  }  // no commit: as when an exception unwinds the writer
  CHECK(catena_test::read_file(dir / "keep.npz") == "old");
  int others = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path)) others += e.path().filename() != "keep.npz";
  CHECK(others == 0);
  // An unsavable key fails the write the same way.
  KeyStore bad;
  bad.put("x", Tensor::zeros(Shape{2}, bfloat16, runtime().cpu()));
  CHECK(contains(error_of([&] { write_keys(dir / "keep.npz", bad); }), "numpy has no dtype for bfloat16"));
  CHECK(catena_test::read_file(dir / "keep.npz") == "old");
}

TEST_CASE("files: temporaries of processes that died are removed; those of live ones are kept") {
  TempDir dir;
  // A process that certainly does not exist now: a child that has exited and been reaped.
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  const std::string dead = ".model.npz." + std::to_string(gone) + ".0123456789abcdef.tmp";
  const std::string old_style = "snapshot_epoch_1.npz.tmp" + std::to_string(gone);
  const std::string alive = ".model.npz." + std::to_string(getpid()) + ".0123456789abcdef.tmp";
  for (const std::string& name : {dead, old_style, alive, std::string("notes.tmp1"), std::string("model.npz")})
    catena_test::write_file(dir / name, "x");
  CHECK(remove_stale_temporaries(dir.path) == 2);
  CHECK(!std::filesystem::exists(dir / dead));
  CHECK(!std::filesystem::exists(dir / old_style));
  CHECK(std::filesystem::exists(dir / alive));
  CHECK(std::filesystem::exists(dir / "notes.tmp1"));  // not a name Catena writes
  CHECK(std::filesystem::exists(dir / "model.npz"));
}

TEST_CASE("files: a folder lock is refused to another process, naming the holder, and taken again by its own") {
  TempDir dir;
  const std::string out = dir / "out/nested";
  int ready[2], done[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(done) == 0);
  pid_t holder = fork();
  if (holder == 0) {
    {
      FolderLock lock(out);
      char c = 1;
      if (write(ready[1], &c, 1) != 1) _exit(1);
      if (read(done[0], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  std::string err = error_of([&] { FolderLock mine(out); });
  CHECK(contains(err, out + " is in use by process " + std::to_string(holder)));
  CHECK(contains(err, "give another folder, or wait for it to finish"));
  REQUIRE(write(done[1], &c, 1) == 1);
  waitpid(holder, nullptr, 0);
  // Free again; and a process may take its own folder twice (a command, then its Trainer).
  FolderLock first(out);
  { FolderLock second(out); }
  pid_t other = fork();
  if (other == 0) {
    try {
      FolderLock lock(out);
    } catch (const Error&) {
      _exit(3);  // refused: the first lock still holds after the second is let go
    }
    _exit(0);
  }
  int status = 0;
  waitpid(other, &status, 0);
  CHECK(WEXITSTATUS(status) == 3);
  // A folder that may not be written is found out at once.
  if (geteuid() != 0) {
    REQUIRE(mkdir((dir / "ro").c_str(), 0555) == 0);
    CHECK(contains(error_of([&] { FolderLock lock(dir / "ro"); }), "cannot write in"));
  }
  CHECK(contains(error_of([&] { FolderLock lock("/dev/null"); }), "is not a folder"));
}
