// Evaluator, LogReport, PrintReport, ProgressBar, the hyper-parameter shifts and
// observe_value.
#include <catena/config.hpp>
#include <catena/serializers.hpp>
#include <catena/training.hpp>

#include "../common/json_text.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace catena {
namespace training {

namespace {

// Python's repr of a float: the shortest text that reads back the same.
std::string py_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  // Python writes 1.0, not 1; and 1e-05 as 1e-05 (already).
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

using detail::json_string;

bool is_integral_key(const std::string& k) { return k == "epoch" || k == "iteration"; }

bool is_terminal(std::ostream* out) {
  if (out == &std::cout) return ::isatty(1);
  if (out == &std::cerr) return ::isatty(2);
  return false;
}

}  // namespace

// --- Evaluator -------------------------------------------------------------------------

Evaluator::Evaluator(Iterator& iterator, Link& target, Device& device, LossFunction eval_func)
    : iterator_(iterator), target_(target), device_(&device), eval_(std::move(eval_func)) {
  if (iterator.repeat())
    throw Error(CT_INVALID_ARGUMENT, "Evaluator: the iterator repeats forever; make it with repeat=false");
  if (!eval_ && !dynamic_cast<LossLink*>(&target))
    throw Error(CT_INVALID_ARGUMENT, "Evaluator: the target is not a LossLink (such as L::Classifier); give an eval function");
}

Observation Evaluator::evaluate() {
  Reporter reporter;
  reporter.add_link(name + "/main", target_);
  DictSummary summary;
  iterator_.reset();
  UsingConfig not_training(&Config::train, false);
  auto no_graph = no_backprop_mode();
  LossLink* loss = dynamic_cast<LossLink*>(&target_);
  while (std::optional<Example> batch = iterator_.next_batch(*device_)) {
    Observation o;
    {
      Reporter::Scope scope(reporter, o);
      if (eval_) eval_(*batch);
      else loss->loss(*batch);
    }
    summary.add(o);
  }
  return summary.compute_mean();
}

void Evaluator::operator()(Trainer&) {
  Observation result = evaluate();
  for (auto& [k, v] : result.items()) report(k, v);
}

// --- LogReport -------------------------------------------------------------------------

LogReport::LogReport(std::vector<std::string> keys, TriggerPtr trigger, std::string filename)
    : keys_(std::move(keys)), trigger_(trigger ? trigger : every(1, Unit::epoch)), filename_(std::move(filename)) {}

void LogReport::operator()(Trainer& t) {
  if (keys_.empty()) {
    summary_.add(t.observation);
  } else {
    Observation picked;
    for (const std::string& k : keys_)
      if (const double* v = t.observation.find(k)) picked.set(k, *v);
    summary_.add(picked);
  }
  if (!(*trigger_)(t)) return;
  Observation entry = summary_.compute_mean();
  entry.set("epoch", double(t.updater.epoch()));
  entry.set("iteration", double(t.updater.iteration));
  entry.set("elapsed_time", t.elapsed_time());
  if (postprocess) postprocess(entry);
  log_.push_back(entry);
  if (!filename_.empty()) write(t.out);
  summary_.clear();
}

void LogReport::write(const std::string& dir) {
  // json.dump(log, indent=4), as Chainer writes it.
  std::string s = "[";
  for (size_t i = 0; i < log_.size(); ++i) {
    s += i ? ",\n    {" : "\n    {";
    const auto& items = log_[i].items();
    for (size_t k = 0; k < items.size(); ++k) {
      const auto& [key, v] = items[k];
      s += (k ? ",\n        " : "\n        ") + json_string(key) + ": ";
      s += is_integral_key(key) ? std::to_string(int64_t(v)) : py_float(v);
    }
    s += "\n    }";
  }
  s += log_.empty() ? "]" : "\n]";
  write_file_atomic(dir + "/" + filename_, s);
}

// --- PrintReport -----------------------------------------------------------------------

PrintReport::PrintReport(std::vector<std::string> entries, std::string log_report, std::ostream* out)
    : entries_(std::move(entries)), log_report_(std::move(log_report)), out_(out ? out : &std::cout) {}

void PrintReport::operator()(Trainer& t) {
  LogReport* lr = dynamic_cast<LogReport*>(&t.get_extension(log_report_));
  if (!lr) throw Error(CT_INVALID_ARGUMENT, "PrintReport: '" + log_report_ + "' is not a LogReport");
  std::ostream& o = *out_;
  auto width = [](const std::string& e) { return std::max<size_t>(10, e.size()); };
  if (!header_done_) {
    std::string header;
    for (size_t i = 0; i < entries_.size(); ++i) {
      std::string cell = entries_[i];
      cell.resize(width(entries_[i]), ' ');
      header += (i ? "  " : "") + cell;
    }
    o << header << "\n";
    header_done_ = true;
  }
  const bool tty = is_terminal(out_);
  while (printed_ < lr->log().size()) {
    const Observation& row = lr->log()[printed_++];
    if (tty) o << "\033[J";
    for (const std::string& e : entries_) {
      size_t w = width(e);
      if (const double* v = row.find(e)) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%-*g  ", int(w), *v);
        o << buf;
      } else {
        o << std::string(w + 2, ' ');
      }
    }
    o << "\n";
  }
  o.flush();
}

