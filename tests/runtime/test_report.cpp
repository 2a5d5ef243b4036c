#include "../support.hpp"

#include <doctest/doctest.h>

using namespace catena;

TEST_CASE("the load report lists the cpu backend beside libcatena and the test backend from CATENA_PLUGIN_PATH") {
  std::vector<LoadRecord> report = runtime().load_report(true);
  const LoadRecord* cpu = nullptr;
  const LoadRecord* opaque = nullptr;
  for (const LoadRecord& r : report) {
    if (r.name == "cpu" && r.result == LoadResult::loaded) cpu = &r;
    if (r.name == "opaque" && r.result == LoadResult::loaded) opaque = &r;
  }
  REQUIRE(cpu);
  REQUIRE(opaque);
  CHECK(cpu->found_by == "beside libcatena");
  CHECK(cpu->initialised);
  CHECK(cpu->has_version);
  CHECK(cpu->abi_major == CT_ABI_MAJOR);
  CHECK(cpu->kind == "backend");
  CHECK(opaque->found_by == "CATENA_PLUGIN_PATH");
  CHECK(opaque->initialised);
}

TEST_CASE("load_plugin refuses a second plugin of a loaded name and a badly named file") {
  CHECK_THROWS_WITH_AS(runtime().load_plugin(catena_test::cpu_backend_path()),
                       doctest::Contains("already loaded"), Error);
  CHECK_THROWS_WITH_AS(runtime().load_plugin("/tmp/not-a-plugin.so"), doctest::Contains("libcatena-<name>"), Error);
  CHECK_THROWS_WITH_AS(set_plugin_paths({"/tmp"}), doctest::Contains("already started"), Error);
}

TEST_CASE("the cpu device reports its OpenBLAS kernel") {
  Device& cpu = runtime().cpu();
  CHECK(cpu.name() == "cpu");
  CHECK(&device("cpu:0") == &cpu);
  CHECK(catena_test::contains(cpu.description(), "OpenBLAS kernel"));
  CHECK(cpu.host_addressable());
  CHECK(cpu.memory_total() > 0);
}
