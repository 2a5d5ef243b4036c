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

struct Measure {
  double accuracy = 0, latency_us = 0;
};

// Test accuracy, and the median of batch-1 forwards (no graph) over the first images.
Measure measure(L::Classifier& model, const DatasetPtr& test, Device& dev, int batch) {
  Measure m;
  SerialIterator it(test, size_t(batch), /*repeat=*/false, /*shuffle=*/false);
  training::Evaluator evaluator(it, model, dev);
  const training::Observation result = evaluator.evaluate();
  if (const double* acc = result.find("validation/main/accuracy")) m.accuracy = *acc;
  auto guard = no_backprop_mode();
  std::vector<double> us;
  for (int i = 0; i < 220; ++i) {
    const Tensor x = test->get_example(size_t(i) % test->size())[0];
    Shape one{1};
    for (int64_t e : x.shape()) one.push_back(e);
    const Tensor xb = x.reshape(one).to(dev);
    const auto t0 = std::chrono::steady_clock::now();
    Variable y = model.predictor().forward(Variable(xb, false));
    y.array().to(runtime().cpu());  // waits for the device
    const double t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    if (i >= 20) us.push_back(t);
  }
  std::nth_element(us.begin(), us.begin() + int64_t(us.size() / 2), us.end());
  m.latency_us = us[us.size() / 2];
  return m;
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

// Fine-tunes for `epochs` passes over `train` with the given optimizer, printing progress
// on stderr (masks hold: every optimizer applies them after each update).
void finetune(L::Classifier& model, const DatasetPtr& train, Device& dev, int epochs, int batch,
              const std::string& optimizer_spec, bool progress) {
  auto [name, hyper] = parse_optimizer(optimizer_spec);
  std::unique_ptr<Optimizer> opt = optimizers::create(name, hyper);
  opt->setup(model);
  SerialIterator it(train, size_t(batch));
  training::StandardUpdater updater(it, *opt, dev);
  const int64_t per_epoch = int64_t((train->size() + size_t(batch) - 1) / size_t(batch));
  const int64_t total = per_epoch * epochs;
  auto last = std::chrono::steady_clock::now();
  for (int64_t i = 1; updater.epoch() < epochs; ++i) {
    updater.update();
    const auto now = std::chrono::steady_clock::now();
    if (progress && (std::chrono::duration<double>(now - last).count() > 1.0 || updater.epoch() == epochs)) {
      last = now;
      std::fprintf(stderr, "\rfine-tuning: epoch %d of %d, iteration %lld of %lld", int(std::min<int64_t>(updater.epoch() + 1, epochs)),
                   epochs, static_cast<long long>(std::min(i, total)), static_cast<long long>(total));
      std::fflush(stderr);
    }
  }
  if (progress) std::fprintf(stderr, "\n");
}

void calibrate(L::Classifier& model, compression::Calibration& c, const DatasetPtr& train, Device& dev, int batches,
               int batch) {
  SerialIterator it(train, size_t(batch), /*repeat=*/false, /*shuffle=*/false);
  auto guard = no_backprop_mode();
  int seen = 0;
  for (; seen < batches; ++seen) {
    std::optional<Example> b = it.next_batch(dev);
    if (!b) break;
    model.predictor().forward(Variable((*b)[0], false));
  }
  (void)c;  // it observes while it lives
  if (seen < batches)
    throw Error(CT_INVALID_ARGUMENT, "--calibrate " + std::to_string(batches) + ": the training set has only " +
                                         std::to_string(seen) + " batches of " + std::to_string(batch));
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
  if (!vm.count("prune") && !vm.count("quantize"))
    throw Error(CT_INVALID_ARGUMENT,
                "nothing to do: give --prune LEVEL and/or --quantize dynamic-int8|int8|binary|kmeans:K|float16|bfloat16");
  const std::string in_path = vm["model"].as<std::string>(), out_path = vm["out"].as<std::string>();
  const int epochs = vm["finetune-epochs"].as<int>(), batch = vm["batchsize"].as<int>();
  const int calib = vm["calibrate"].as<int>();
  if (epochs < 0) throw Error(CT_INVALID_ARGUMENT, "--finetune-epochs must be 0 or more");
  if (batch < 1) throw Error(CT_INVALID_ARGUMENT, "--batchsize must be at least 1");
  std::string quantize = vm.count("quantize") ? vm["quantize"].as<std::string>() : "";
  int k = 0;
  if (quantize.rfind("kmeans", 0) == 0) {
    const std::string n = quantize.size() > 7 && quantize[6] == ':' ? quantize.substr(7) : "";
    char* end = nullptr;
    const long v = n.empty() ? 0 : std::strtol(n.c_str(), &end, 10);
    if (n.empty() || *end || v < 2 || v > 256)
      throw Error(CT_INVALID_ARGUMENT, "--quantize " + quantize + ": give kmeans:K with K from 2 to 256 (e.g. kmeans:16)");
    k = int(v);
    quantize = "kmeans";
  }
  const std::vector<std::string> methods = {"dynamic-int8", "int8", "binary", "kmeans", "float16", "bfloat16"};
  if (!quantize.empty() && std::find(methods.begin(), methods.end(), quantize) == methods.end())
    throw Error(CT_INVALID_ARGUMENT, "--quantize: unknown method '" + quantize +
                                         "' (known: dynamic-int8, int8, binary, kmeans:K, float16, bfloat16)");
  const bool qat = vm.count("qat") > 0;
  if (qat && quantize != "int8" && quantize != "dynamic-int8")
    throw Error(CT_INVALID_ARGUMENT, "--qat is for --quantize int8 or dynamic-int8 (binary always trains binary-aware)");
  if (qat && epochs == 0) throw Error(CT_INVALID_ARGUMENT, "--qat needs --finetune-epochs E (the training it is)");
  if (quantize == "int8" && calib < 1)
    throw Error(CT_INVALID_ARGUMENT, "--calibrate must be at least 1: static int8 needs calibration batches");
  // Options are checked before any work.
  std::unique_ptr<compression::Compressor> pruner;
  const bool structured = vm.count("structured") > 0;
  if (structured && !vm.count("prune")) throw Error(CT_INVALID_ARGUMENT, "--structured needs --prune LEVEL");
  if (vm.count("prune") && structured)
    pruner = std::make_unique<compression::StructuredPruner>(vm["prune"].as<double>(), vm["prune-norm"].as<std::string>());
  else if (vm.count("prune"))
    pruner = std::make_unique<compression::Pruner>(vm["prune"].as<double>(), vm["prune-scope"].as<std::string>());
  std::unique_ptr<compression::Calibration> calibration;
  if (quantize == "int8") calibration = std::make_unique<compression::Calibration>(vm["observer"].as<std::string>());
  if (epochs > 0) {
    auto [name, hyper] = parse_optimizer(vm["optimizer"].as<std::string>());
    optimizers::create(name, hyper);
  }

  const std::string dev_name = vm["device"].as<std::string>();
  Device& dev = dev_name.empty() ? default_device() : device(dev_name);
  std::shared_ptr<Link> loaded(load_model(in_path, dev).release());
  std::shared_ptr<L::Classifier> model = std::dynamic_pointer_cast<L::Classifier>(loaded);
  if (!model) model = std::make_shared<L::Classifier>(loaded);
  const auto data = load_dataset(vm["dataset"].as<std::string>(), vm["data"].as<std::string>());
  const bool progress = !vm.count("no-progress");

  std::cout << "Compressing " << in_path << " on " << dev.name() << "\n";
  const compression::Report before = compression::describe(*model);
  const Measure m0 = measure(*model, data.second, dev, batch);
  if (pruner) {
    (*pruner)(*model);
    if (structured)
      std::cout << "removed " << vm["prune"].as<double>() * 100 << " % of the hidden units and channels (smallest "
                << vm["prune-norm"].as<std::string>() << " norm)\n";
    else
      std::cout << "pruned " << vm["prune"].as<double>() * 100 << " % of the weights ("
                << vm["prune-scope"].as<std::string>() << ")\n";
  }
  // Weight sharing and binary weights train after the change (centroids, or real weights
  // behind their signs); int8 and the casts come after fine-tuning.
  if (quantize == "kmeans") {
    if (pruner) {
      compression::bake_masks(*model);
      std::cout << "baked the masks (shared weights keep the pruned ones near zero, not at it)\n";
    }
    compression::KMeans sharer(k);
    sharer(*model);
    std::cout << "shared the weights: " << k << " centroids per layer\n";
  }
  if (quantize == "binary" || qat) {
    compression::prepare_qat(*model, quantize == "binary" ? "binary" : "int8");
    std::cout << "fake-quantized the weights for training (" << (quantize == "binary" ? "binary" : "int8") << ")\n";
  }
  if (epochs > 0) finetune(*model, data.first, dev, epochs, batch, vm["optimizer"].as<std::string>(), progress);
  if (quantize == "int8" || quantize == "dynamic-int8" || quantize == "binary") {
    compression::Quantizer q(quantize == "int8" ? "static" : quantize == "binary" ? "binary" : "dynamic");
    if (calibration) {
      calibrate(*model, *calibration, data.first, dev, calib, batch);
      q.set_calibration(calibration.get());
    }
    q(*model);
    std::cout << "quantized the Linear and Convolution2D weights ("
              << (quantize == "int8"     ? "int8, static, calibrated on " + std::to_string(calib) + " batches"
                  : quantize == "binary" ? std::string("binary")
                                         : std::string("int8, dynamic"))
              << ")\n";
  }
  if (quantize == "float16" || quantize == "bfloat16") {
    compression::Cast(quantize == "float16" ? float16 : bfloat16)(*model);
    std::cout << "stored the parameters as " << quantize << "\n";
  }
  calibration.reset();
  const Measure m1 = measure(*model, data.second, dev, batch);
  save_model(out_path, *model);
  const compression::Report after = compression::compare(before, *model);

  std::cout << "\n" << after.table() << "\n";
  char line[200];
  std::snprintf(line, sizeof line, "%-24s %12s %12s\n", "", "before", "after");
  std::cout << line;
  std::snprintf(line, sizeof line, "%-24s %12.4f %12.4f\n", "test accuracy", m0.accuracy, m1.accuracy);
  std::cout << line;
  std::snprintf(line, sizeof line, "%-24s %12.1f %12.1f\n", "batch-1 forward, us", m0.latency_us, m1.latency_us);
  std::cout << line;
  std::snprintf(line, sizeof line, "%-24s %12s %12s\n", "file", bytes_text(file_size(in_path)).c_str(),
                bytes_text(file_size(out_path)).c_str());
  std::cout << line << "wrote " << out_path << "\n";
  return 0;
}

}  // namespace catena_tool