// --- ProgressBar -----------------------------------------------------------------------

ProgressBar::ProgressBar(std::optional<std::pair<double, Unit>> training_length, int update_interval, int bar_length,
                         std::ostream* out)
    : length_(training_length), interval_(std::max(1, update_interval)), bar_length_(std::max(1, bar_length)),
      out_(out ? out : &std::cout) {}

namespace {

std::string bar(double fraction, int length) {
  fraction = std::min(1.0, std::max(0.0, fraction));
  int marks = int(fraction * length);
  return "[" + std::string(size_t(marks), '#') + std::string(size_t(length - marks), '.') + "]";
}

std::string hms(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  int64_t s = int64_t(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
  return buf;
}

}  // namespace

void ProgressBar::operator()(Trainer& t) {
  if (!started_) {
    started_ = true;
    tty = tty || is_terminal(out_);
    if (!length_) length_ = t.stop_trigger->training_length();
  }
  int64_t it = t.updater.iteration;
  double now = t.elapsed_time();
  recent_.push_back({it, now});
  if (recent_.size() > 10) recent_.erase(recent_.begin());
  if (it % interval_ != 0) return;
  std::ostream& o = *out_;
  double speed = 0;
  if (recent_.size() > 1 && recent_.back().second > recent_.front().second)
    speed = double(recent_.back().first - recent_.front().first) / (recent_.back().second - recent_.front().second);
  double total = 0, done = 0;
  const char* unit = "iteration";
  if (length_) {
    total = length_->first;
    unit = length_->second == Unit::epoch ? "epoch" : "iteration";
    done = length_->second == Unit::epoch ? t.updater.epoch_detail() : double(it);
  }
  double fraction = total > 0 ? done / total : 0;
  double epoch_fraction = t.updater.epoch_detail() - std::floor(t.updater.epoch_detail());
  // Time left: the remaining iterations at the current speed.
  double left = 0;
  if (speed > 0 && fraction > 0) left = (double(it) / fraction - double(it)) / speed;
  char line[256];
  if (tty) {
    if (drew_) o << "\033[4A";
    char pct[32];
    std::snprintf(pct, sizeof pct, " %6.2f%%", fraction * 100);
    o << "\033[J     total " << bar(fraction, bar_length_) << pct << "\n";
    std::snprintf(pct, sizeof pct, " %6.2f%%", epoch_fraction * 100);
    o << "this epoch " << bar(epoch_fraction, bar_length_) << pct << "\n";
    std::snprintf(line, sizeof line, "%10lld iter, %lld epoch / %g %ss\n", (long long)it,
                  (long long)t.updater.epoch(), total, unit);
    o << line;
    std::snprintf(line, sizeof line, "%10.5g iters/sec. Estimated time to finish: %s.\n", speed, hms(left).c_str());
    o << line;
    drew_ = true;
  } else {
    std::snprintf(line, sizeof line, "iteration %lld, epoch %lld / %g %ss (%.1f%%), %.4g iters/sec, %s left\n",
                  (long long)it, (long long)t.updater.epoch(), total, unit, fraction * 100, speed, hms(left).c_str());
    o << line;
  }
  o.flush();
}

void ProgressBar::finalize() {
  if (tty && drew_) {
    *out_ << "\033[J";
    out_->flush();
  }
}

// --- Shifts and observe_value ----------------------------------------------------------

namespace {

Optimizer& find_optimizer(Trainer& t, const std::string& name) {
  auto opts = t.updater.optimizers();
  auto it = opts.find(name);
  if (it == opts.end() || !it->second) throw Error(CT_NOT_FOUND, "no optimizer named '" + name + "' in the updater");
  return *it->second;
}

}  // namespace

ExponentialShift::ExponentialShift(std::string attr, double rate, std::optional<double> init,
                                   std::optional<double> target, std::string optimizer)
    : attr_(std::move(attr)), optimizer_(std::move(optimizer)), rate_(rate), init_(init), target_(target) {
  if (!(rate > 0)) throw Error(CT_INVALID_ARGUMENT, "ExponentialShift: the rate must be positive");
}

void ExponentialShift::initialize(Trainer& t) {
  Optimizer& opt = find_optimizer(t, optimizer_);
  if (!init_) init_ = opt.hyperparam(attr_);
  opt.set_hyperparam(attr_, value());
}

double ExponentialShift::value() const {
  double v = *init_ * std::pow(rate_, double(t_));
  if (target_) v = rate_ > 1 ? std::min(v, *target_) : std::max(v, *target_);
  return v;
}

void ExponentialShift::operator()(Trainer& t) {
  ++t_;
  find_optimizer(t, optimizer_).set_hyperparam(attr_, value());
}

LinearShift::LinearShift(std::string attr, std::pair<double, double> value_range,
                         std::pair<int64_t, int64_t> time_range, std::string optimizer)
    : attr_(std::move(attr)), optimizer_(std::move(optimizer)), values_(value_range), times_(time_range) {
  if (time_range.second <= time_range.first)
    throw Error(CT_INVALID_ARGUMENT, "LinearShift: time_range must be increasing");
}

double LinearShift::value_at(int64_t t) const {
  if (t <= times_.first) return values_.first;
  if (t >= times_.second) return values_.second;
  double r = double(t - times_.first) / double(times_.second - times_.first);
  return values_.first + r * (values_.second - values_.first);
}

void LinearShift::initialize(Trainer& t) { find_optimizer(t, optimizer_).set_hyperparam(attr_, value_at(t_)); }

void LinearShift::operator()(Trainer& t) {
  ++t_;
  find_optimizer(t, optimizer_).set_hyperparam(attr_, value_at(t_));
}

ObserveValue::ObserveValue(std::string key, std::function<double(Trainer&)> fn) : key_(std::move(key)), fn_(std::move(fn)) {
  if (!fn_) throw Error(CT_INVALID_ARGUMENT, "observe_value: the function is empty");
}

void ObserveValue::operator()(Trainer& t) { t.observation.set(key_, fn_(t)); }

std::shared_ptr<Extension> observe_lr(const std::string& optimizer, const std::string& key) {
  return std::make_shared<ObserveValue>(key, [optimizer](Trainer& t) {
    Optimizer& opt = find_optimizer(t, optimizer);
    return opt.hyperparam(opt.lr_name());
  });
}

}  // namespace training
}  // namespace catena
