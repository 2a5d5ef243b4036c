// Weight sharing (k-means codebooks) and half-precision storage.
#include <catena/compression.hpp>
#include <catena/links.hpp>
#include <catena/ops.hpp>

#include <algorithm>
#include <cmath>

namespace catena {
namespace compression {

namespace {

// 1-D k-means over `w` (Lloyd's iterations from centroids spread evenly over [min, max]):
// the centroids, sorted, and each weight's nearest one.
std::pair<std::vector<float>, std::vector<int32_t>> kmeans_1d(const std::vector<float>& w, int k, int iterations) {
  float lo = INFINITY, hi = -INFINITY;
  for (float v : w)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!(lo <= hi)) lo = hi = 0;
  std::vector<float> c(static_cast<size_t>(k));
  for (int j = 0; j < k; ++j) c[size_t(j)] = k == 1 ? 0.5f * (lo + hi) : lo + (hi - lo) * float(j) / float(k - 1);
  std::vector<int32_t> assign(w.size(), 0);
  auto nearest = [&](float v) {
    // Centroids stay sorted: the nearest is next to the insertion point.
    const auto it = std::lower_bound(c.begin(), c.end(), v);
    size_t j = size_t(it - c.begin());
    if (j == c.size()) return int32_t(c.size() - 1);
    if (j > 0 && v - c[j - 1] <= c[j] - v) --j;
    return int32_t(j);
  };
  for (int it = 0; it < iterations; ++it) {
    std::vector<double> sum(static_cast<size_t>(k), 0.0);
    std::vector<int64_t> count(static_cast<size_t>(k), 0);
    bool moved = it == 0;
    for (size_t i = 0; i < w.size(); ++i) {
      const int32_t j = std::isfinite(w[i]) ? nearest(w[i]) : 0;
      moved = moved || j != assign[i];
      assign[i] = j;
      if (std::isfinite(w[i])) sum[size_t(j)] += w[i], ++count[size_t(j)];
    }
    for (int j = 0; j < k; ++j)
      if (count[size_t(j)]) c[size_t(j)] = float(sum[size_t(j)] / double(count[size_t(j)]));  // an empty cluster stays
    std::vector<int32_t> order(static_cast<size_t>(k));
    for (int j = 0; j < k; ++j) order[size_t(j)] = j;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return c[size_t(a)] < c[size_t(b)]; });
    std::vector<float> sorted(static_cast<size_t>(k));
    std::vector<int32_t> rank(static_cast<size_t>(k));
    for (int j = 0; j < k; ++j) sorted[size_t(j)] = c[size_t(order[size_t(j)])], rank[size_t(order[size_t(j)])] = j;
    c = sorted;
    for (int32_t& a : assign) a = rank[size_t(a)];
    if (!moved) break;
  }
  for (size_t i = 0; i < w.size(); ++i) assign[i] = std::isfinite(w[i]) ? nearest(w[i]) : 0;
  return {c, assign};
}

}  // namespace

KMeans::KMeans(int k, int iterations) : k_(k), iterations_(iterations) {
  if (k < 2 || k > 256) throw Error(CT_INVALID_ARGUMENT, "kmeans: k (the centroids per layer) must be 2 to 256, got " + std::to_string(k));
  if (iterations < 1) throw Error(CT_INVALID_ARGUMENT, "kmeans: iterations must be at least 1");
}

Report KMeans::operator()(Link& model) {
  const Report before = describe(model);
  int done = 0;
  for (auto& [path, link] : model.namedlinks()) {
    Parameter* W = layer_weights(link);
    if (!W || W->codebook()) continue;
    const std::string where = path == "/" ? "the model" : path.substr(1);
    if (W->is_quantized() || W->mask().defined())
      throw Error(CT_FAILED_PRECONDITION, "kmeans: " + where + " is quantized or masked; share the weights of a dense layer");
    if (!W->is_initialized())
      throw Error(CT_FAILED_PRECONDITION, "kmeans: " + where + " has no weights yet (a lazy layer): run a forward first");
    const Tensor w = W->array();
    auto [centroids, assign] = kmeans_1d(w.astype(float32).to_vector<float>(), k_, iterations_);
    Device& cpu = runtime().cpu();
    W->set_codebook(Tensor::from_vector(centroids, Shape{k_}, cpu).astype(w.dtype()).to(w.device()),
                    Tensor::from_vector(assign, w.shape(), cpu));
    ++done;
  }
  if (!done) throw Error(CT_INVALID_ARGUMENT, "kmeans: the model has no Linear or Convolution2D weights to share");
  return compare(before, model);
}

Cast::Cast(Dtype to) : to_(to) {
  if (to != float16 && to != bfloat16)
    throw Error(CT_INVALID_ARGUMENT, "cast: float16 or bfloat16, not " + to.name());
}

Report Cast::operator()(Link& model) {
  const Report before = describe(model);
  int done = 0;
  for (Parameter* p : model.params()) {
    if (!p->is_initialized() || p->is_quantized() || p->array().dtype().size() <= 2) continue;
    // The values become those the half type holds, so the model computes what it stores.
    Tensor w = p->array();
    ops::copy(w, w.astype(to_));
    p->set_storage_dtype(to_);
    ++done;
  }
  if (!done) throw Error(CT_INVALID_ARGUMENT, "cast: the model has no float32 or float64 parameters to store in " + to_.name());
  return compare(before, model);
}

}  // namespace compression
}  // namespace catena
