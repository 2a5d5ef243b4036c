// StandardUpdater, triggers and the Trainer loop.
#include <catena/training.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

namespace catena {
namespace training {

StandardUpdater::StandardUpdater(Iterator& iterator, Optimizer& optimizer, Device& device, LossFunction loss_func)
    : StandardUpdater({{"main", &iterator}}, {{"main", &optimizer}}, device, std::move(loss_func)) {}

StandardUpdater::StandardUpdater(std::map<std::string, Iterator*> iterators,
                                 std::map<std::string, Optimizer*> optimizers, Device& device, LossFunction loss_func)
    : iterators_(std::move(iterators)), optimizers_(std::move(optimizers)), device_(&device),
      loss_(std::move(loss_func)) {
  if (!iterators_.count("main") || !iterators_.at("main"))
    throw Error(CT_INVALID_ARGUMENT, "StandardUpdater: give an iterator named 'main'");
  if (!optimizers_.count("main") || !optimizers_.at("main"))
    throw Error(CT_INVALID_ARGUMENT, "StandardUpdater: give an optimizer named 'main'");
  Optimizer& opt = *optimizers_.at("main");
  if (!opt.target()) throw Error(CT_FAILED_PRECONDITION, "StandardUpdater: call optimizer.setup(model) first");
  if (!loss_ && !dynamic_cast<LossLink*>(opt.target()))
    throw Error(CT_INVALID_ARGUMENT, "StandardUpdater: the optimizer's target is not a LossLink (such as "
                                     "L::Classifier); wrap the model in one or give a loss function");
}

void StandardUpdater::update() {
  update_core();
  ++iteration;
}

void StandardUpdater::update_core() {
  std::optional<Example> batch = iterator().next_batch(*device_);
  if (!batch) throw Error(CT_OUT_OF_RANGE, "StandardUpdater: the 'main' iterator is exhausted (give it repeat=true)");
  Optimizer& opt = optimizer();
  if (loss_) {
    opt.update([&] { return loss_(*batch); });
  } else {
    LossLink* target = dynamic_cast<LossLink*>(opt.target());
    opt.update([&] { return target->loss(*batch); });
  }
}

namespace {

double progress(Trainer& t, Unit u) {
  return u == Unit::epoch ? t.updater.epoch_detail() : double(t.updater.iteration);
}

}  // namespace

IntervalTrigger::IntervalTrigger(double period, Unit unit) : period_(period), unit_(unit) {
  if (!(period > 0)) throw Error(CT_INVALID_ARGUMENT, "IntervalTrigger: the period must be positive");
}

bool IntervalTrigger::operator()(Trainer& t) {
  double now = progress(t, unit_);
  bool fire = std::floor(previous_ / period_) != std::floor(now / period_);
  previous_ = now;
  return fire;
}

ManualScheduleTrigger::ManualScheduleTrigger(std::vector<double> points, Unit unit)
    : points_(std::move(points)), unit_(unit) {
  std::sort(points_.begin(), points_.end());
}

bool ManualScheduleTrigger::operator()(Trainer& t) {
  double now = progress(t, unit_);
  bool fire = false;
  for (double p : points_)
    if (previous_ < p && p <= now) fire = true;
  if (!points_.empty() && now >= points_.back()) finished = true;
  previous_ = now;
  return fire;
}

BestValueTrigger::BestValueTrigger(std::string key, bool maximize, TriggerPtr interval)
    : key_(std::move(key)), maximize_(maximize), interval_(interval ? interval : every(1, Unit::epoch)) {}

bool BestValueTrigger::operator()(Trainer& t) {
  summary_.add(t.observation);
  if (!(*interval_)(t)) return false;
  Observation mean = summary_.compute_mean();
  summary_.clear();
  const double* v = mean.find(key_);
  if (!v) return false;
  bool better = !best_ || (maximize_ ? *v > *best_ : *v < *best_);
  if (better) best_ = *v;
  return better;
}

TriggerPtr MaxValueTrigger(const std::string& key, TriggerPtr interval) {
  return std::make_shared<BestValueTrigger>(key, true, interval);
}
TriggerPtr MinValueTrigger(const std::string& key, TriggerPtr interval) {
  return std::make_shared<BestValueTrigger>(key, false, interval);
}

Trainer::Trainer(Updater& u, TriggerPtr stop, std::string out_dir)
    : updater(u), stop_trigger(std::move(stop)), out(std::move(out_dir)) {
  if (!stop_trigger) throw Error(CT_INVALID_ARGUMENT, "Trainer: give a stop trigger, e.g. {20, Unit::epoch}");
  for (auto& [name, opt] : updater.optimizers())
    if (opt && opt->target()) reporter.add_link(name, *opt->target());
}

Trainer::Trainer(Updater& u, std::pair<double, Unit> stop, std::string out_dir)
    : Trainer(u, every(stop.first, stop.second), std::move(out_dir)) {}

void Trainer::extend(std::shared_ptr<Extension> ext, std::string name, TriggerPtr trigger, std::optional<int> priority,
                     bool before) {
  if (!ext) throw Error(CT_INVALID_ARGUMENT, "Trainer::extend: the extension is null");
  if (name.empty()) name = ext->default_name();
  std::string unique = name;
  for (int k = 1;; ++k) {
    bool taken = std::any_of(extensions_.begin(), extensions_.end(), [&](const Entry& e) { return e.name == unique; });
    if (!taken) break;
    unique = name + "_" + std::to_string(k);
  }
  if (!trigger) trigger = ext->default_trigger();
  int p = priority ? *priority : ext->priority();
  extensions_.push_back({unique, std::move(ext), std::move(trigger), p, before});
}

Extension& Trainer::get_extension(const std::string& name) {
  for (Entry& e : extensions_)
    if (e.name == name) return *e.ext;
  throw Error(CT_NOT_FOUND, "Trainer: no extension named '" + name + "'");
}

double Trainer::elapsed_time() const {
  if (!running_) return elapsed_before_;
  return elapsed_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::unique_ptr<FolderLock> claim_folder(const std::string& dir) {
  auto lock = std::make_unique<FolderLock>(dir);
  if (int n = remove_stale_temporaries(dir))
    std::cerr << "catena: removed " << n << " unfinished file" << (n == 1 ? "" : "s") << " in " << dir
              << " that a stopped run was writing\n";
  return lock;
}

void Trainer::run() {
  if (done_) throw Error(CT_FAILED_PRECONDITION, "Trainer::run: a trainer runs only once; make a new one");
  done_ = true;
  std::unique_ptr<FolderLock> held = claim_folder(out);
  std::stable_sort(extensions_.begin(), extensions_.end(),
                   [](const Entry& a, const Entry& b) { return a.priority > b.priority; });
  start_ = std::chrono::steady_clock::now();
  running_ = true;
  auto finalize = [&] {
    for (Entry& e : extensions_) e.ext->finalize();
    updater.finalize();
    running_ = false;
  };
  try {
    // Snapshots that load themselves (autoload) first, so the other extensions start
    // from the loaded state.
    for (Entry& e : extensions_)
      if (dynamic_cast<Snapshot*>(e.ext.get())) e.ext->initialize(*this);
    for (Entry& e : extensions_)
      if (!dynamic_cast<Snapshot*>(e.ext.get())) e.ext->initialize(*this);
    if (updater.iteration == 0) {
      observation.clear();
      Reporter::Scope scope(reporter, observation);
      for (Entry& e : extensions_)
        if (e.before) (*e.ext)(*this);
    }
    while (!(*stop_trigger)(*this)) {
      observation.clear();
      Reporter::Scope scope(reporter, observation);
      updater.update();
      for (Entry& e : extensions_)
        if ((*e.trigger)(*this)) (*e.ext)(*this);
    }
  } catch (...) {
    finalize();
    throw;
  }
  finalize();
}

}  // namespace training
}  // namespace catena
