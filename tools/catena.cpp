// The `catena` command: devices, plugins, and (as the project grows) train, eval, ...
#include <catena/catalog.hpp>
#include <catena/functions.hpp>
#include <catena/runtime.hpp>

#include "commands.hpp"

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
    "  ops        list every op and function, and whether each device runs it natively, by fallback, or not\n"
    "  train      train a classifier (mlp or cnn) on Fashion-MNIST, MNIST or CIFAR-10\n"
    "  eval       evaluate a saved whole model (catena train's model.npz) on a data set\n"
    "  compress   prune, fine-tune and quantize a whole model; report sizes, accuracy and latency\n"
    "  inspect    show what a parameter file, whole-model file or snapshot holds\n"
    "  convert    rewrite such a file in another format (npz <-> hdf5)\n"
    "  conformance  check a device against the cpu backend, op by op and function by function\n"
    "\n"
    "Run `catena <command> --help` for a command's options.\n"
    "\n"
    "Environment:\n"
    "  CATENA_PLUGIN_PATH  extra plugin files or folders (':'-separated), searched first\n"
    "  CATENA_PLUGINS      ordered allow-list of backends (e.g. cuda,cpu); cpu always loads\n"
    "  CATENA_DISABLE      backends to switch off (e.g. opencl)\n"
    "  CATENA_DEVICE       the default device (e.g. cuda:0)\n"
    "  CATENA_FALLBACK     silent | warn | error: what to do when a device lacks an op\n"
    "  CATENA_PROFILE=1    print the time of every op (by input shapes) when the program exits\n"
    "  CATENA_NUM_THREADS  threads of the cpu backend (default: the CPUs this process may use)\n"
    "  CATENA_SPIN_US      microseconds idle cpu threads stay awake for the next kernel (default 100)\n"
    "  CATENA_FLUSH_DENORMAL=0  keep subnormal floats in cpu kernels (default: flushed to zero)\n"
    "  CATENA_OPENCL_CACHE  where OpenCL programs are kept once compiled (default ~/.cache/catena/opencl)\n"
    "  CATENA_OPENCL_COLUMNS  most elements of an OpenCL convolution's column buffer (default 2^24)\n"
    "  CATENA_FASHION_MNIST, CATENA_MNIST, CATENA_CIFAR10, CATENA_CIFAR100  data set folders\n";

}  // namespace

namespace catena_tool {
// Parse a subcommand's options; returns false (after printing help) when --help was given.
bool parse(const std::string& name, const std::string& summary, po::options_description& opts,
           const std::vector<std::string>& args, po::variables_map& vm, const po::positional_options_description* positional) {
  opts.add_options()("help,h", "show this help");
  po::positional_options_description none;
  po::store(po::command_line_parser(args).options(opts).positional(positional ? *positional : none).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << "Usage: catena " << name << " [options]\n\n" << summary << "\n\n" << opts;
    return false;
  }
  return true;
}
}  // namespace catena_tool

namespace {
using catena_tool::parse;

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
      std::cout << "      memory:   " << (d->memory_total() ? catena_tool::bytes_text(d->memory_total()) : std::string("unknown")) << "\n";
      if (d->compute_units()) std::cout << "      units:    " << d->compute_units() << "\n";
      std::cout << "      memory is " << (d->host_addressable() ? "host-addressable" : "device-only") << ", "
                << (d->flags() & CT_DEVICE_SYNCHRONOUS ? "synchronous" : "asynchronous") << "\n";
      if (!d->description().empty()) std::cout << "      detail:   " << d->description() << "\n";
    }
  }
  // Loaded plugins that never became backends are in `catena plugins`.
  try {
    const std::string name = rt.default_device().name();  // may throw: nothing printed before it
    std::cout << "default device: " << name << "\n";
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
  std::cout << catena::format_report(catena::runtime().load_report(!vm.count("no-init")));
  return 0;
}

