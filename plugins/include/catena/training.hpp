// Training: Reporter, Updater, Trainer, triggers and extensions, with Chainer's names,
// defaults and outputs (log keys, PrintReport columns, priorities).
//
//   catena::SerialIterator train_it(train, 100), test_it(test, 100, false, false);
//   catena::optimizers::Adam opt;  opt.setup(model);            // model: a L::Classifier
//   catena::training::StandardUpdater updater(train_it, opt, device);
//   catena::training::Trainer trainer(updater, {20, catena::training::Unit::epoch}, "result");
//   trainer.extend(std::make_shared<catena::training::Evaluator>(test_it, model, device));
//   trainer.extend(std::make_shared<catena::training::LogReport>());
//   trainer.extend(std::make_shared<catena::training::PrintReport>(std::vector<std::string>{
//       "epoch", "main/loss", "validation/main/loss", "main/accuracy", "validation/main/accuracy",
//       "elapsed_time"}));
//   trainer.run();
#pragma once

#include <catena/files.hpp>
#include <catena/iterator.hpp>
#include <catena/link.hpp>
#include <catena/optimizers.hpp>

#include <chrono>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace catena {

namespace training {

// Scalars reported in one iteration, in the order first reported.
class Observation {
 public:
  void set(const std::string& key, double value);
  const double* find(const std::string& key) const;
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }
  const std::vector<std::pair<std::string, double>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, double>> items_;
};

// Chainer's Reporter: observers are registered under names; values reported by an
// observer are stored under "<name>/<key>" in the current observation.
class Reporter {
 public:
  void add_observer(const std::string& name, const void* observer);
  // Registers `link` as `name` and each of its children as "name/<path>".
  void add_link(const std::string& name, Link& link);
  void report(const std::string& key, double value, const void* observer = nullptr);
  // Makes `observation` the current one and this reporter the current reporter of this
  // thread while the scope lives.
  class Scope {
   public:
    Scope(Reporter& r, Observation& o);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Reporter* prev_reporter_;
    Observation* prev_observation_;
    Reporter& r_;
  };

 private:
  std::vector<std::pair<const void*, std::string>> observers_;
  Observation* observation_ = nullptr;
};

// chainer.report: to the current reporter of this thread; nothing without one. A Variable
// or Tensor is read as a scalar (its one element).
void report(const std::string& key, double value, const void* observer = nullptr);
void report(const std::string& key, const Variable& value, const void* observer = nullptr);

// Running mean and standard deviation per key (Chainer's DictSummary).
class DictSummary {
 public:
  void add(const Observation& o);
  // Means, in the order the keys were first added.
  Observation compute_mean() const;
  // Means plus "<key>.std" entries.
  Observation make_statistics() const;
  void clear() { keys_.clear(), stats_.clear(); }
  // "_names" (one per line) and "_summaries/<i>/{_x,_x2,_n}", as Chainer's keys.
  void serialize(Serializer& s);

 private:
  struct Stat {
    double sum = 0, sum2 = 0;
    int64_t n = 0;
  };
  std::vector<std::string> keys_;
  std::map<std::string, Stat> stats_;
};

// --- Updaters --------------------------------------------------------------------------

class Updater : public Serializable {
 public:
  virtual ~Updater() = default;
  // One training iteration; must increment `iteration`.
  virtual void update() = 0;
  virtual Iterator& iterator() = 0;                     // the 'main' iterator
  virtual std::map<std::string, Optimizer*> optimizers() = 0;  // by name; 'main' first
  virtual void finalize() {}
  int64_t iteration = 0;
  int64_t epoch() { return iterator().epoch; }
  double epoch_detail() { return iterator().epoch_detail; }
  double previous_epoch_detail() { return iterator().previous_epoch_detail; }
  bool is_new_epoch() { return iterator().is_new_epoch; }
  // Chainer's keys: "iterator:main", "optimizer:<name>", "model:<name>" (the optimizer's
  // target), "iteration". Models are read before their optimizers' state, so lazily
  // initialised parameters exist when their state is loaded.
  void serialize(Serializer& s) override;
};

using LossFunction = std::function<Variable(const Example& batch)>;

