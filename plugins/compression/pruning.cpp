// Magnitude pruning: masks over the smallest weights, per parameter or over all at once.
#include <catena/compression.hpp>
#include <catena/ops.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

namespace catena {
namespace compression {

namespace {

void check_level(double level) {
  if (!(level >= 0.0 && level < 1.0))
    throw Error(CT_INVALID_ARGUMENT, "prune: the level (the fraction of weights pruned) must be in [0, 1), got " +
                                         std::to_string(level));
}

// |w| of every element, pruned ones (zero) included.
std::vector<float> magnitudes(const Parameter& p) {
  std::vector<float> v = p.array().astype(float32).to_vector<float>();
  for (float& x : v) x = std::isnan(x) ? INFINITY : std::fabs(x);  // NaN weights are never the smallest
  return v;
}

// Marks the k smallest of `mags` (ties to the lower index) as pruned in `keep`.
void prune_smallest(const std::vector<std::pair<float, int64_t>>& order, size_t k, std::vector<uint8_t>& keep) {
  for (size_t i = 0; i < k && i < order.size(); ++i) keep[size_t(order[i].second)] = 0;
}

std::vector<std::pair<float, int64_t>> smallest_first(const std::vector<float>& mags, size_t k) {
  std::vector<std::pair<float, int64_t>> order(mags.size());
  for (size_t i = 0; i < mags.size(); ++i) order[i] = {mags[i], int64_t(i)};
  k = std::min(k, order.size());
  if (k < order.size()) std::nth_element(order.begin(), order.begin() + int64_t(k), order.end());
  order.resize(k);
  return order;
}

void set_keep(Parameter& p, const std::vector<uint8_t>& keep) {
  const Tensor mask = Tensor::from_vector(keep, p.array().shape(), runtime().cpu()).astype(bool_);
  p.set_mask(mask.to(p.device()));
}

}  // namespace

Pruner::Pruner(double level, std::string scope) : level_(level), scope_(std::move(scope)) {
  check_level(level);
  if (scope_ != "global" && scope_ != "layer")
    throw Error(CT_INVALID_ARGUMENT, "prune: scope must be global (one threshold over every weight) or layer (each "
                                     "parameter its own), got '" + scope_ + "'");
}

void Pruner::set_level(double level) {
  check_level(level);
  level_ = level;
}

Report Pruner::operator()(Link& model) {
  const Report before = describe(model);
  std::vector<std::pair<std::string, Parameter*>> targets;
  for (auto& [path, p] : weights(model)) {
    if (p->is_quantized())
      throw Error(CT_FAILED_PRECONDITION, "prune: " + path.substr(1) + " is quantized already; prune before quantizing");
    if (p->is_initialized()) targets.push_back({path, p});
  }
  if (targets.empty())
    throw Error(CT_INVALID_ARGUMENT, "prune: the model has no weights to prune (no initialized parameter W of two or "
                                     "more dimensions: Linear, Convolution2D ...; run a forward first to initialize "
                                     "lazy layers)");
  if (scope_ == "layer") {
    for (auto& [path, p] : targets) {
      const std::vector<float> mags = magnitudes(*p);
      const size_t k = size_t(std::floor(level_ * double(mags.size())));
      std::vector<uint8_t> keep(mags.size(), 1);
      // Smallest first; equal magnitudes by index (pairs compare both).
      auto order = smallest_first(mags, k);
      prune_smallest(order, k, keep);
      set_keep(*p, keep);
    }
  } else {
    std::vector<float> all;
    std::vector<size_t> start;
    for (auto& [path, p] : targets) {
      start.push_back(all.size());
      const std::vector<float> m = magnitudes(*p);
      all.insert(all.end(), m.begin(), m.end());
    }
    start.push_back(all.size());
    const size_t k = size_t(std::floor(level_ * double(all.size())));
    std::vector<uint8_t> keep(all.size(), 1);
    prune_smallest(smallest_first(all, k), k, keep);
    for (size_t t = 0; t < targets.size(); ++t)
      set_keep(*targets[t].second, std::vector<uint8_t>(keep.begin() + int64_t(start[t]), keep.begin() + int64_t(start[t + 1])));
  }
  return compare(before, model);
}

GradualPruning::GradualPruning(Link& model, double target, int64_t begin, int64_t end, int64_t every, double initial,
                               std::string scope)
    : model_(model), target_(target), initial_(initial), begin_(begin), end_(end), every_(every), scope_(std::move(scope)) {
  check_level(target);
  check_level(initial);
  if (begin < 0 || end < begin)
    throw Error(CT_INVALID_ARGUMENT, "GradualPruning: the schedule must have 0 <= begin <= end, got begin " +
                                         std::to_string(begin) + ", end " + std::to_string(end));
  if (every < 1) throw Error(CT_INVALID_ARGUMENT, "GradualPruning: every must be at least 1 iteration");
  (void)Pruner(target, scope_);  // checks the scope
}

void GradualPruning::operator()(training::Trainer& trainer) {
  const int64_t t = trainer.updater.iteration;
  if (t < begin_ || (t > end_ && level_ >= target_)) return;
  if (t != end_ && (t - begin_) % every_ != 0) return;
  const double level = gradual_level(initial_, target_, begin_, end_, t);
  if (level <= level_) return;
  Pruner(level, scope_)(model_);
  level_ = level;
}

void GradualPruning::serialize(Serializer& s) { s("level", level_); }

}  // namespace compression
}  // namespace catena
