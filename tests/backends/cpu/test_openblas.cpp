// How the CPU backend chooses OpenBLAS's kernel. The choice logic is unit-tested on
// made-up feature sets; the whole path is tested in child processes, because OpenBLAS
// picks its kernel once per process.
#include "../../support.hpp"

#include "../../../backends/cpu/openblas.hpp"

#include <doctest/doctest.h>

using catena_cpu::choose_coretype;
using catena_cpu::CpuFeatures;
using catena_test::contains;
using catena_test::run_command;

TEST_CASE("the kernel requested never needs instructions the CPU lacks") {
  CpuFeatures none;
  CHECK(std::string(choose_coretype(none)) == "");  // OpenBLAS's own detection
  CpuFeatures hsw;
  hsw.avx2 = hsw.fma = true;
  CHECK(std::string(choose_coretype(hsw)) == "Haswell");
  CpuFeatures skx = hsw;
  skx.avx512f = skx.avx512vl = skx.avx512bw = skx.avx512dq = skx.avx512cd = true;
  CHECK(std::string(choose_coretype(skx)) == "SkylakeX");
  CpuFeatures cpx = skx;
  cpx.avx512bf16 = true;
  CHECK(std::string(choose_coretype(cpx)) == "Cooperlake");
  CpuFeatures partial = hsw;
  partial.avx512f = true;  // AVX-512 foundation alone (e.g. Knights Landing) is not SkylakeX
  CHECK(std::string(choose_coretype(partial)) == "Haswell");
  CpuFeatures no_fma;
  no_fma.avx2 = true;
  CHECK(std::string(choose_coretype(no_fma)) == "");
}

TEST_CASE("on this CPU the backend loads OpenBLAS with the kernel its features call for") {
  std::string want = choose_coretype(catena_cpu::detect_cpu_features());
  auto r = run_command("env -u OPENBLAS_CORETYPE " + catena_test::catena_tool() + " devices");
  CHECK(r.status == 0);
  INFO(r.output);
  if (!want.empty()) {
    CHECK(contains(r.output, "OpenBLAS kernel " + want + " (chosen by Catena from the CPU's features"));
  } else {
    CHECK(contains(r.output, "OpenBLAS's own CPU detection"));
  }
}

TEST_CASE("an OPENBLAS_CORETYPE set by the user is respected") {
  // Prescott (SSE3) runs on every x86-64 CPU, so forcing it is always safe.
  auto r = run_command("OPENBLAS_CORETYPE=Prescott " + catena_test::catena_tool() + " devices");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "OpenBLAS kernel Prescott (OPENBLAS_CORETYPE=Prescott from the environment (respected))"));
}

TEST_CASE("an OpenBLAS loaded by someone else first is reported as such") {
  auto r = run_command("LD_PRELOAD=libopenblas.so.0 " + catena_test::catena_tool() + " devices");
  INFO(r.output);
  if (contains(r.output, "ASan runtime does not come first")) {
    MESSAGE("not checked in a sanitizer build: AddressSanitizer must be the first preloaded library");
    return;
  }
  CHECK(r.status == 0);
  CHECK(contains(r.output, "already loaded by the process before Catena"));
}