// Chainer's StandardUpdater: next batch onto `device`, then optimizer.update(loss).
// Without a loss function the optimizer's target must be a LossLink (e.g. L::Classifier).
// Subclass and override update_core() for other schemes (GANs: several optimizers).
class StandardUpdater : public Updater {
 public:
  StandardUpdater(Iterator& iterator, Optimizer& optimizer, Device& device = default_device(),
                  LossFunction loss_func = {});
  StandardUpdater(std::map<std::string, Iterator*> iterators, std::map<std::string, Optimizer*> optimizers,
                  Device& device = default_device(), LossFunction loss_func = {});
  void update() final;
  Iterator& iterator() override { return *iterators_.at("main"); }
  Iterator& iterator(const std::string& name) { return *iterators_.at(name); }
  Optimizer& optimizer(const std::string& name = "main") { return *optimizers_.at(name); }
  std::map<std::string, Optimizer*> optimizers() override { return optimizers_; }
  Device& device() const { return *device_; }
  // Every iterator ("iterator:<name>"), then as Updater::serialize.
  void serialize(Serializer& s) override;

 protected:
  virtual void update_core();

 private:
  std::map<std::string, Iterator*> iterators_;
  std::map<std::string, Optimizer*> optimizers_;
  Device* device_;
  LossFunction loss_;
};

// --- Triggers --------------------------------------------------------------------------

class Trainer;
enum class Unit { epoch, iteration };

class Trigger {
 public:
  virtual ~Trigger() = default;
  virtual bool operator()(Trainer& trainer) = 0;
  // For progress bars: the length this trigger stops training at, if it is one.
  virtual std::optional<std::pair<double, Unit>> training_length() const { return std::nullopt; }
  // For snapshots: triggers with state save it (Chainer's previous_epoch_detail ...).
  virtual void serialize(Serializer&) {}
};
using TriggerPtr = std::shared_ptr<Trigger>;

// Fires every `period` epochs or iterations (on epoch_detail, so fractional periods work).
class IntervalTrigger : public Trigger {
 public:
  IntervalTrigger(double period, Unit unit);
  bool operator()(Trainer& trainer) override;
  std::optional<std::pair<double, Unit>> training_length() const override { return std::make_pair(period_, unit_); }
  void serialize(Serializer& s) override;

 private:
  double period_;
  Unit unit_;
  double previous_ = 0;
};

// Fires at each of `points` (in `unit`) once passed.
class ManualScheduleTrigger : public Trigger {
 public:
  ManualScheduleTrigger(std::vector<double> points, Unit unit);
  bool operator()(Trainer& trainer) override;
  void serialize(Serializer& s) override;
  bool finished = false;

 private:
  std::vector<double> points_;
  Unit unit_;
  double previous_ = 0;
};

// Fires when the mean of `key` over the interval is the best so far (MaxValueTrigger:
// larger is better; MinValueTrigger: smaller). Typical key: "validation/main/accuracy".
class BestValueTrigger : public Trigger {
 public:
  BestValueTrigger(std::string key, bool maximize, TriggerPtr interval);
  bool operator()(Trainer& trainer) override;
  void serialize(Serializer& s) override;

 private:
  std::string key_;
  bool maximize_;
  TriggerPtr interval_;
  DictSummary summary_;
  std::optional<double> best_;
};
TriggerPtr MaxValueTrigger(const std::string& key, TriggerPtr interval = {});
TriggerPtr MinValueTrigger(const std::string& key, TriggerPtr interval = {});

inline TriggerPtr every(double period, Unit unit) { return std::make_shared<IntervalTrigger>(period, unit); }

// --- Extensions ------------------------------------------------------------------------

constexpr int PRIORITY_WRITER = 300, PRIORITY_EDITOR = 200, PRIORITY_READER = 100;

class Extension {
 public:
  virtual ~Extension() = default;
  virtual void operator()(Trainer& trainer) = 0;
  virtual std::string default_name() const = 0;
  virtual TriggerPtr default_trigger() const { return every(1, Unit::iteration); }
  virtual int priority() const { return PRIORITY_READER; }
  virtual void initialize(Trainer&) {}
  virtual void finalize() {}
  // For snapshots: extensions with state save it under "extensions/<name>/".
  virtual void serialize(Serializer&) {}
};

// Takes `dir` for one run that writes into it (a FolderLock: made when missing, checked
// writable, refused when another process is writing there), and removes the temporaries
// runs killed mid-write left there, saying so in one line on stderr.
std::unique_ptr<FolderLock> claim_folder(const std::string& dir);

