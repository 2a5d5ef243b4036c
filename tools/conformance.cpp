// `catena conformance`: a device checked against the cpu backend, op by op and function by
// function (catena/conformance.hpp).
#include <catena/conformance.hpp>
#include <catena/error.hpp>
#include <catena/files.hpp>

#include "commands.hpp"

#include <cstdio>
#include <iostream>

namespace po = boost::program_options;

namespace catena_tool {

int cmd_conformance(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  opts.add_options()("device,d", po::value<std::string>(), "the device to check: opencl:0, cuda:0, ...")(
      "ops", po::value<std::string>()->default_value("*"),
      "only the ops and functions matching these globs (comma-separated): 'core.conv*', 'optim.*', 'F.relu'")(
      "json", po::value<std::string>(), "also write every row to this file, as JSON")(
      "no-gradients", "skip the functions' gradient checks")("no-large", "skip the large sizes (about a million elements)")(
      "quiet,q", "print failed rows and the summary only");
  po::variables_map vm;
  if (!parse("conformance",
             "Check a device against the cpu backend. Every op of api/OPS.md the device claims (supports_op) is run\n"
             "on the same random inputs on both, for every dtype OPS.md allows, with contiguous, strided, broadcast\n"
             "and offset inputs and sizes 0, 1, odd and large, and the results compared; then every differentiable\n"
             "function's first- and second-order gradient checks run on the device (what it declines falls back to\n"
             "the cpu, counted). One row per case: passed; failed, with the largest error and the tolerance; or\n"
             "declined, with the backend's reason. Exits 1 when any case failed.\n"
             "Example: catena conformance --device opencl:0 --ops 'core.conv*' --json report.json",
             opts, args, vm))
    return 0;
  if (!vm.count("device"))
    throw catena::Error(CT_INVALID_ARGUMENT, "give the device to check: catena conformance --device NAME (see catena devices)");
  catena::conformance::Options o;
  o.device = vm["device"].as<std::string>();
  o.ops = vm["ops"].as<std::string>();
  o.gradients = !vm.count("no-gradients");
  o.large = !vm.count("no-large");
  const bool quiet = vm.count("quiet") > 0;
  std::string json;
  if (vm.count("json")) json = catena::output_target(vm["json"].as<std::string>());  // refused before the run
  auto print = [&](const catena::conformance::Row& r) {
    using catena::conformance::Outcome;
    if (quiet && r.outcome != Outcome::failed) return;
    std::string line = std::string(catena::conformance::to_string(r.outcome)) + "  " + r.op + "  " + r.dtype + "  " + r.variant;
    if (r.outcome == Outcome::failed && r.max_error > 0) {
      char m[96];
      std::snprintf(m, sizeof m, "  (largest error %.3g, tolerance %.3g)", r.max_error, r.tolerance);
      line += m;
    }
    if (!r.detail.empty()) line += "  " + r.detail;
    std::cout << line << "\n" << std::flush;
  };
  const catena::conformance::Summary s = catena::conformance::run(o, print);
  std::cout << s.passed << " passed, " << s.failed << " failed, " << s.declined << " declined on " << o.device;
  size_t gradient_rows = 0;
  for (const auto& r : s.rows) gradient_rows += r.op.rfind("F.", 0) == 0;
  if (gradient_rows) std::cout << " (" << s.fallbacks << " ops fell back to the cpu in the gradient checks)";
  std::cout << "\n";
  if (!json.empty()) {
    catena::write_file_atomic(json, catena::conformance::to_json(o, s));
    std::cout << "wrote " << json << "\n";
  }
  if (s.passed + s.failed + s.declined == 0)
    throw catena::Error(CT_INVALID_ARGUMENT, "--ops '" + o.ops + "' matches no op or function; see catena ops");
  return s.failed ? 1 : 0;
}

}  // namespace catena_tool
