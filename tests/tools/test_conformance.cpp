// The conformance kit, as a vendor runs it: `catena conformance` on the opaque test
// backend (a few float32 kernels, memory the host cannot address): what it implements
// passes, the rest is declined with its reason, a kernel with a bug fails, naming the
// case and the error; the JSON report holds every row.
#include "../support.hpp"

#include <catena/conformance.hpp>

#include <doctest/doctest.h>

using catena_test::contains;
using catena_test::run_command;

namespace {
std::string tool() { return catena_test::catena_tool(); }
}  // namespace

TEST_CASE("conformance: the opaque backend passes what it implements and declines the rest, with reasons") {
  catena_test::TempDir dir;
  auto r = run_command(tool() + " conformance --device opaque:0 --no-large --json " + dir / "report.json");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "passed  core.add  float32  contiguous (3, 5, 7)"));
  CHECK(contains(r.output, "passed  core.mul  float32  offset (3, 5, 7)"));
  CHECK(contains(r.output, "declined  core.add  float32  strided (3, 5, 7)  only contiguous float32 operands"));
  CHECK(contains(r.output, "declined  core.exp  float32  contiguous (3, 5, 7)  the opaque test device has no such kernel"));
  CHECK(contains(r.output, "passed  F.relu  float32  backward"));
  CHECK(contains(r.output, "passed  F.linear  float32  double backward"));
  CHECK(contains(r.output, " 0 failed, "));
  CHECK(contains(r.output, "declined on opaque:0 ("));
  CHECK(contains(r.output, "ops fell back to the cpu in the gradient checks)"));
  const std::string json = catena_test::read_file(dir / "report.json");
  CHECK(contains(json, "\"device\": \"opaque:0\""));
  CHECK(contains(json, "\"failed\": 0,"));
  CHECK(contains(json, "{\"op\": \"core.add\", \"dtype\": \"float32\", \"variant\": \"contiguous (3, 5, 7)\", \"outcome\": \"passed\""));
}

TEST_CASE("conformance: a kernel with a bug fails, with the case, the largest error and the tolerance; exit 1") {
  auto r = run_command("CATENA_OPAQUE_BROKEN_MUL=1 " + tool() + " conformance --device opaque:0 --no-large --ops 'core.mul,core.add' -q");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "failed  core.mul  float32  contiguous (3, 5, 7)  (largest error "));
  CHECK(contains(r.output, ", tolerance 1e-05)  output 0 element 104: cpu "));
  CHECK(!contains(r.output, "failed  core.add"));
  CHECK(contains(r.output, "3 failed"));
}

TEST_CASE("conformance: a device that does not exist, a pattern that matches nothing, no device given") {
  auto none = run_command(tool() + " conformance --device tpu:0");
  CHECK(none.status == 1);
  CHECK(contains(none.output, "no device named 'tpu:0'. Devices here: cpu"));
  auto nothing = run_command(tool() + " conformance --device cpu --ops 'core.nonesuch*'");
  CHECK(nothing.status == 1);
  CHECK(contains(nothing.output, "--ops 'core.nonesuch*' matches no op or function"));
  auto missing = run_command(tool() + " conformance");
  CHECK(missing.status == 1);
  CHECK(contains(missing.output, "give the device to check"));
}

TEST_CASE("conformance: the cpu backend against itself, every case and the gradient checks of every function") {
  catena::conformance::Options o;
  o.device = "cpu";
  o.large = false;
  const catena::conformance::Summary s = catena::conformance::run(o);
  CHECK(s.failed == 0);
  for (const auto& row : s.rows) {
    CAPTURE(row.op + " " + row.dtype + " " + row.variant + ": " + row.detail);
    if (row.outcome == catena::conformance::Outcome::failed) FAIL_CHECK("failed");
    // The cpu declines only non-dense optimizer operands (OPS.md allows that).
    if (row.outcome == catena::conformance::Outcome::declined) CHECK(row.detail == "needs a dense gradient");
  }
  CHECK(s.passed > 3000);
}
