// How the training objects write and read themselves (snapshots): updaters, triggers,
// summaries, the Trainer and the extensions with state, in Chainer's key layout.
#include <catena/random.hpp>
#include <catena/runtime.hpp>
#include <catena/training.hpp>

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace catena {
namespace training {

namespace {

// Text stored under a key, read in both loading passes (nullopt: None or missing, not
// strict).
std::optional<std::string> read_text(Serializer& s, const std::string& key) {
  const Tensor* t = s.get(key);
  if (!t) return std::nullopt;
  if (t->dtype() != uint8 || t->ndim() != 1) s.fail(key, "is not text (a 1-D uint8 array)");
  std::string out(size_t(t->numel()), '\0');
  if (!out.empty()) t->copy_to_host(&out[0], out.size());
  return out;
}

// One number under a key, read in both loading passes.
std::optional<double> read_number(Serializer& s, const std::string& key) {
  const Tensor* t = s.get(key);
  if (!t) return std::nullopt;
  if (t->numel() != 1) s.fail(key, "holds " + t->shape().str() + ", not one number");
  return t->astype(float64).to_vector<double>()[0];
}

void put_text(Serializer& s, const std::string& key, std::string text) { s(key, text); }

// Observations as text, exactly: "key<TAB>value" lines (values as C99 hex floats), a blank
// line after each observation.
std::string observations_text(const std::vector<Observation>& list) {
  std::string out;
  char buf[64];
  for (const Observation& o : list) {
    for (auto& [k, v] : o.items()) {
      std::snprintf(buf, sizeof buf, "%a", v);
      out += k + "\t" + buf + "\n";
    }
    out += "\n";
  }
  return out;
}

std::vector<Observation> parse_observations(Serializer& s, const std::string& key, const std::string& text) {
  std::vector<Observation> out;
  Observation cur;
  bool open = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (open) out.push_back(cur);
      cur.clear();
      open = false;
      continue;
    }
    size_t tab = line.rfind('\t');
    if (tab == std::string::npos || tab == 0) s.fail(key, "is not a log written by Catena (a line has no key and value)");
    char* end = nullptr;
    double v = std::strtod(line.c_str() + tab + 1, &end);
    if (!end || *end) s.fail(key, "is not a log written by Catena (a value is not a number)");
    cur.set(line.substr(0, tab), v);
    open = true;
  }
  if (open) out.push_back(cur);
  return out;
}

// The models (first) and the optimizers of an updater.
void serialize_models_and_optimizers(Updater& u, Serializer& s) {
  for (auto& [name, opt] : u.optimizers()) {
    if (!opt || !opt->target()) continue;
    Serializer model = s["model:" + name];
    opt->target()->serialize(model);
  }
  for (auto& [name, opt] : u.optimizers()) {
    if (!opt) continue;
    Serializer o = s["optimizer:" + name];
    opt->serialize(o);
  }
}

}  // namespace

void DictSummary::serialize(Serializer& s) {
  if (s.saving()) {
    std::string names;
    for (const std::string& k : keys_) names += k + "\n";
    put_text(s, "_names", names);
    for (size_t i = 0; i < keys_.size(); ++i) {
      Stat st = stats_.at(keys_[i]);
      Serializer one = s["_summaries"][std::to_string(i)];
      one("_x", st.sum);
      one("_x2", st.sum2);
      one("_n", st.n);
    }
    return;
  }
  std::optional<std::string> names = read_text(s, "_names");
  if (!names) return;
  std::vector<std::string> keys;
  std::istringstream in(*names);
  for (std::string k; std::getline(in, k);)
    if (!k.empty()) keys.push_back(k);
  std::map<std::string, Stat> stats;
  for (size_t i = 0; i < keys.size(); ++i) {
    Serializer one = s["_summaries"][std::to_string(i)];
    Stat st;
    st.sum = read_number(one, "_x").value_or(0);
    st.sum2 = read_number(one, "_x2").value_or(0);
    st.n = int64_t(read_number(one, "_n").value_or(0));
    stats[keys[i]] = st;
  }
  if (!s.applying()) return;
  keys_ = std::move(keys);
  stats_ = std::move(stats);
}

void Updater::serialize(Serializer& s) {
  Serializer it = s["iterator:main"];
  iterator().serialize(it);
  serialize_models_and_optimizers(*this, s);
  s("iteration", iteration);
}

