// Model compression: compressors registered by name (like links and optimizers), applied
// in place to any Link tree, written only against the public runtime API and ops, so the
// compressed model runs on whichever device is loaded.
//
//   catena::compression::Pruner pruner(0.5);          // 50 % of the weights, smallest first
//   pruner(model);                                    // masks that fine-tuning keeps
//   catena::compression::Quantizer quantizer;         // dynamic int8 for every Linear
//   quantizer(model);
//   auto c = catena::compression::create("prune", {{"level", 0.9}, {"scope", "global"}});
//   std::cout << (*c)(model).table();
//
// The compressed forms live in the parameters (Parameter::mask, Parameter::quantized), so
// every file that saves a model — parameter files, whole-model files, snapshots — keeps
// them, sparse or in int8, and loads them back on any device.
#pragma once

#include <catena/dataset.hpp>
#include <catena/link.hpp>
#include <catena/links.hpp>
#include <catena/training.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace catena {
namespace compression {

// An option of a compressor: a number (level, k) or a word (scope, method).
class Option {
 public:
  Option(double v) : number_(v), is_number_(true) {}
  Option(int v) : number_(v), is_number_(true) {}
  Option(const char* v) : text_(v) {}
  Option(std::string v) : text_(std::move(v)) {}
  bool is_number() const { return is_number_; }
  double number() const { return number_; }
  const std::string& text() const { return text_; }
  std::string str() const;

 private:
  double number_ = 0;
  std::string text_;
  bool is_number_ = false;
};
using Options = std::map<std::string, Option>;

// What compression did to one parameter, and in total.
struct ParamReport {
  std::string path;       // "/predictor/l1/W"
  Shape shape;            // now (structured pruning shrinks it)
  int64_t elements_before = 0, elements = 0;
  int64_t nonzero = 0;    // elements not pruned
  uint64_t bytes_before = 0, bytes = 0;  // as a file stores it
  std::string form;       // "float32", "pruned", "int8", ...
};
struct Report {
  std::vector<ParamReport> params;
  int64_t elements_before() const;
  int64_t elements() const;
  int64_t nonzero() const;
  uint64_t bytes_before() const;
  uint64_t bytes() const;
  // One line per parameter and a total: elements before and after, nonzero ones,
  // sparsity, bytes after and before, and their ratio.
  std::string table() const;
};

// How a file stores `p` now, in bytes (its arrays' data: sparse for a pruned parameter,
// int8 and scales for a quantized one).
uint64_t stored_bytes(const Parameter& p);
// The report of a model as it is (before = now): the starting point of a comparison.
Report describe(Link& model);
// The report of `model` now, with `before`'s sizes as the starting point.
Report compare(const Report& before, Link& model);

class Compressor {
 public:
  virtual ~Compressor() = default;
  virtual const char* name() const = 0;
  // Compresses `model` in place and reports what it did (before: as the model was).
  virtual Report operator()(Link& model) = 0;
};

using Factory = std::function<std::unique_ptr<Compressor>(const Options&)>;
// Registered in-tree: "prune" (level, scope: magnitude pruning; structured = 1, norm:
// structured pruning), "quantize" (mode: dynamic, static, binary), "kmeans" (k) and
// "cast" (dtype: float16, bfloat16). Unknown names,
// unknown options and bad values throw, saying what is known or allowed.
void register_compressor(const std::string& name, std::vector<std::string> option_names, Factory make);
std::unique_ptr<Compressor> create(const std::string& name, const Options& options = {});
std::vector<std::string> names();

// The weights compressors act on: every parameter named W with at least two dimensions
// (Linear, Convolution2D, Deconvolution2D, EmbedID ...), by path.
std::vector<std::pair<std::string, Parameter*>> weights(Link& model);
// The weight of a layer whose forward knows the compressed forms: a Linear's, or a
// Convolution2D's (a grouped one's only when `grouped`); nullptr for any other link.
Parameter* layer_weights(Link* layer, bool grouped = true);

// --- Pruning ------------------------------------------------------------------------------

// Magnitude pruning: the `level` fraction (in [0, 1)) of the weights with the smallest
// |w| are masked to zero — per parameter (scope "layer": floor(level n) of each) or over
// all of them at once (scope "global": one threshold). Weights pruned before count among
// the smallest, so pruning again to a higher level extends the masks. Ties go to the
// lower index. Throws when the model has no weights to prune.
class Pruner : public Compressor {
 public:
  explicit Pruner(double level = 0.5, std::string scope = "global");
  const char* name() const override { return "prune"; }
  Report operator()(Link& model) override;
  double level() const { return level_; }
  void set_level(double level);

