// The catena command, run as a user would (child processes with their own environment).
#include "../support.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <thread>

using catena_test::contains;
using catena_test::run_command;

namespace {
std::string tool() { return catena_test::catena_tool(); }
}  // namespace

TEST_CASE("catena --help and every subcommand's --help") {
  auto top = run_command(tool() + " --help");
  CHECK(top.status == 0);
  CHECK(contains(top.output, "devices"));
  CHECK(contains(top.output, "CATENA_PLUGIN_PATH"));
  for (const char* cmd : {"devices", "plugins", "ops", "train", "eval", "compress", "inspect", "convert", "conformance"}) {
    auto r = run_command(tool() + " " + cmd + " --help");
    CHECK(r.status == 0);
    CHECK(contains(r.output, std::string("Usage: catena ") + cmd));
  }
  auto v = run_command(tool() + " --version");
  CHECK(contains(v.output, "ABI 1.0"));
}

TEST_CASE("catena: unknown commands and options are one-line errors") {
  auto r = run_command(tool() + " frobnicate");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "unknown command 'frobnicate'"));
  auto o = run_command(tool() + " devices --bogus");
  CHECK(o.status == 2);
  CHECK(contains(o.output, "--bogus"));
  CHECK(run_command(tool()).status == 2);  // no command: usage, failure
}

TEST_CASE("catena devices lists the cpu with its kernel, and every device") {
  auto r = run_command(tool() + " devices");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "backend cpu  [ready]"));
  CHECK(contains(r.output, "OpenBLAS kernel"));
  CHECK(contains(r.output, "opaque:1"));
  CHECK(contains(r.output, "device-only"));
  CHECK(contains(r.output, "default device: cpu"));
}

TEST_CASE("CATENA_NUM_THREADS and CATENA_SPIN_US: a bad value is reported and the default used") {
  auto good = run_command("CATENA_NUM_THREADS=3 " + tool() + " devices");
  CHECK(contains(good.output, "; 3 threads"));
  CHECK(!contains(good.output, "is not an integer"));
  for (const char* bad : {"abc", "0", "2x", "100000"}) {
    auto r = run_command(std::string("CATENA_NUM_THREADS=") + bad + " " + tool() + " devices");
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(contains(r.output, std::string("CATENA_NUM_THREADS='") + bad + "' is not an integer from 1 to 256; using"));
  }
  auto spin = run_command("CATENA_SPIN_US=-1 " + tool() + " devices");
  INFO(spin.output);
  CHECK(spin.status == 0);
  CHECK(contains(spin.output, "CATENA_SPIN_US='-1' is not an integer from 0 to 100000; using"));
}

TEST_CASE("CATENA_DISABLE switches a backend off, but never the cpu") {
  auto r = run_command("CATENA_DISABLE=opaque,cpu " + tool() + " plugins");
  INFO(r.output);
  CHECK(contains(r.output, "[disabled] opaque"));
  CHECK(contains(r.output, "disabled by CATENA_DISABLE"));
  CHECK(contains(r.output, "[loaded] cpu"));
  CHECK(contains(r.output, "CATENA_DISABLE cannot switch off cpu"));
}

TEST_CASE("CATENA_PLUGINS is an allow-list that fails loudly") {
  auto only = run_command("CATENA_PLUGINS=cpu " + tool() + " plugins");
  CHECK(contains(only.output, "not listed in CATENA_PLUGINS"));
  auto missing = run_command("CATENA_PLUGINS=cuda,opaque " + tool() + " devices");
  INFO(missing.output);
  CHECK(missing.status == 1);
  CHECK(contains(missing.output, "CATENA_PLUGINS asks for backends that did not load: cuda"));
}

TEST_CASE("CATENA_DEVICE chooses the default device; a wrong one lists the real ones") {
  auto ok = run_command("CATENA_DEVICE=opaque:1 " + tool() + " devices");
  CHECK(contains(ok.output, "default device: opaque:1"));
  auto bad = run_command("CATENA_DEVICE=cuda:3 " + tool() + " devices");
  CHECK(bad.status == 1);
  CHECK(contains(bad.output, "\ndefault device: none (CATENA_DEVICE: no device named 'cuda:3'. Devices here: cpu, opaque:0, opaque:1"));
  CHECK(!contains(bad.output, "default device: default device"));  // the line is written once
}

TEST_CASE("relative plugin paths are ignored: the current directory is never searched") {
  auto r = run_command("CATENA_PLUGIN_PATH=relative/dir " + tool() + " plugins");
  CHECK(contains(r.output, "relative path ignored"));
}

TEST_CASE("catena ops: every op and function, native, by fallback or not, per device") {
  auto all = run_command(tool() + " ops");
  INFO(all.output);
  CHECK(all.status == 0);
  CHECK(contains(all.output, "core.conv2d"));
  CHECK(contains(all.output, "convolution_2d"));
  CHECK(contains(all.output, "softmax_cross_entropy"));
  CHECK_FALSE(contains(all.output, "warning"));
  auto one = run_command(tool() + " ops --device opaque:0");
  INFO(one.output);
  CHECK(contains(one.output, "core.add                    native"));
  CHECK(contains(one.output, "core.exp                    fallback  (the opaque test device has no such kernel)"));
  CHECK(contains(one.output, "exp                         fallback  (core.exp"));
  auto cpu = run_command(tool() + " ops --device cpu");
  CHECK_FALSE(contains(cpu.output, "fallback"));
  CHECK_FALSE(contains(cpu.output, " no"));
  auto bad = run_command(tool() + " ops --device nope:1");
  CHECK(bad.status == 1);
  CHECK(contains(bad.output, "no device named 'nope:1'"));
}

