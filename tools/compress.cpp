// `catena compress`: a whole model pruned, fine-tuned and quantized, with a report of what
// changed — per parameter and in total, elements, sparsity and bytes; test accuracy,
// batch-1 latency and file size before and after.
#include "commands.hpp"

#include <catena/compression.hpp>
#include <catena/config.hpp>
#include <catena/files.hpp>
#include <catena/iterator.hpp>
#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/optimizers.hpp>
#include <catena/runtime.hpp>
#include <catena/training.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <iostream>

namespace po = boost::program_options;
using namespace catena;

namespace catena_tool {

namespace {

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

}  // namespace

int cmd_compress(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  opts.add_options()
      ("model,m", po::value<std::string>(), "a whole-model file (catena train writes out/model.npz)")
      ("out,o", po::value<std::string>(), "where to write the compressed whole model (.npz or .h5)")
      ("prune", po::value<double>(), "prune this fraction of the weights, smallest |w| first (in [0, 1))")
      ("prune-scope", po::value<std::string>()->default_value("global"),
       "global (one threshold over every weight) or layer (each weight matrix the same fraction)")
      ("structured", "prune whole hidden units and channels instead (smallest L1/L2 norm): the layers shrink")
      ("prune-norm", po::value<std::string>()->default_value("l2"), "structured pruning: l1 or l2")
      ("finetune-epochs", po::value<int>()->default_value(0), "epochs of training after pruning (masks hold)")
      ("optimizer", po::value<std::string>()->default_value("adam:alpha=0.0005"),
       "the fine-tuning optimizer, NAME[:HYPER=VALUE,...] as catena train's")
      ("quantize", po::value<std::string>(),
       "dynamic-int8 (weights int8, activations quantized per batch), int8 (static: activation scales calibrated "
       "on --calibrate batches), binary (sign times a scale per channel, trained binary-aware over "
       "--finetune-epochs), kmeans:K (K shared weights per layer, centroids fine-tuned), float16 or bfloat16")
      ("qat", "int8: fine-tune with the weights fake-quantized (quantization-aware training)")
      ("calibrate", po::value<int>()->default_value(10), "training batches that calibrate static int8")
      ("observer", po::value<std::string>()->default_value("minmax"), "calibration: minmax or percentile (99.99)")
      ("dataset", po::value<std::string>()->default_value("fashion-mnist"), "fashion-mnist, mnist or cifar10")
      ("data", po::value<std::string>()->default_value(""), "the data set's folder (default: as catena train)")
      ("device,d", po::value<std::string>()->default_value(""), "where to run (default: $CATENA_DEVICE, else cpu)")
      ("batchsize,b", po::value<int>()->default_value(100), "examples per batch (fine-tuning, calibration, evaluation)")
      ("no-progress", "do not show fine-tuning progress");
  po::variables_map vm;
  if (!parse("compress",
             "Compress a whole model: prune (masks kept, so the file stores the weights sparse), fine-tune, quantize\n"
             "to int8; then print what changed per parameter, and test accuracy, batch-1 latency and file size\n"
             "before and after. The result loads with load_model, catena eval and catena inspect on any device.\n"
             "Example: catena compress --model result/model.npz --prune 0.9 --finetune-epochs 1 --out pruned.npz",
             opts, args, vm))
    return 0;
  if (!vm.count("model")) throw Error(CT_INVALID_ARGUMENT, "give the model: catena compress --model FILE --out FILE");
  if (!vm.count("out")) throw Error(CT_INVALID_ARGUMENT, "give the output file: --out FILE");
  const std::string in_path = vm["model"].as<std::string>(), out_path = vm["out"].as<std::string>();
  // The kit checks every option before any work.
  compression::Kit::Options o;
  if (vm.count("prune")) o.prune = vm["prune"].as<double>();
  o.prune_scope = vm["prune-scope"].as<std::string>();
  o.structured = vm.count("structured") > 0;
  o.prune_norm = vm["prune-norm"].as<std::string>();
  o.finetune_epochs = vm["finetune-epochs"].as<int>();
  o.optimizer = vm["optimizer"].as<std::string>();
  o.quantize = vm.count("quantize") ? vm["quantize"].as<std::string>() : "";
  o.qat = vm.count("qat") > 0;
  o.calibrate = vm["calibrate"].as<int>();
  o.observer = vm["observer"].as<std::string>();
  o.batchsize = vm["batchsize"].as<int>();
  compression::Kit kit(o);

  const std::string dev_name = vm["device"].as<std::string>();
  Device& dev = dev_name.empty() ? default_device() : device(dev_name);
  std::shared_ptr<Link> loaded(load_model(in_path, dev).release());
  std::shared_ptr<L::Classifier> model = std::dynamic_pointer_cast<L::Classifier>(loaded);
  if (!model) model = std::make_shared<L::Classifier>(loaded);
  const auto data = load_dataset(vm["dataset"].as<std::string>(), vm["data"].as<std::string>());

  std::cout << "Compressing " << in_path << " on " << dev.name() << "\n" << std::flush;
  const compression::KitReport report =
      kit.run(*model, data.first, data.second, dev, &std::cout, vm.count("no-progress") ? nullptr : &std::cerr);
  save_model(out_path, *model);
  std::cout << "\n" << report.table();
  char line[200];
  std::snprintf(line, sizeof line, "%-24s %12s %12s\n", "file", bytes_text(file_size(in_path)).c_str(),
                bytes_text(file_size(out_path)).c_str());
  std::cout << line << "wrote " << out_path << "\n";
  return 0;
}

}  // namespace catena_tool
