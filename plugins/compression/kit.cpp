// PruningKit and QuantizerKit: prune, fine-tune, quantize, calibrate, evaluate; reported.
#include <catena/compression.hpp>
#include <catena/config.hpp>
#include <catena/iterator.hpp>
#include <catena/optimizers.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace catena {
namespace compression {

namespace {

struct Measure {
  double accuracy = 0, latency_us = 0;
};

Measure measure(L::Classifier& model, const DatasetPtr& test, Device& dev, int batch) {
  Measure m;
  SerialIterator it(test, size_t(batch), /*repeat=*/false, /*shuffle=*/false);
  training::Evaluator evaluator(it, model, dev);
  const training::Observation result = evaluator.evaluate();
  if (const double* acc = result.find("validation/main/accuracy")) m.accuracy = *acc;
  auto guard = no_backprop_mode();
  UsingConfig test_mode(&Config::train, false);
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

void finetune(L::Classifier& model, const DatasetPtr& train, Device& dev, int epochs, int batch,
              const std::string& optimizer, std::ostream* log) {
  std::unique_ptr<Optimizer> opt = optimizers::create_from_spec(optimizer, "the fine-tuning optimizer");
  opt->setup(model);
  SerialIterator it(train, size_t(batch));
  training::StandardUpdater updater(it, *opt, dev);
  const int64_t per_epoch = int64_t((train->size() + size_t(batch) - 1) / size_t(batch));
  const int64_t total = per_epoch * epochs;
  auto last = std::chrono::steady_clock::now();
  for (int64_t i = 1; updater.epoch() < epochs; ++i) {
    updater.update();
    const auto now = std::chrono::steady_clock::now();
    if (log && (std::chrono::duration<double>(now - last).count() > 1.0 || updater.epoch() == epochs)) {
      last = now;
      char line[96];
      std::snprintf(line, sizeof line, "\rfine-tuning: epoch %d of %d, iteration %lld of %lld",
                    int(std::min<int64_t>(updater.epoch() + 1, epochs)), epochs, static_cast<long long>(std::min(i, total)),
                    static_cast<long long>(total));
      *log << line << std::flush;
    }
  }
  if (log) *log << "\n";
}

void calibrate(L::Classifier& model, const DatasetPtr& train, Device& dev, int batches, int batch) {
  SerialIterator it(train, size_t(batch), /*repeat=*/false, /*shuffle=*/false);
  auto guard = no_backprop_mode();
  UsingConfig test_mode(&Config::train, false);
  int seen = 0;
  for (; seen < batches; ++seen) {
    std::optional<Example> b = it.next_batch(dev);
    if (!b) break;
    model.predictor().forward(Variable((*b)[0], false));
  }
  if (seen < batches)
    throw Error(CT_INVALID_ARGUMENT, "calibration: " + std::to_string(batches) + " batches asked, but the training set has only " +
                                         std::to_string(seen) + " batches of " + std::to_string(batch));
}

}  // namespace

Kit::Kit(Options o) : o_(std::move(o)) {
  if (o_.prune) (void)Pruner(*o_.prune, o_.prune_scope);  // checks the level and scope
  if (o_.prune && o_.structured) (void)StructuredPruner(*o_.prune, o_.prune_norm);
  if (o_.structured && !o_.prune) throw Error(CT_INVALID_ARGUMENT, "structured pruning needs a level (--prune LEVEL)");
  if (o_.finetune_epochs < 0) throw Error(CT_INVALID_ARGUMENT, "the fine-tuning epochs must be 0 or more");
  if (o_.batchsize < 1) throw Error(CT_INVALID_ARGUMENT, "the batch size must be at least 1");
  std::string& q = o_.quantize;
  if (q.rfind("kmeans", 0) == 0) {
    const std::string n = q.size() > 7 && q[6] == ':' ? q.substr(7) : "";
    char* end = nullptr;
    const long v = n.empty() ? 0 : std::strtol(n.c_str(), &end, 10);
    if (n.empty() || *end || v < 2 || v > 256)
      throw Error(CT_INVALID_ARGUMENT, "quantize " + q + ": give kmeans:K with K from 2 to 256 (e.g. kmeans:16)");
    k_ = int(v);
  }
  const std::vector<std::string> methods = {"", "dynamic-int8", "int8", "binary", "float16", "bfloat16"};
  if (!k_ && std::find(methods.begin(), methods.end(), q) == methods.end())
    throw Error(CT_INVALID_ARGUMENT, "quantize: unknown method '" + q +
                                         "' (known: dynamic-int8, int8, binary, kmeans:K, float16, bfloat16)");
  if (o_.qat && q != "int8" && q != "dynamic-int8")
    throw Error(CT_INVALID_ARGUMENT, "--qat is for int8 or dynamic-int8 (binary always trains binary-aware)");
  if (o_.qat && o_.finetune_epochs == 0)
    throw Error(CT_INVALID_ARGUMENT, "--qat needs fine-tuning epochs (the training it is)");
  if (q == "int8" && o_.calibrate < 1)
    throw Error(CT_INVALID_ARGUMENT, "static int8 needs calibration batches: calibrate must be at least 1");
  if (q == "int8") (void)Calibration(o_.observer);  // checks the observer
  if (!o_.prune && q.empty()) throw Error(CT_INVALID_ARGUMENT, "nothing to do: give a pruning level and/or a quantization");
  if (o_.finetune_epochs > 0) optimizers::create_from_spec(o_.optimizer, "the fine-tuning optimizer");
}

KitReport Kit::run(L::Classifier& model, const DatasetPtr& train, const DatasetPtr& test, Device& device,
                   std::ostream* log, std::ostream* progress) {
  KitReport r;
  const Report before = describe(model);
  const Measure m0 = measure(model, test, device, o_.batchsize);
  const std::string& q = o_.quantize;
  auto say = [&](const std::string& line) {
    if (log) *log << line << "\n";
  };
  if (o_.prune) {
    char pct[32];
    std::snprintf(pct, sizeof pct, "%g %%", *o_.prune * 100);
    if (o_.structured) {
      StructuredPruner(*o_.prune, o_.prune_norm)(model);
      say(std::string("removed ") + pct + " of the hidden units and channels (smallest " + o_.prune_norm + " norm)");
    } else {
      Pruner(*o_.prune, o_.prune_scope)(model);
      say(std::string("pruned ") + pct + " of the weights (" + o_.prune_scope + ")");
    }
  }
  if (k_) {
    if (o_.prune && !o_.structured) {
      bake_masks(model);
      say("baked the masks (shared weights keep the pruned ones near zero, not at it)");
    }
    KMeans sharer(k_);
    sharer(model);
    say("shared the weights: " + std::to_string(k_) + " centroids per layer");
  }
  if (q == "binary" || o_.qat) {
    prepare_qat(model, q == "binary" ? "binary" : "int8");
    say(std::string("fake-quantized the weights for training (") + (q == "binary" ? "binary" : "int8") + ")");
  }
  if (o_.finetune_epochs > 0) finetune(model, train, device, o_.finetune_epochs, o_.batchsize, o_.optimizer, progress);
  if (q == "int8" || q == "dynamic-int8" || q == "binary") {
    Quantizer quantizer(q == "int8" ? "static" : q == "binary" ? "binary" : "dynamic");
    std::unique_ptr<Calibration> calibration;
    if (q == "int8") {
      calibration = std::make_unique<Calibration>(o_.observer);
      calibrate(model, train, device, o_.calibrate, o_.batchsize);
      quantizer.set_calibration(calibration.get());
    }
    quantizer(model);
    say("quantized the Linear and Convolution2D weights (" +
        (q == "int8" ? "int8, static, calibrated on " + std::to_string(o_.calibrate) + " batches"
         : q == "binary" ? std::string("binary")
                         : std::string("int8, dynamic")) +
        ")");
  }
  if (q == "float16" || q == "bfloat16") {
    Cast(q == "float16" ? float16 : bfloat16)(model);
    say("stored the parameters as " + q);
  }
  const Measure m1 = measure(model, test, device, o_.batchsize);
  r.params = compare(before, model);
  r.accuracy_before = m0.accuracy, r.accuracy_after = m1.accuracy;
  r.latency_before_us = m0.latency_us, r.latency_after_us = m1.latency_us;
  return r;
}

std::string KitReport::table() const {
  std::string out = params.table() + "\n";
  char line[160];
  std::snprintf(line, sizeof line, "%-24s %12s %12s\n", "", "before", "after");
  out += line;
  std::snprintf(line, sizeof line, "%-24s %12.4f %12.4f\n", "test accuracy", accuracy_before, accuracy_after);
  out += line;
  std::snprintf(line, sizeof line, "%-24s %12.1f %12.1f\n", "batch-1 forward, us", latency_before_us, latency_after_us);
  out += line;
  return out;
}

PruningKit::PruningKit(double level, int finetune_epochs, bool structured)
    : Kit([&] {
        Options o;
        o.prune = level;
        o.finetune_epochs = finetune_epochs;
        o.structured = structured;
        return o;
      }()) {}

QuantizerKit::QuantizerKit(const std::string& method, int finetune_epochs, int calibrate)
    : Kit([&] {
        Options o;
        o.quantize = method;
        o.finetune_epochs = finetune_epochs;
        o.calibrate = calibrate;
        return o;
      }()) {}

}  // namespace compression
}  // namespace catena