class Trainer : public Serializable {
 public:
  Trainer(Updater& updater, TriggerPtr stop_trigger, std::string out = "result");
  Trainer(Updater& updater, std::pair<double, Unit> stop, std::string out = "result");
  // Name defaults to the extension's; a taken name gets "_1", "_2"... Trigger and
  // priority default to the extension's.
  void extend(std::shared_ptr<Extension> extension, std::string name = "", TriggerPtr trigger = {},
              std::optional<int> priority = {}, bool call_before_training = false);
  // Runs until the stop trigger fires (once per Trainer), holding `out` (claim_folder)
  // throughout. On an error the extensions are finalized and the error propagates.
  void run();
  Extension& get_extension(const std::string& name);
  // Seconds of training: since run() began, plus the time of the run a snapshot resumed.
  double elapsed_time() const;
  // Chainer's trainer snapshot: "updater/...", "stop_trigger/...", "extensions/<name>/...",
  // "extension_triggers/<name>/...", "_snapshot_elapsed_time"; plus the state of
  // catena's random generator ("_random_state/{seed,offset}"), so a resumed run draws the
  // same numbers (dropout, noise) as one never stopped.
  void serialize(Serializer& s) override;

  Updater& updater;
  TriggerPtr stop_trigger;
  std::string out;
  Reporter reporter;
  Observation observation;  // what the current iteration reported

 private:
  struct Entry {
    std::string name;
    std::shared_ptr<Extension> ext;
    TriggerPtr trigger;
    int priority;
    bool before;
  };
  std::vector<Entry> extensions_;
  bool done_ = false;
  bool running_ = false;
  std::chrono::steady_clock::time_point start_;
  double elapsed_before_ = 0;  // restored from a snapshot
};

// Runs the target over a whole (non-repeating) iterator with train=false and no graph,
// and reports the mean of what it reports (each batch weighs 1, as in Chainer) under
// "validation/main/...".
class Evaluator : public Extension {
 public:
  Evaluator(Iterator& iterator, Link& target, Device& device = default_device(), LossFunction eval_func = {});
  void operator()(Trainer& trainer) override;
  Observation evaluate();
  std::string default_name() const override { return "validation"; }
  TriggerPtr default_trigger() const override { return every(1, Unit::epoch); }
  int priority() const override { return PRIORITY_WRITER; }
  std::string name = "validation";

 private:
  Iterator& iterator_;
  Link& target_;
  Device* device_;
  LossFunction eval_;
};

// Accumulates every reported scalar; at each trigger appends the means plus epoch,
// iteration and elapsed_time to `out/filename` as Chainer's JSON log.
class LogReport : public Extension {
 public:
  explicit LogReport(std::vector<std::string> keys = {}, TriggerPtr trigger = every(1, Unit::epoch),
                     std::string filename = "log");
  void operator()(Trainer& trainer) override;
  std::string default_name() const override { return "LogReport"; }
  TriggerPtr default_trigger() const override { return every(1, Unit::iteration); }
  const std::vector<Observation>& log() const { return log_; }
  std::function<void(Observation&)> postprocess;
  // "_trigger/...", "_summary/...", and "_log" (the entries as text, exact).
  void serialize(Serializer& s) override;

 private:
  void write(const std::string& dir);
  std::vector<std::string> keys_;
  TriggerPtr trigger_;
  std::string filename_;
  DictSummary summary_;
  std::vector<Observation> log_;
};

// Prints the LogReport's new entries as Chainer's table (columns max(10, len) wide).
class PrintReport : public Extension {
 public:
  explicit PrintReport(std::vector<std::string> entries, std::string log_report = "LogReport", std::ostream* out = nullptr);
  void operator()(Trainer& trainer) override;
  std::string default_name() const override { return "PrintReport"; }

 private:
  std::vector<std::string> entries_;
  std::string log_report_;
  std::ostream* out_;
  size_t printed_ = 0;
  bool header_done_ = false;
};

// On a terminal: Chainer's two bars, iterations/s and the estimated time left, redrawn
// in place every update_interval iterations; elsewhere one plain line per update.
class ProgressBar : public Extension {
 public:
  explicit ProgressBar(std::optional<std::pair<double, Unit>> training_length = {}, int update_interval = 100,
                       int bar_length = 50, std::ostream* out = nullptr);
  void operator()(Trainer& trainer) override;
  void finalize() override;
  std::string default_name() const override { return "ProgressBar"; }
  bool tty = false;  // set from the stream at the first call; tests may set it

 private:
  std::optional<std::pair<double, Unit>> length_;
  int interval_, bar_length_;
  std::ostream* out_;
  bool started_ = false;
  std::vector<std::pair<int64_t, double>> recent_;  // (iteration, time)
  bool drew_ = false;
};

