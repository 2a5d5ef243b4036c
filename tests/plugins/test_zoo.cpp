// The plugin zoo: each broken plugin gets the right load-report entry, with a message a
// user can act on, and the runtime keeps working with the rest. This binary runs with
// CATENA_PLUGIN_PATH naming the zoo folders (see tests/meson.build).
#include "../support.hpp"

#include <doctest/doctest.h>

using namespace catena;
using catena_test::contains;

namespace {

std::vector<LoadRecord> report() { return runtime().load_report(true); }

LoadRecord find(const std::string& name, const std::string& variant = "", LoadResult* result = nullptr) {
  for (const LoadRecord& r : report())
    if (r.name == name && r.variant == variant && (!result || r.result == *result)) return r;
  FAIL("no load record for " << name);
  return {};
}

}  // namespace

TEST_CASE("zoo: a plugin of another ABI major is refused before anything else is read") {
  LoadRecord r = find("wrongmajor");
  CHECK(r.result == LoadResult::abi_mismatch);
  CHECK(contains(r.message, "plugin ABI 2.0, runtime ABI 1.0"));
  CHECK(contains(r.hint, "upgrade Catena"));
}

TEST_CASE("zoo: a newer minor that accepts this host loads, and its extra fields are ignored") {
  LoadRecord r = find("newerminor");
  CHECK(r.result == LoadResult::loaded);
  CHECK(r.abi_minor == CT_ABI_MINOR + 1);
  CHECK(contains(r.message, "newer fields are ignored"));
  Device& d = device("newerminor:0");
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{3}, d);
  CHECK(ops::mul(x, x).to_vector<float>() == std::vector<float>{1, 4, 9});  // all by fallback
  CHECK(d.fallback_counts()["core.mul"] == 1);
}

TEST_CASE("zoo: a newer minor that needs a newer host is refused, saying which") {
  LoadRecord r = find("needsnewer");
  CHECK(r.result == LoadResult::needs_newer_host);
  CHECK(contains(r.message, "needs a runtime of ABI 1." + std::to_string(CT_ABI_MINOR + 1) + " or later"));
  CHECK(contains(r.hint, "upgrade Catena"));
}

TEST_CASE("zoo: a plugin with a shorter (older-minor) table loads; missing slots mean 'not provided'") {
  LoadRecord r = find("olderminor");
  CHECK(r.result == LoadResult::loaded);
  Tensor x = Tensor::from_vector(std::vector<float>{4}, Shape{1}, device("olderminor:0"));
  CHECK(ops::sqrt(x).to_vector<float>() == std::vector<float>{2});
}

TEST_CASE("zoo: a library without the entry symbol") {
  LoadRecord r = find("noentry");
  CHECK(r.result == LoadResult::missing_symbol);
  CHECK(contains(r.message, "does not export ct_plugin_entry"));
}

TEST_CASE("zoo: init failure is reported with the plugin's own message") {
  LoadRecord r = find("initfails");
  CHECK(r.result == LoadResult::init_failed);
  CHECK(contains(r.message, "init failed: the Zoo accelerator's firmware is not loaded"));
  CHECK(contains(r.hint, "CATENA_DISABLE=initfails"));
  CHECK_THROWS_WITH_AS(device("initfails:0"), doctest::Contains("firmware is not loaded"), Error);
}

TEST_CASE("zoo: a missing dependency is named") {
  LoadRecord r = find("missingdep");
  CHECK(r.result == LoadResult::dlopen_failed);
  CHECK(r.missing_dependency == "libcatena-zoo-absent.so.1");
  CHECK(contains(r.hint, "install the package that provides libcatena-zoo-absent.so.1"));
}

TEST_CASE("zoo: a file that is not a library") {
  LoadRecord r = find("notalib");
  CHECK(r.result == LoadResult::dlopen_failed);
  CHECK(r.message == "not a shared library");
  CHECK(contains(r.os_error, "libcatena-notalib.so"));
}

TEST_CASE("zoo: two plugins with the same name: the first found wins, the second is shadowed") {
  std::vector<LoadRecord> twins;
  for (const LoadRecord& r : report())
    if (r.name == "twin") twins.push_back(r);
  REQUIRE(twins.size() == 2);
  CHECK(twins[0].result == LoadResult::loaded);
  CHECK(twins[1].result == LoadResult::shadowed);
  CHECK(contains(twins[1].message, "shadowed by " + twins[0].path));
}

TEST_CASE("zoo: a probe that returns 0 skips the plugin with its reason") {
  LoadRecord r = find("probezero");
  CHECK(r.result == LoadResult::probe_zero);
  CHECK(r.probe_score == 0);
  CHECK(contains(r.message, "no Zoo X1 card on the PCI bus"));
}

TEST_CASE("zoo: among variants of one plugin the best probe wins") {
  CHECK(find("variant", "avx512").result == LoadResult::loaded);
  LoadRecord g = find("variant", "generic");
  CHECK(g.result == LoadResult::shadowed);
  CHECK(contains(g.message, "scored higher"));
}

TEST_CASE("zoo: a table whose name disagrees with its file is refused") {
  LoadRecord r = find("misnamed");
  CHECK(r.result == LoadResult::bad_table);
  CHECK(contains(r.hint, "libcatena-othername.so"));
}

TEST_CASE("zoo: with all that, the runtime still runs on the CPU") {
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2}, Shape{2}, runtime().cpu());
  CHECK(ops::add(a, a).to_vector<float>() == std::vector<float>{2, 4});
  CHECK(&runtime().default_device() == &runtime().cpu());
}

TEST_CASE("zoo: `catena plugins` prints every reason") {
  auto r = catena_test::run_command(catena_test::catena_tool() + " plugins");
  INFO(r.output);
  CHECK(r.status == 0);
  for (const char* s : {"[ABI mismatch] wrongmajor", "[needs newer host] needsnewer", "[missing symbol] noentry",
                        "[init failed] initfails", "[dlopen failed] missingdep", "missing:  libcatena-zoo-absent.so.1",
                        "[dlopen failed] notalib", "[shadowed] twin", "[probe 0] probezero", "[loaded] newerminor",
                        "[bad table] misnamed", "[loaded] cpu"})
    CHECK(contains(r.output, s));
}
