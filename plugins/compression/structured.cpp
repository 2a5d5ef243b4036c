// Structured pruning: whole output units and channels removed along a chain of layers.
#include <catena/compression.hpp>
#include <catena/links.hpp>
#include <catena/ops.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace catena {
namespace compression {

namespace {

std::string where(Link& model, Link* l) {
  for (auto& [path, link] : model.namedlinks())
    if (link == l) return path == "/" ? "the model" : path.substr(1);
  return "a layer";
}

Parameter* bias_of(Link* l) {
  for (auto& [path, p] : l->namedparams())
    if (path == "/b") return p;
  return nullptr;
}

void check_plain(Link& model, Link* l, Parameter& p) {
  if (p.is_quantized() || p.mask().defined())
    throw Error(CT_FAILED_PRECONDITION, "prune (structured): " + where(model, l) +
                                            " is quantized or masked already; prune channels first (or bake the masks)");
  if (!p.is_initialized())
    throw Error(CT_FAILED_PRECONDITION, "prune (structured): " + where(model, l) +
                                            " has no weights yet (a lazy layer): run a forward first");
}

Tensor indices(const std::vector<int64_t>& v, Device& d) {
  return Tensor::from_vector(v, Shape{int64_t(v.size())}, runtime().cpu()).to(d);
}

void select(Parameter& p, const Tensor& idx, int axis) {
  const bool enabled = p.update_enabled();
  p = Parameter(ops::take(p.array(), idx, axis));
  p.set_update_enabled(enabled);
}

}  // namespace

StructuredPruner::StructuredPruner(double level, std::string norm) : level_(level), norm_(std::move(norm)) {
  if (!(level >= 0.0 && level < 1.0))
    throw Error(CT_INVALID_ARGUMENT, "prune: the level (the fraction of units removed) must be in [0, 1), got " +
                                         std::to_string(level));
  if (norm_ != "l1" && norm_ != "l2")
    throw Error(CT_INVALID_ARGUMENT, "prune: norm must be l1 or l2, got '" + norm_ + "'");
}

Report StructuredPruner::operator()(Link& model) {
  const Report before = describe(model);
  const std::vector<Link*> seq = model.sequence();
  if (seq.empty())
    throw Error(CT_INVALID_ARGUMENT,
                "prune (structured): the model's forward is not a chain of layers it can follow (Link::sequence() is "
                "empty): use a Sequential of registered links and channel-wise functions, the mlp or cnn models, or "
                "magnitude pruning");
  std::vector<size_t> layers;
  for (size_t i = 0; i < seq.size(); ++i)
    if (layer_weights(seq[i], false)) layers.push_back(i);
  if (layers.size() < 2)
    throw Error(CT_INVALID_ARGUMENT, "prune (structured): the model has no layer to prune (it needs a Linear or "
                                     "Convolution2D followed by another; the last layer keeps its outputs)");
  for (size_t li = 0; li + 1 < layers.size(); ++li) {
    Link* producer = seq[layers[li]];
    Link* consumer = seq[layers[li + 1]];
    Parameter& W = *layer_weights(producer, false);
    Parameter& next = *layer_weights(consumer, false);
    check_plain(model, producer, W);
    check_plain(model, consumer, next);
    std::vector<L::BatchNormalization*> norms;
    for (size_t k = layers[li] + 1; k < layers[li + 1]; ++k) {
      auto* bn = dynamic_cast<L::BatchNormalization*>(seq[k]);
      if (!bn)
        throw Error(CT_INVALID_ARGUMENT, "prune (structured): cannot follow channels through " + where(model, seq[k]) +
                                             " (only BatchNormalization may stand between two layers)");
      norms.push_back(bn);
    }
    // Each unit's norm over its weights (row of W seen as (out, everything else)).
    const Shape ws = W.array().shape();
    const int64_t out = ws[0], per = W.array().numel() / std::max<int64_t>(1, out);
    const Tensor rows = W.array().astype(float32).reshape(Shape{out, per});
    const Tensor mag = norm_ == "l1" ? ops::sum(ops::abs(rows), {1}) : ops::sum(ops::square(rows), {1});
    const std::vector<float> m = mag.to_vector<float>();
    const int64_t keep = std::max<int64_t>(1, out - int64_t(std::floor(level_ * double(out))));
    if (keep == out) continue;
    std::vector<int64_t> order(static_cast<size_t>(out));
    std::iota(order.begin(), order.end(), 0);
    // Largest norms kept; among equal norms the lower index.
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return m[size_t(a)] > m[size_t(b)]; });
    std::vector<int64_t> kept(order.begin(), order.begin() + keep);
    std::sort(kept.begin(), kept.end());
    Device& d = W.device();
    const Tensor idx = indices(kept, d);
    select(W, idx, 0);
    if (Parameter* b = bias_of(producer)) select(*b, idx, 0);
    for (L::BatchNormalization* bn : norms) {
      if (bn->avg_mean.shape() != Shape{out})
        throw Error(CT_INVALID_ARGUMENT, "prune (structured): " + where(model, bn) + " has " +
                                             bn->avg_mean.shape().str() + " entries for " + std::to_string(out) + " channels");
      for (Parameter* p : {&bn->gamma, &bn->beta})
        if (p->is_initialized()) select(*p, idx, 0);
      bn->avg_mean = ops::take(bn->avg_mean, idx, 0);
      bn->avg_var = ops::take(bn->avg_var, idx, 0);
      bn->shapes_changed();
    }
    // The next layer's inputs: its input channels, or (a Linear after a convolution,
    // through a flatten) each channel's block of features.
    const int64_t in = next.array().shape()[1];
    if (in % out)
      throw Error(CT_INVALID_ARGUMENT, "prune (structured): " + where(model, consumer) + " takes " + std::to_string(in) +
                                           " inputs, not a multiple of the " + std::to_string(out) + " channels of " +
                                           where(model, producer));
    const int64_t block = in / out;
    std::vector<int64_t> cols;
    for (int64_t k : kept)
      for (int64_t j = 0; j < block; ++j) cols.push_back(k * block + j);
    select(next, indices(cols, next.device()), 1);
    producer->shapes_changed();
    consumer->shapes_changed();
  }
  return compare(before, model);
}

}  // namespace compression
}  // namespace catena
