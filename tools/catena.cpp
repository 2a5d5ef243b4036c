// The `catena` command: devices, plugins, and (as the project grows) train, eval, ...
#include <catena/runtime.hpp>

#include <boost/program_options.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace po = boost::program_options;

namespace {

const char* kUsage =
    "Usage: catena [--help] [--version] <command> [options]\n"
    "\n"
    "Commands:\n"
    "  devices    list every backend and device, and why a backend is unavailable\n"
    "  plugins    show the plugin load report: every file found, and what happened to it\n"
    "\n"
    "Run `catena <command> --help` for a command's options.\n"
    "\n"
    "Environment:\n"
    "  CATENA_PLUGIN_PATH  extra plugin files or folders (':'-separated), searched first\n"
    "  CATENA_PLUGINS      ordered allow-list of backends (e.g. cuda,cpu); cpu always loads\n"
    "  CATENA_DISABLE      backends to switch off (e.g. opencl)\n"
    "  CATENA_DEVICE       the default device (e.g. cuda:0)\n"
    "  CATENA_FALLBACK     silent | warn | error: what to do when a device lacks an op\n";

std::string human_bytes(uint64_t b) {
  if (!b) return "unknown";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

// Parse a subcommand's options; returns false (after printing help) when --help was given.
bool parse(const std::string& name, const std::string& summary, po::options_description& opts,
           const std::vector<std::string>& args, po::variables_map& vm) {
  opts.add_options()("help,h", "show this help");
  po::store(po::command_line_parser(args).options(opts).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << "Usage: catena " << name << " [options]\n\n" << summary << "\n\n" << opts;
    return false;
  }
  return true;
}

int cmd_devices(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  po::variables_map vm;
  if (!parse("devices",
             "List every backend and its devices: name, kind, memory, state, and why a backend is unavailable.\n"
             "For the cpu, the OpenBLAS kernel in use.",
             opts, args, vm))
    return 0;
  catena::Runtime& rt = catena::runtime();
  for (const catena::BackendInfo& b : rt.backends()) {
    std::cout << "backend " << b.name << "  [" << b.state << "]  " << b.path << (b.version.empty() ? "" : "  v" + b.version)
              << "\n";
    if (b.state != "ready") {
      std::cout << "    " << b.message << "\n";
      continue;
    }
    if (b.devices.empty()) std::cout << "    (no devices)\n";
    for (catena::Device* d : b.devices) {
      std::cout << "  " << d->name() << "\n";
      std::cout << "      kind:     " << d->kind() << "\n";
      std::cout << "      product:  " << d->product_name() << (d->vendor().empty() ? "" : " (" + d->vendor() + ")")
                << "\n";
      std::cout << "      memory:   " << human_bytes(d->memory_total()) << "\n";
      if (d->compute_units()) std::cout << "      units:    " << d->compute_units() << "\n";
      std::cout << "      memory is " << (d->host_addressable() ? "host-addressable" : "device-only") << ", "
                << (d->flags() & CT_DEVICE_SYNCHRONOUS ? "synchronous" : "asynchronous") << "\n";
      if (!d->description().empty()) std::cout << "      detail:   " << d->description() << "\n";
    }
  }
  // Loaded plugins that never became backends are in `catena plugins`.
  try {
    std::cout << "default device: " << rt.default_device().name() << "\n";
  } catch (const catena::Error& e) {
    std::cout << "default device: none (" << e.what() << ")\n";
    return 1;
  }
  return 0;
}

int cmd_plugins(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  opts.add_options()("no-init", "do not initialise the backends (init failures then do not show)");
  po::variables_map vm;
  if (!parse("plugins",
             "Show the load report: every plugin file Catena found, how it was found, and what happened to it,\n"
             "with the reason and what to do when it did not load. Every backend is initialised first, so that\n"
             "init failures are reported too.\n\n"
             "Search order (the current directory is never searched): paths the application names,\n"
             "CATENA_PLUGIN_PATH, $XDG_DATA_HOME/catena/plugins (~/.local/share/catena/plugins), then the\n"
             "folders beside libcatena (<libdir>/catena/plugins, and the build tree's backends/).",
             opts, args, vm))
    return 0;
  std::vector<catena::LoadRecord> report = catena::runtime().load_report(!vm.count("no-init"));
  int problems = 0;
  for (const catena::LoadRecord& r : report) {
    std::string result = catena::to_string(r.result);
    std::cout << "[" << result << "] " << (r.name.empty() ? "?" : r.name)
              << (r.variant.empty() ? "" : " (variant " + r.variant + ")") << "\n";
    if (!r.path.empty()) std::cout << "    file:     " << r.path << "  (" << r.found_by << ")\n";
    if (r.has_version)
      std::cout << "    ABI:      plugin " << r.abi_major << "." << r.abi_minor << " (needs host minor >= "
                << r.min_host_minor << "), runtime " << CT_ABI_MAJOR << "." << CT_ABI_MINOR << "\n";
    if (r.probe_score >= 0)
      std::cout << "    probe:    " << r.probe_score << (r.probe_reason.empty() ? "" : " (" + r.probe_reason + ")")
                << "\n";
    if (!r.message.empty()) std::cout << "    " << (r.result == catena::LoadResult::loaded ? "status:   " : "why:      ")
                                      << r.message << "\n";
    if (!r.missing_dependency.empty()) std::cout << "    missing:  " << r.missing_dependency << "\n";
    if (!r.os_error.empty()) std::cout << "    OS error: " << r.os_error << "\n";
    if (r.result != catena::LoadResult::loaded && !r.hint.empty()) std::cout << "    do:       " << r.hint << "\n";
    if (r.result != catena::LoadResult::loaded && r.result != catena::LoadResult::shadowed &&
        r.result != catena::LoadResult::disabled)
      ++problems;
  }
  std::cout << report.size() << " plugin files, " << problems << " with problems\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::cout << "catena " << catena::version() << " (ABI " << CT_ABI_MAJOR << "." << CT_ABI_MINOR << ")\n";
    return 0;
  }
  std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  static const std::map<std::string, int (*)(const std::vector<std::string>&)> commands = {
      {"devices", cmd_devices},
      {"plugins", cmd_plugins},
  };
  auto it = commands.find(cmd);
  if (it == commands.end()) {
    std::cerr << "catena: unknown command '" << cmd << "'. Commands: devices, plugins. See `catena --help`.\n";
    return 2;
  }
  try {
    return it->second(rest);
  } catch (const po::error& e) {
    std::cerr << "catena " << cmd << ": " << e.what() << ". See `catena " << cmd << " --help`.\n";
    return 2;
  } catch (const catena::Error& e) {
    std::cerr << "catena " << cmd << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "catena " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