 private:
  double level_;
  std::string scope_;
};

// Structured pruning: removes the `level` fraction of each layer's output units (Linear)
// or channels (Convolution2D) with the smallest L1 or L2 norm — and with them the next
// layer's inputs and the entries of a BatchNormalization between — so the model is
// smaller and faster, not sparser. Needs a model whose forward is a chain
// (Link::sequence(): a Sequential, the mlp and cnn models, a Classifier of them); the
// last layer (the outputs) keeps its units. Every layer keeps at least one. Structured
// pruning comes before magnitude pruning and quantization (it refuses masks and int8).
class StructuredPruner : public Compressor {
 public:
  explicit StructuredPruner(double level = 0.5, std::string norm = "l2");
  const char* name() const override { return "prune"; }
  Report operator()(Link& model) override;

 private:
  double level_;
  std::string norm_;
};

// Removes the masks, keeping the pruned weights at zero (a dense model again: files then
// store every weight, as Chainer's do).
void bake_masks(Link& model);

// Zhu & Gupta's gradual pruning (2017): the level at iteration t of a schedule from
// `begin` to `end` (iterations) towards `target`, starting from `initial`:
// target + (initial - target) (1 - (t - begin) / (end - begin))^3, constant outside.
double gradual_level(double initial, double target, int64_t begin, int64_t end, int64_t t);

// The gradual schedule as a Trainer extension: at every `every`-th iteration from `begin`
// on (and at `end`), the model's weights are pruned by magnitude (`scope`) to
// gradual_level(initial, target, begin, end, iteration); the masks hold in between. The
// level reached is in snapshots, so a resumed run prunes on from it.
class GradualPruning : public training::Extension {
 public:
  GradualPruning(Link& model, double target, int64_t begin, int64_t end, int64_t every = 100, double initial = 0.0,
                 std::string scope = "global");
  void operator()(training::Trainer& trainer) override;
  std::string default_name() const override { return "GradualPruning"; }
  void serialize(Serializer& s) override;
  double level() const { return level_; }

 private:
  Link& model_;
  double target_, initial_, level_ = -1;
  int64_t begin_, end_, every_;
  std::string scope_;
};

// --- Quantization -------------------------------------------------------------------------

// An observer of activations for static quantization: the scale of each layer's input from
// the batches seen while calibrating.
//   "minmax": the largest |x| seen, over 127.
//   "percentile": the given percentile of |x| (default 99.99), over 127 — outliers clip.
class Calibration {
 public:
  explicit Calibration(std::string observer = "minmax", double percentile = 99.99);
  ~Calibration();
  Calibration(const Calibration&) = delete;
  Calibration& operator=(const Calibration&) = delete;
  // While this object lives, the inputs of Linear layers run on this thread are observed.
  void see(const Link& layer, const Tensor& x);
  // The scale for `layer` (0 when it saw nothing).
  double scale(const Link& layer) const;
  int64_t batches(const Link& layer) const;

 private:
  struct Seen;
  std::string observer_;
  double percentile_;
  std::map<const Link*, std::shared_ptr<Seen>> seen_;
  Calibration* outer_;
};

// Called by the layers that can be quantized (Linear, Convolution2D) with each input: the Calibration alive
// on this thread, if any, observes it.
void observe_input(const Link& layer, const Tensor& x);

// int8 quantization of every Linear and Convolution2D (groups 1) layer's weights,
// symmetric, one scale per output row or channel (max |w| / 127). mode "dynamic":
// activations quantized per row at run time; mode "static": each layer's input scale from
// a Calibration the caller ran (set_calibration); mode "binary": weights sign(w) times
// the channel's mean |w| (XNOR-Net's binary weights; stored one bit a weight), computed in
// int8 with activations quantized per row.
class Quantizer : public Compressor {
 public:
  explicit Quantizer(std::string mode = "dynamic");
  const char* name() const override { return "quantize"; }
  // For mode "static": the calibration whose scales the layers take (it must outlive the call).
  void set_calibration(const Calibration* c) { calibration_ = c; }
  Report operator()(Link& model) override;