// Multiplies an optimizer's hyper-parameter by `rate` at each trigger, stopping at
// `target` (Chainer's ExponentialShift).
class ExponentialShift : public Extension {
 public:
  ExponentialShift(std::string attr, double rate, std::optional<double> init = {}, std::optional<double> target = {},
                   std::string optimizer = "main");
  void operator()(Trainer& trainer) override;
  void initialize(Trainer& trainer) override;
  std::string default_name() const override { return "ExponentialShift"; }
  void serialize(Serializer& s) override;  // "_t", "_init"

 private:
  double value() const;  // at step t_
  std::string attr_, optimizer_;
  double rate_;
  std::optional<double> init_, target_;
  int64_t t_ = 0;
};

// Moves a hyper-parameter linearly from value_range.first to .second between iterations
// time_range.first and .second (Chainer's LinearShift).
class LinearShift : public Extension {
 public:
  LinearShift(std::string attr, std::pair<double, double> value_range, std::pair<int64_t, int64_t> time_range,
              std::string optimizer = "main");
  void operator()(Trainer& trainer) override;
  void initialize(Trainer& trainer) override;
  std::string default_name() const override { return "LinearShift"; }
  void serialize(Serializer& s) override;  // "_t"

 private:
  double value_at(int64_t t) const;
  std::string attr_, optimizer_;
  std::pair<double, double> values_;
  std::pair<int64_t, int64_t> times_;
  int64_t t_ = 0;
};

// Reports `key` = fn(trainer) into the observation (Chainer's observe_value); observe_lr
// reports the optimizer's learning rate as "lr".
class ObserveValue : public Extension {
 public:
  ObserveValue(std::string key, std::function<double(Trainer&)> fn);
  void operator()(Trainer& trainer) override;
  std::string default_name() const override { return "observe_" + key_; }
  int priority() const override { return PRIORITY_WRITER; }

 private:
  std::string key_;
  std::function<double(Trainer&)> fn_;
};
std::shared_ptr<Extension> observe_lr(const std::string& optimizer = "main", const std::string& key = "lr");

// Draws the means of `y_keys` against "epoch" or "iteration" at each trigger and writes
// them to out/filename as an SVG image.
class PlotReport : public Extension {
 public:
  PlotReport(std::vector<std::string> y_keys, std::string x_key = "epoch", TriggerPtr trigger = every(1, Unit::epoch),
             std::string filename = "plot.svg");
  void operator()(Trainer& trainer) override;
  std::string default_name() const override { return "PlotReport"; }
  void serialize(Serializer& s) override;  // the trigger, summary and points drawn
  // The SVG for the given series (for tests and other uses).
  static std::string render(const std::vector<std::string>& y_keys, const std::string& x_key,
                            const std::map<std::string, std::vector<std::pair<double, double>>>& series);

 private:
  std::vector<std::string> y_keys_;
  std::string x_key_;
  TriggerPtr trigger_;
  std::string filename_;
  DictSummary summary_;
  std::map<std::string, std::vector<std::pair<double, double>>> series_;
};

// Chainer's snapshot(): at each trigger (default: every epoch) writes the whole trainer —
// model, optimizer state, updater, iterator positions, random state, extensions — to
// out/<filename>, where "{iteration}" and "{epoch}" in the name are replaced. Written
// atomically (temporary file, fsync, rename): a crash leaves the previous snapshot whole.
// n_retains > 0 keeps only that many newest snapshots of this pattern. With autoload, the
// newest snapshot of the pattern in out is loaded when training starts.
class Snapshot : public Extension {
 public:
  explicit Snapshot(std::string filename = "snapshot_iter_{iteration}.npz", int n_retains = -1, bool autoload = false);
  void operator()(Trainer& trainer) override;
  void initialize(Trainer& trainer) override;
  std::string default_name() const override { return "_Snapshot"; }
  TriggerPtr default_trigger() const override { return every(1, Unit::epoch); }
  int priority() const override { return -100; }
  // The file name for a trainer's state.
  std::string file_name(Trainer& trainer) const;
  // The snapshots of this pattern in `dir`, oldest (lowest iteration) first.
  std::vector<std::string> existing(const std::string& dir) const;

 private:
  std::string pattern_;
  int n_retains_;
  bool autoload_;
};

// Loads a trainer snapshot into `trainer` (all or nothing) before run().
void resume(Trainer& trainer, const std::string& snapshot_file);

}  // namespace training
}  // namespace catena
