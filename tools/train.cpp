// `catena train`: Chainer's MNIST example as a command — a model, a data set, an optimizer,
// the Trainer with Evaluator, LogReport, PrintReport, ProgressBar and PlotReport, and the
// trained parameters saved as an .npz with Chainer's keys.
#include "commands.hpp"

#include <catena/dataset.hpp>
#include <catena/files.hpp>
#include <catena/iterator.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/optimizers.hpp>
#include <catena/random.hpp>
#include <catena/runtime.hpp>
#include <catena/training.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>

namespace po = boost::program_options;
using namespace catena;

namespace catena_tool {

int cmd_train(const std::vector<std::string>& args) {
  po::options_description opts("Options");
  opts.add_options()
      ("model,m", po::value<std::string>()->default_value("mlp"), "mlp (784-unit-unit-10) or cnn (the W2 network)")
      ("dataset", po::value<std::string>()->default_value("fashion-mnist"), "fashion-mnist, mnist or cifar10")
      ("data", po::value<std::string>()->default_value(""),
       "the data set's folder (default: Debian's /usr/share/datasets/fashion-mnist, or $CATENA_FASHION_MNIST, "
       "$CATENA_MNIST, $CATENA_CIFAR10)")
      ("device,d", po::value<std::string>()->default_value(""), "where to train: cpu, cuda:0, ... (default: $CATENA_DEVICE, else cpu)")
      ("epoch,e", po::value<int>()->default_value(20), "passes over the training set")
      ("batchsize,b", po::value<int>()->default_value(100), "examples per update")
      ("unit,u", po::value<int>()->default_value(0), "hidden units (default: 1000 for mlp, 128 for cnn)")
      ("optimizer,o", po::value<std::string>()->default_value("adam"),
       "NAME[:HYPER=VALUE,...], e.g. adam:alpha=0.001 or momentum_sgd:lr=0.05,momentum=0.9")
      ("out", po::value<std::string>()->default_value("result"), "folder for the log, the plots and model.npz")
      ("seed", po::value<uint64_t>(), "seed for initialisation and shuffling (default: $CATENA_SEED, else 0)")
      ("snapshot-every", po::value<int>()->default_value(1),
       "write out/snapshot_epoch_N.npz (the whole training state) every this many epochs; 0: never")
      ("keep", po::value<int>()->default_value(2), "snapshots to keep (the newest)")
      ("resume", po::value<std::string>(),
       "continue the training saved in this snapshot (give the same model, data set and options); the losses "
       "are those of a run never stopped")
      ("no-progress", "do not show the progress bar");
  po::variables_map vm;
  if (!parse("train",
             "Train a classifier as Chainer's MNIST example does, and write out/log (JSON), out/loss.svg,\n"
             "out/accuracy.svg, out/model.npz (numpy.load reads it; keys as Chainer's: predictor/l1/W ...) and\n"
             "snapshots of the whole training state (out/snapshot_epoch_N.npz; continue one with --resume).\n"
             "Example: catena train --model mlp --dataset fashion-mnist --epoch 5",
             opts, args, vm))
    return 0;
  const std::string model_name = vm["model"].as<std::string>(), dataset = vm["dataset"].as<std::string>();
  const int epochs = vm["epoch"].as<int>(), batch = vm["batchsize"].as<int>();
  int unit = vm["unit"].as<int>();
  if (model_name != "mlp" && model_name != "cnn")
    throw Error(CT_INVALID_ARGUMENT, "unknown model '" + model_name + "': choose mlp or cnn");
  if (dataset != "fashion-mnist" && dataset != "mnist" && dataset != "cifar10")
    throw Error(CT_INVALID_ARGUMENT, "unknown data set '" + dataset + "': choose fashion-mnist, mnist or cifar10");
  if (epochs < 1) throw Error(CT_INVALID_ARGUMENT, "--epoch must be at least 1, got " + std::to_string(epochs));
  if (batch < 1) throw Error(CT_INVALID_ARGUMENT, "--batchsize must be at least 1, got " + std::to_string(batch));
  if (unit < 0) throw Error(CT_INVALID_ARGUMENT, "--unit must be positive, got " + std::to_string(unit));
  const int snapshot_every = vm["snapshot-every"].as<int>(), keep = vm["keep"].as<int>();
  if (snapshot_every < 0)
    throw Error(CT_INVALID_ARGUMENT, "--snapshot-every must be 0 (never) or more, got " + std::to_string(snapshot_every));
  if (keep < 1) throw Error(CT_INVALID_ARGUMENT, "--keep must be at least 1, got " + std::to_string(keep));
  const std::string resume_from = vm.count("resume") ? vm["resume"].as<std::string>() : "";
  if (!resume_from.empty()) {
    try {
      check_readable_file(resume_from);
    } catch (const Error& e) {
      throw Error(e.code(), std::string("--resume: ") + e.what() + " (give a snapshot file, e.g. result/snapshot_epoch_1.npz)");
    }
  }
  if (unit == 0) unit = model_name == "mlp" ? 1000 : 128;
  // Checks the names before any work.
  std::unique_ptr<Optimizer> optimizer = optimizers::create_from_spec(vm["optimizer"].as<std::string>());

  // The output folder is taken now, before any work: one run at a time writes there, and an
  // --out that cannot be written stops the command before the first epoch, not after it.
  const std::string out = vm["out"].as<std::string>();
  std::unique_ptr<FolderLock> out_lock = training::claim_folder(out);

  const std::string dev_name = vm["device"].as<std::string>();
  Device& dev = dev_name.empty() ? default_device() : device(dev_name);
  if (vm.count("seed")) seed(vm["seed"].as<uint64_t>());

  // Data.
  const std::string dir = vm["data"].as<std::string>();
  std::pair<DatasetPtr, DatasetPtr> data;
  if (dataset == "cifar10") {
    data = datasets::get_cifar10(dir);
  } else {
    datasets::MnistOptions o;
    o.ndim = model_name == "cnn" ? 3 : 1;
    data = dataset == "mnist" ? datasets::get_mnist(dir, o) : datasets::get_fashion_mnist(dir, o);
  }
  if (size_t(batch) > data.first->size())
    throw Error(CT_INVALID_ARGUMENT, "--batchsize " + std::to_string(batch) + " is more than the " +
                                         std::to_string(data.first->size()) + " examples of the training set");
  // Every data set here has 10 classes. The MLP's lazy first layer flattens images itself.
  const int64_t n_out = 10;

  std::cout << "Device: " << dev.name() << "\n"
            << "# unit: " << unit << "\n"
            << "# Minibatch-size: " << batch << "\n"
            << "# epoch: " << epochs << "\n"
            << "# model: " << model_name << ", data set: " << dataset << " (" << data.first->size() << " train, "
            << data.second->size() << " test)\n"
            << "# optimizer: " << optimizer->name() << "\n\n";

  auto predictor = std::shared_ptr<Link>(models::create(model_name, {{"n_units", unit}, {"n_out", double(n_out)}}));
  L::Classifier model(predictor);
  model.to_device(dev);
  optimizer->setup(model);

  SerialIterator train_iter(data.first, size_t(batch));
  SerialIterator test_iter(data.second, size_t(batch), /*repeat=*/false, /*shuffle=*/false);
  training::StandardUpdater updater(train_iter, *optimizer, dev);
  training::Trainer trainer(updater, {double(epochs), training::Unit::epoch}, out);
  trainer.extend(std::make_shared<training::Evaluator>(test_iter, model, dev));
  auto log = std::make_shared<training::LogReport>();
  trainer.extend(log);
  trainer.extend(std::make_shared<training::PlotReport>(std::vector<std::string>{"main/loss", "validation/main/loss"},
                                                        "epoch", training::every(1, training::Unit::epoch), "loss.svg"));
  trainer.extend(std::make_shared<training::PlotReport>(
      std::vector<std::string>{"main/accuracy", "validation/main/accuracy"}, "epoch",
      training::every(1, training::Unit::epoch), "accuracy.svg"));
  trainer.extend(std::make_shared<training::PrintReport>(std::vector<std::string>{
      "epoch", "main/loss", "validation/main/loss", "main/accuracy", "validation/main/accuracy", "elapsed_time"}));
  if (!vm.count("no-progress"))
    trainer.extend(std::make_shared<training::ProgressBar>(std::nullopt, 100, 50, &std::cerr));
  if (snapshot_every > 0)
    trainer.extend(std::make_shared<training::Snapshot>("snapshot_epoch_{epoch}.npz", keep), "",
                   training::every(snapshot_every, training::Unit::epoch));
  if (!resume_from.empty()) {
    training::resume(trainer, resume_from);
    std::cout << "# resumed from " << resume_from << " at epoch " << updater.epoch() << ", iteration "
              << updater.iteration << "\n";
  }
  trainer.run();

  save_model(out + "/model.npz", model);
  if (!log->log().empty())
    if (const double* acc = log->log().back().find("validation/main/accuracy")) {
      char line[64];
      std::snprintf(line, sizeof line, "%.4f", *acc);
      std::cout << "test accuracy: " << line << "\n";
    }
  if (const uint64_t fell = dev.fallback_total()) {
    // What the device declined and the cpu ran instead, the most frequent first.
    std::vector<std::pair<uint64_t, std::string>> by_count;
    for (const auto& [op, n] : dev.fallback_counts()) by_count.push_back({n, op});
    std::sort(by_count.rbegin(), by_count.rend());
    std::string most;
    for (size_t i = 0; i < by_count.size() && i < 5; ++i)
      most += (i ? ", " : "") + by_count[i].second + " " + std::to_string(by_count[i].first);
    std::cout << fell << " ops fell back from " << dev.name() << " to the cpu (" << most
              << (by_count.size() > 5 ? ", ..." : "") << ")\n";
  }
  std::cout << "wrote " << out << "/log, " << out << "/loss.svg, " << out << "/accuracy.svg, " << out << "/model.npz\n";
  return 0;
}

}  // namespace catena_tool
