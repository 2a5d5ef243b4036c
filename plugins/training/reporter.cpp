// Observation, Reporter, report and DictSummary.
#include <catena/training.hpp>

#include <cmath>

namespace catena {
namespace training {

namespace {
thread_local Reporter* current_reporter = nullptr;
}  // namespace

void Observation::set(const std::string& key, double value) {
  for (auto& kv : items_)
    if (kv.first == key) {
      kv.second = value;
      return;
    }
  items_.push_back({key, value});
}

const double* Observation::find(const std::string& key) const {
  for (auto& kv : items_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

void Reporter::add_observer(const std::string& name, const void* observer) {
  for (auto& o : observers_)
    if (o.first == observer) {
      o.second = name;
      return;
    }
  observers_.push_back({observer, name});
}

void Reporter::add_link(const std::string& name, Link& link) {
  for (auto& [path, l] : link.namedlinks()) add_observer(path == "/" ? name : name + path, l);
}

void Reporter::report(const std::string& key, double value, const void* observer) {
  if (!observation_) return;
  if (!observer) {
    observation_->set(key, value);
    return;
  }
  for (auto& o : observers_)
    if (o.first == observer) {
      observation_->set(o.second + "/" + key, value);
      return;
    }
  throw Error(CT_NOT_FOUND, "report: '" + key + "' comes from an observer that is not registered with the reporter "
                            "(register it with add_observer or add_link)");
}

Reporter::Scope::Scope(Reporter& r, Observation& o)
    : prev_reporter_(current_reporter), prev_observation_(r.observation_), r_(r) {
  current_reporter = &r;
  r.observation_ = &o;
}

Reporter::Scope::~Scope() {
  r_.observation_ = prev_observation_;
  current_reporter = prev_reporter_;
}

void report(const std::string& key, double value, const void* observer) {
  if (current_reporter) current_reporter->report(key, value, observer);
}

void report(const std::string& key, const Variable& value, const void* observer) {
  if (!current_reporter) return;
  const Tensor& a = value.array();
  if (a.numel() != 1)
    throw Error(CT_INVALID_ARGUMENT, "report: '" + key + "' must be a scalar, got " + a.shape().str());
  current_reporter->report(key, a.astype(float64).to_vector<double>()[0], observer);
}

void DictSummary::add(const Observation& o) {
  for (auto& [k, v] : o.items()) {
    auto it = stats_.find(k);
    if (it == stats_.end()) {
      keys_.push_back(k);
      it = stats_.emplace(k, Stat()).first;
    }
    it->second.sum += v;
    it->second.sum2 += v * v;
    it->second.n += 1;
  }
}

Observation DictSummary::compute_mean() const {
  Observation out;
  for (const std::string& k : keys_) {
    const Stat& s = stats_.at(k);
    out.set(k, s.sum / double(s.n));
  }
  return out;
}

Observation DictSummary::make_statistics() const {
  Observation out;
  for (const std::string& k : keys_) {
    const Stat& s = stats_.at(k);
    double mean = s.sum / double(s.n);
    out.set(k, mean);
    out.set(k + ".std", std::sqrt(std::max(0.0, s.sum2 / double(s.n) - mean * mean)));
  }
  return out;
}

}  // namespace training
}  // namespace catena