 private:
  std::string mode_;
  const Calibration* calibration_ = nullptr;
};

// Quantization-aware training: the Linear and Convolution2D weights are fake-quantized in
// every forward ("int8" or "binary", F::fake_quantize, straight-through gradient), so
// training adapts to the quantization; a Quantizer of the same scheme then converts them
// (mode dynamic or static for "int8", binary for "binary"). Returns how many it prepared.
int prepare_qat(Link& model, const std::string& scheme = "int8");

// Deep Compression's weight sharing: each Linear and Convolution2D weight replaced by a
// codebook of k centroids (1-D k-means, initialised evenly between its min and max) and an
// index per weight (4 bits when k <= 16). The centroids stay trainable (fine-tuning moves
// each by the sum of its members' gradients).
class KMeans : public Compressor {
 public:
  explicit KMeans(int k = 16, int iterations = 30);
  const char* name() const override { return "kmeans"; }
  Report operator()(Link& model) override;

 private:
  int k_, iterations_;
};

// float16 or bfloat16 storage of every floating-point parameter: files hold half the bytes;
// the model computes in its own dtype, from the values rounded to the half type.
class Cast : public Compressor {
 public:
  explicit Cast(Dtype to = float16);
  const char* name() const override { return "cast"; }
  Report operator()(Link& model) override;

 private:
  Dtype to_;
};

// --- Kits ---------------------------------------------------------------------------------

// What a kit did: the parameters' report, and the model's test accuracy and batch-1
// latency (median of 200 forwards, no graph) before and after.
struct KitReport {
  Report params;
  double accuracy_before = 0, accuracy_after = 0;
  double latency_before_us = 0, latency_after_us = 0;
  // The parameters' table, then accuracy and latency before and after.
  std::string table() const;
};

// The whole compression pipeline over a classifier and its data: prune (magnitude or
// structured) -> fine-tune (masks hold) -> quantize (calibrating static int8 on training
// batches) -> evaluate. Weight sharing and binary weights train after the change instead
// (centroids; real weights behind their signs, binary-aware), and so does int8 with qat.
// Every option is checked when the kit is made, before any work.
class Kit {
 public:
  struct Options {
    std::optional<double> prune;          // the level, in [0, 1)
    std::string prune_scope = "global";   // magnitude pruning: global or layer
    bool structured = false;              // whole units and channels instead
    std::string prune_norm = "l2";        // structured: l1 or l2
    int finetune_epochs = 0;
    std::string optimizer = "adam:alpha=0.0005";  // as catena train's --optimizer
    // "", dynamic-int8, int8 (static), binary, kmeans:K, float16, bfloat16
    std::string quantize;
    bool qat = false;                     // int8: fine-tune fake-quantized
    int calibrate = 10;                   // training batches for static int8
    std::string observer = "minmax";      // or percentile
    int batchsize = 100;
  };
  explicit Kit(Options options);
  virtual ~Kit() = default;
  // Compresses `model` in place; `log` (when given) gets one line per phase, `progress`
  // the fine-tuning's progress.
  KitReport run(L::Classifier& model, const DatasetPtr& train, const DatasetPtr& test, Device& device,
                std::ostream* log = nullptr, std::ostream* progress = nullptr);
  const Options& options() const { return o_; }

 private:
  Options o_;
  int k_ = 0;  // kmeans:K
};

// The founding document's PruningKit: prune (magnitude, or structured) and fine-tune.
class PruningKit : public Kit {
 public:
  explicit PruningKit(double level, int finetune_epochs = 1, bool structured = false);
};

// The founding document's QuantizerKit: quantize (dynamic-int8, int8, binary, kmeans:K,
// float16, bfloat16), calibrating or fine-tuning as the method needs.
class QuantizerKit : public Kit {
 public:
  explicit QuantizerKit(const std::string& method = "dynamic-int8", int finetune_epochs = 0, int calibrate = 10);
};

}  // namespace compression
}  // namespace catena