void StandardUpdater::serialize(Serializer& s) {
  for (auto& [name, it] : iterators_) {
    Serializer sub = s["iterator:" + name];
    it->serialize(sub);
  }
  serialize_models_and_optimizers(*this, s);
  s("iteration", iteration);
}

void IntervalTrigger::serialize(Serializer& s) {
  if (unit_ == Unit::epoch) {
    s("previous_epoch_detail", previous_);
  } else {
    int64_t it = int64_t(previous_);
    if (s("previous_iteration", it) && s.applying()) previous_ = double(it);
  }
}

void ManualScheduleTrigger::serialize(Serializer& s) {
  s(unit_ == Unit::epoch ? "previous_epoch_detail" : "previous_iteration", previous_);
  s("finished", finished);
}

void BestValueTrigger::serialize(Serializer& s) {
  Serializer interval = s["interval_trigger"];
  interval_->serialize(interval);
  Serializer summary = s["_summary"];
  summary_.serialize(summary);
  if (s.saving()) {
    if (best_) s("_best_value", *best_);
    return;
  }
  std::optional<double> best = s.contains("_best_value") ? read_number(s, "_best_value") : std::nullopt;
  if (s.applying()) best_ = best;
}

void Trainer::serialize(Serializer& s) {
  Serializer u = s["updater"];
  updater.serialize(u);
  Serializer stop = s["stop_trigger"];
  stop_trigger->serialize(stop);
  for (Entry& e : extensions_) {
    Serializer ext = s["extensions"][e.name];
    e.ext->serialize(ext);
    Serializer trig = s["extension_triggers"][e.name];
    e.trigger->serialize(trig);
  }
  double elapsed = elapsed_time();
  if (s("_snapshot_elapsed_time", elapsed) && s.applying()) {
    elapsed_before_ = elapsed;
    start_ = std::chrono::steady_clock::now();
  }
  Generator& g = default_generator();
  uint64_t seed = g.seed(), offset = g.offset();
  if (s.saving()) {
    s("_random_state/seed", seed);
    s("_random_state/offset", offset);
  } else if (s.contains("_random_state/seed")) {
    bool a = s("_random_state/seed", seed), b = s("_random_state/offset", offset);
    if (a && b && s.applying()) g.set_state(seed, offset);
  }
}

void LogReport::serialize(Serializer& s) {
  Serializer trig = s["_trigger"];
  trigger_->serialize(trig);
  Serializer summary = s["_summary"];
  summary_.serialize(summary);
  if (s.saving()) {
    put_text(s, "_log", observations_text(log_));
    return;
  }
  std::optional<std::string> text = read_text(s, "_log");
  if (!text) return;
  std::vector<Observation> log = parse_observations(s, "_log", *text);
  if (s.applying()) log_ = std::move(log);
}

void ExponentialShift::serialize(Serializer& s) {
  s("_t", t_);
  if (s.saving()) {
    if (init_) s("_init", *init_);
    return;
  }
  std::optional<double> init = s.contains("_init") ? read_number(s, "_init") : std::nullopt;
  if (s.applying() && init) init_ = init;
}

void LinearShift::serialize(Serializer& s) { s("_t", t_); }

void PlotReport::serialize(Serializer& s) {
  Serializer trig = s["_trigger"];
  trigger_->serialize(trig);
  Serializer summary = s["_summary"];
  summary_.serialize(summary);
  Serializer points = s["_points"];
  if (s.saving()) {
    for (size_t i = 0; i < y_keys_.size(); ++i) {
      auto it = series_.find(y_keys_[i]);
      std::vector<double> flat;
      if (it != series_.end())
        for (auto& [x, y] : it->second) flat.push_back(x), flat.push_back(y);
      Tensor t = Tensor::from_vector(flat, Shape{int64_t(flat.size() / 2), 2}, runtime().cpu());
      points(std::to_string(i), t);
    }
    return;
  }
  std::map<std::string, std::vector<std::pair<double, double>>> series;
  for (size_t i = 0; i < y_keys_.size(); ++i) {
    const Tensor* t = points.get(std::to_string(i));
    if (!t) continue;
    if (t->ndim() != 2 || t->shape()[1] != 2) points.fail(std::to_string(i), "is not a list of (x, y) points");
    std::vector<double> flat = t->astype(float64).to_vector<double>();
    auto& line = series[y_keys_[i]];
    for (size_t k = 0; k + 1 < flat.size(); k += 2) line.push_back({flat[k], flat[k + 1]});
  }
  if (s.applying()) series_ = std::move(series);
}

}  // namespace training
}  // namespace catena