// Where `op` runs on `d`: "native", "fallback" (the cpu runs it) or "no".
std::string op_status(catena::Device& d, const catena::OpProbe& probe, std::string* reason) {
  auto ask = [&](catena::Device& dev) {
    std::vector<catena::Tensor> in, out;
    catena::Attrs attrs;
    probe.make(dev, in, out, attrs);
    return catena::query_support(dev, probe.name, probe.version, in, out, attrs);
  };
  auto here = ask(d);
  if (here.first != CT_UNSUPPORTED) return "native";
  *reason = here.second;
  if (d.is_cpu()) return "no";
  return ask(catena::runtime().cpu()).first != CT_UNSUPPORTED ? "fallback" : "no";
}

// Run a function (and its backward) on `d`, counting fallbacks.
std::string function_status(catena::Device& d, const catena::FunctionProbe& fn, std::string* detail) {
  std::map<std::string, uint64_t> before = d.fallback_counts();
  std::string status;
  try {
    std::vector<catena::Variable> ys = fn.run(d);
    if (fn.differentiable) {
      catena::Variable total;
      for (const catena::Variable& y : ys) {
        catena::Variable s = catena::F::sum(y);
        total = total.defined() ? total + s : s;
      }
      total.backward();
    }
    d.synchronize();
    std::string fell;
    for (const auto& [op, n] : d.fallback_counts())
      if (n > (before.count(op) ? before[op] : 0)) fell += (fell.empty() ? "" : ", ") + op;
    status = fell.empty() ? "native" : "fallback";
    *detail = fell;
  } catch (const std::exception& e) {
    status = "no";
    *detail = e.what();
  }
  return status;
}

int cmd_ops(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  opts.add_options()("device,d", po::value<std::string>(), "show one device, with the reasons (default: all devices)");
  po::variables_map vm;
  if (!parse("ops",
             "List every core op and every function, and for each device whether it runs natively, by fallback to\n"
             "the cpu (copying its operands there and back), or not at all. Functions are run forward and backward\n"
             "on small inputs, so the answer is what really happens.",
             opts, args, vm))
    return 0;
  // Probing is meant to find fallbacks: it should not warn about each one.
  catena::runtime().set_fallback_mode(catena::FallbackMode::silent);
  std::vector<catena::Device*> devices;
  if (vm.count("device")) devices.push_back(&catena::device(vm["device"].as<std::string>()));
  else devices = catena::runtime().devices();
  bool one = devices.size() == 1;
  auto row = [&](const std::string& name, const std::vector<std::string>& cells) {
    std::printf("  %-28s", name.c_str());
    for (const std::string& c : cells) std::printf(one ? "%s" : "%-14s", c.c_str());
    std::printf("\n");
  };
  std::vector<std::string> header;
  for (catena::Device* d : devices) header.push_back(d->name());
  std::printf("ops (api/OPS.md)\n");
  row("", header);
  for (const catena::OpProbe& p : catena::core_ops()) {
    std::vector<std::string> cells;
    for (catena::Device* d : devices) {
      std::string reason, st = op_status(*d, p, &reason);
      cells.push_back(one && !reason.empty() ? st + "  (" + reason + ")" : st);
    }
    row(p.name, cells);
  }
  std::printf("\nfunctions (catena::F), forward and backward\n");
  row("", header);
  for (const catena::FunctionProbe& f : catena::functions_catalog()) {
    std::vector<std::string> cells;
    for (catena::Device* d : devices) {
      std::string detail, st = function_status(*d, f, &detail);
      cells.push_back(one && !detail.empty() ? st + "  (" + detail + ")" : st);
    }
    row(f.name, cells);
  }
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
      {"ops", cmd_ops},
      {"train", catena_tool::cmd_train},
      {"eval", catena_tool::cmd_eval},
      {"conformance", catena_tool::cmd_conformance},
      {"compress", catena_tool::cmd_compress},
      {"inspect", catena_tool::cmd_inspect},
      {"convert", catena_tool::cmd_convert},
  };
  auto it = commands.find(cmd);
  if (it == commands.end()) {
    std::cerr << "catena: unknown command '" << cmd << "'. Commands: devices, plugins, ops, train, eval, compress, inspect, convert, conformance. See `catena --help`.\n";
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