TEST_CASE("catena: a FIFO, a directory or a device as a model, snapshot or data set is refused at once") {
  catena_test::TempDir dir;
  catena_test::write_tiny_fashion_mnist(dir.path, 20);
  REQUIRE(mkfifo((dir / "fifo.npz").c_str(), 0644) == 0);
  REQUIRE(mkdir((dir / "folder.npz").c_str(), 0755) == 0);
  // A data set folder whose images file is a FIFO.
  REQUIRE(mkdir((dir / "data").c_str(), 0755) == 0);
  for (const char* f : {"train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"})
    std::filesystem::copy_file(dir / f, dir / ("data/" + std::string(f)));
  REQUIRE(mkfifo((dir / "data/train-images-idx3-ubyte.gz").c_str(), 0644) == 0);
  struct Case {
    std::string path, says;
  };
  for (const Case& c : {Case{dir / "fifo.npz", "is not a regular file (it is a FIFO)"},
                        Case{dir / "folder.npz", "is a directory, not a file"},
                        Case{"/dev/zero", "is not a regular file (it is a character device)"}}) {
    CAPTURE(c.path);
    for (const std::string& args : {"inspect " + c.path, "eval --model " + c.path + " --data " + dir.path,
                                    "convert " + c.path + " " + (dir / "o.npz"),
                                    "train --resume " + c.path + " --data " + dir.path + " --out " + (dir / "r")}) {
      CAPTURE(args);
      auto r = catena_test::run_measured("timeout 20 " + tool() + " " + args);
      CHECK(r.status == 1);
      CHECK(contains(r.output, c.says));
      CHECK(r.seconds < 1.0);
    }
  }
  auto d = catena_test::run_measured("timeout 20 " + tool() + " train --data " + (dir / "data") + " --out " + (dir / "r"));
  CHECK(d.status == 1);
  CHECK(contains(d.output, "train-images-idx3-ubyte.gz is not a regular file (it is a FIFO)"));
  CHECK(d.seconds < 1.0);
}

TEST_CASE("catena train: one run per --out; a folder that cannot be written and a batch larger than the data are "
          "refused before any training") {
  catena_test::TempDir dir;
  catena_test::write_tiny_fashion_mnist(dir.path, 200);
  const std::string out = dir / "out";
  const std::string common = " --data " + dir.path + " --batchsize 20 --unit 16 --no-progress --snapshot-every 0";
  // The first run is long enough that the second starts while it runs.
  FILE* first = popen((tool() + " train --epoch 1000" + common + " --out " + out + " 2>&1").c_str(), "r");
  REQUIRE(first);
  std::string pid;
  for (int i = 0; i < 200 && pid.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pid = catena_test::read_file(out + "/.catena-lock");
  }
  REQUIRE(!pid.empty());
  auto second = run_command(tool() + " train --epoch 1" + common + " --out " + out);
  INFO(second.output);
  CHECK(second.status == 1);
  CHECK(contains(second.output, out + " is in use by process " + pid.substr(0, pid.find('\n'))));
  CHECK(contains(second.output, "catena train"));  // names the other command
  std::string rest;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, first)) > 0) rest.append(buf, n);
  INFO(rest);
  CHECK(pclose(first) == 0);
  CHECK(contains(rest, "wrote " + out + "/log"));
  // What the first left loads.
  auto e = run_command(tool() + " eval --model " + out + "/model.npz --data " + dir.path);
  INFO(e.output);
  CHECK(e.status == 0);
  // Temporaries a killed run left are removed, in one line.
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  const std::string stale = out + "/.model.npz." + std::to_string(gone) + ".0123456789abcdef.tmp";
  catena_test::write_file(stale, "half a file");
  auto again = run_command(tool() + " train --epoch 1" + common + " --out " + out);
  INFO(again.output);
  CHECK(again.status == 0);
  CHECK(contains(again.output, "catena: removed 1 unfinished file in " + out + " that a stopped run was writing"));
  CHECK(!std::filesystem::exists(stale));
  // An --out that is not a folder, and a batch larger than the training set: at once.
  catena_test::write_file(dir / "a-file", "x");
  auto notdir = run_command(tool() + " train --epoch 1" + common + " --out " + (dir / "a-file"));
  CHECK(notdir.status == 1);
  CHECK(contains(notdir.output, dir / "a-file" + " is not a folder"));
  CHECK(!contains(notdir.output, "epoch "));
  auto big = run_command(tool() + " train --epoch 1 --batchsize 1000000 --data " + dir.path + " --out " + (dir / "b"));
  CHECK(big.status == 1);
  CHECK(contains(big.output, "--batchsize 1000000 is more than the 200 examples of the training set"));
}
