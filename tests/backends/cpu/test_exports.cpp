#include "../../support.hpp"

#include <doctest/doctest.h>

#include <sstream>

TEST_CASE("libcatena-cpu.so exports only its entry point") {
  auto r = catena_test::run_command("nm -D --defined-only " + catena_test::cpu_backend_path());
  REQUIRE(r.status == 0);
  std::istringstream in(r.output);
  std::string line;
  std::vector<std::string> symbols;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string addr, type, name;
    f >> addr >> type >> name;
    if (!name.empty()) symbols.push_back(name);
  }
  INFO(r.output);
  CHECK(symbols == std::vector<std::string>{"ct_plugin_entry"});
}
