// `catena inspect`, `catena convert` and `catena eval`: what is in a file, a file in the
// other format, and a saved whole model evaluated on a data set.
#include "commands.hpp"

#include <catena/config.hpp>
#include <catena/dataset.hpp>
#include <catena/files.hpp>
#include <catena/iterator.hpp>
#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/runtime.hpp>
#include <catena/serializers.hpp>
#include <catena/training.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace po = boost::program_options;
using namespace catena;

namespace catena_tool {

std::string bytes_text(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

int cmd_inspect(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  opts.add_options()("file", po::value<std::string>(), "the file (.npz, .h5)");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (!parse("inspect FILE",
             "Show what a parameter file, whole-model file or snapshot holds: its format, the model's architecture\n"
             "(for whole-model files), and every key with its dtype, shape and size.",
             opts, args, vm, &pos))
    return 0;
  if (!vm.count("file")) throw Error(CT_INVALID_ARGUMENT, "give the file to inspect: catena inspect FILE");
  const std::string path = vm["file"].as<std::string>();
  // Headers and metadata only: no array is read but the architecture.
  KeyStore keys = list_keys(path);
  const uint64_t size = InputFile(path).size();
  std::cout << path << ": " << guess_format(path) << ", " << bytes_text(size) << ", " << keys.size() << " keys\n";
  const std::string arch = architecture_of(keys);
  if (!arch.empty()) {
    std::cout << "\nArchitecture (a whole model: `catena eval --model " << path << "` runs it):\n";
    std::string tree = describe_architecture(parse_architecture(arch, path + ": the architecture"));
    for (size_t at = 0; at < tree.size();) {
      size_t nl = tree.find('\n', at);
      std::cout << "  " << tree.substr(at, nl - at + 1);
      at = nl + 1;
    }
  }
  std::cout << "\n";
  size_t width = 3;
  for (const std::string& k : keys.keys()) width = std::max(width, k.size());
  std::printf("%-*s  %-8s  %-18s  %s\n", int(width), "key", "dtype", "shape", "size");
  uint64_t total = 0, elements = 0;
  for (const std::string& k : keys.keys()) {
    Dtype dtype;
    Shape shape;
    if (!keys.describe(k, &dtype, &shape)) {
      std::printf("%-*s  %-8s  %-18s  %s\n", int(width), k.c_str(), "None", "-", "- (absent: no values)");
      continue;
    }
    uint64_t b = uint64_t(shape.numel()) * dtype.size();
    total += b;
    elements += uint64_t(shape.numel());
    std::printf("%-*s  %-8s  %-18s  %s\n", int(width), k.c_str(), std::string(dtype.name()).c_str(), shape.str().c_str(),
                bytes_text(b).c_str());
  }
  std::cout << "\n" << elements << " elements, " << bytes_text(total) << " of array data\n";
  return 0;
}

int cmd_convert(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  opts.add_options()("input", po::value<std::string>(), "the file to read (.npz, .h5)")(
      "output", po::value<std::string>(), "the file to write; its extension picks the format")(
      "format,f", po::value<std::string>()->default_value(""), "npz or hdf5, whatever the output's extension")(
      "compress", "compress the arrays (deflate in npz, gzip level 4 in hdf5, as Chainer)");
  po::positional_options_description pos;
  pos.add("input", 1).add("output", 1);
  po::variables_map vm;
  if (!parse("convert IN OUT",
             "Rewrite a parameter file, whole-model file or snapshot in another format (npz <-> hdf5), with every\n"
             "key, dtype, shape and value kept. Example: catena convert result/model.npz model.h5",
             opts, args, vm, &pos))
    return 0;
  if (!vm.count("input") || !vm.count("output"))
    throw Error(CT_INVALID_ARGUMENT, "give the input and the output: catena convert in.npz out.h5");
  const std::string in = vm["input"].as<std::string>(), out = vm["output"].as<std::string>();
  KeyStore keys = read_keys(in);
  // A whole model is converted only when it would load: a parameter left without values
  // is an error here, not in whoever loads the copy.
  check_model_file(keys, in);
  write_keys(out, keys, vm["format"].as<std::string>(), vm.count("compress") > 0);
  std::cout << "wrote " << out << " (" << guess_format(out) << ", " << keys.size() << " keys)\n";
  return 0;
}

std::pair<DatasetPtr, DatasetPtr> load_dataset(const std::string& dataset, const std::string& dir) {
  if (dataset != "fashion-mnist" && dataset != "mnist" && dataset != "cifar10")
    throw Error(CT_INVALID_ARGUMENT, "unknown data set '" + dataset + "': choose fashion-mnist, mnist or cifar10");
  if (dataset == "cifar10") return datasets::get_cifar10(dir);
  datasets::MnistOptions o;
  o.ndim = 3;  // images; a Linear first layer flattens them
  return dataset == "mnist" ? datasets::get_mnist(dir, o) : datasets::get_fashion_mnist(dir, o);
}

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  opts.add_options()("model,m", po::value<std::string>(), "a whole-model file (catena train writes out/model.npz)")(
      "dataset", po::value<std::string>()->default_value("fashion-mnist"), "fashion-mnist, mnist or cifar10")(
      "data", po::value<std::string>()->default_value(""), "the data set's folder (default: as catena train)")(
      "device,d", po::value<std::string>()->default_value(""), "where to run: cpu, cuda:0, ... (default: $CATENA_DEVICE, else cpu)")(
      "batchsize,b", po::value<int>()->default_value(100), "examples per batch");
  po::variables_map vm;
  if (!parse("eval",
             "Evaluate a saved whole model on a data set's test split: prints the loss and the accuracy. The model\n"
             "is rebuilt from the file alone. Example: catena eval --model result/model.npz --dataset fashion-mnist",
             opts, args, vm))
    return 0;
  if (!vm.count("model")) throw Error(CT_INVALID_ARGUMENT, "give the model: catena eval --model FILE");
  const std::string dataset = vm["dataset"].as<std::string>(), dir = vm["data"].as<std::string>();
  const int batch = vm["batchsize"].as<int>();
  if (batch < 1) throw Error(CT_INVALID_ARGUMENT, "--batchsize must be at least 1, got " + std::to_string(batch));
  const std::string dev_name = vm["device"].as<std::string>();
  Device& dev = dev_name.empty() ? default_device() : device(dev_name);
  std::shared_ptr<Link> model(load_model(vm["model"].as<std::string>(), dev).release());
  // A classifier as saved, or the saved predictor inside one.
  std::shared_ptr<Link> classifier = model;
  if (!dynamic_cast<L::Classifier*>(model.get())) classifier = std::make_shared<L::Classifier>(model);
  DatasetPtr test = load_dataset(dataset, dir).second;
  SerialIterator it(test, size_t(batch), /*repeat=*/false, /*shuffle=*/false);
  training::Evaluator evaluator(it, *classifier, dev);
  auto t0 = std::chrono::steady_clock::now();
  training::Observation result = evaluator.evaluate();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double* loss = result.find("validation/main/loss");
  const double* acc = result.find("validation/main/accuracy");
  char line[160];
  std::snprintf(line, sizeof line, "%zu test examples on %s in %.2f s\n", test->size(), dev.name().c_str(), seconds);
  std::cout << line;
  if (loss) std::printf("loss: %.6f\n", *loss);
  if (acc) std::printf("accuracy: %.4f\n", *acc);
  return 0;
}

}  // namespace catena_tool
