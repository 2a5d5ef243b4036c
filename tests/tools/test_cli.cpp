// The catena command, run as a user would (child processes with their own environment).
#include "../support.hpp"

#include <doctest/doctest.h>

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
  for (const char* cmd : {"devices", "plugins", "ops", "train"}) {
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
