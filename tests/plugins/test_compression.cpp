// Compression: magnitude pruning (exact counts, per layer and global), masks that hold
// through fine-tuning and every file, int8 weights (dynamic and calibrated), the
// registry's errors, and damaged compressed files refused with a message naming the key.
#include "../support.hpp"

#include <catena/compression.hpp>
#include <catena/config.hpp>
#include <catena/functions.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/optimizers.hpp>
#include <catena/random.hpp>
#include <catena/serializers.hpp>
#include <catena/training.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

using namespace catena;
using namespace catena::training;
using catena_test::contains;
using catena_test::error_of;
using catena_test::TempDir;
namespace cz = catena::compression;

namespace {

int64_t zeros_of(const Tensor& t) {
  int64_t n = 0;
  for (double v : catena_test::vals(t)) n += v == 0.0;
  return n;
}

// An MLP in-20-20-3 with its weights initialised (no lazy layer left).
std::shared_ptr<models::MLP> small_mlp(uint64_t s = 3, int64_t in = 4, int64_t units = 20) {
  seed(s);
  auto m = std::make_shared<models::MLP>(units, 3);
  (*m)(Variable(catena_test::input(Shape{2, in}, float32, 1), false));
  return m;
}

// Every weight exactly zero wherever its mask says pruned.
bool masked_are_zero(Link& model) {
  for (auto& [path, p] : cz::weights(model)) {
    if (!p->mask().defined()) continue;
    const std::vector<double> w = catena_test::vals(p->array()), m = catena_test::vals(p->mask());
    for (size_t i = 0; i < w.size(); ++i)
      if (m[i] == 0 && w[i] != 0) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("magnitude pruning masks exactly floor(level n) weights, per layer or with one global threshold") {
  auto m = small_mlp();
  cz::Pruner per_layer(0.5, "layer");
  cz::Report r = per_layer(*m);
  for (auto* l : {&m->l1, &m->l2, &m->l3}) {
    const int64_t n = l->W.array().numel();
    CHECK(zeros_of(l->W.array()) == n / 2);
    CHECK(zeros_of(l->W.mask().astype(float32)) == n / 2);
    CHECK(!l->b.mask().defined());  // biases are not pruned
  }
  CHECK(r.nonzero() < r.elements());
  // The pruned ones are the smallest of each layer.
  {
    std::vector<double> w = catena_test::vals(m->l2.W.array());
    double kept_min = INFINITY;
    for (double v : w)
      if (v != 0) kept_min = std::min(kept_min, std::fabs(v));
    auto fresh = small_mlp();
    std::vector<double> orig = catena_test::vals(fresh->l2.W.array());
    for (size_t i = 0; i < w.size(); ++i)
      if (w[i] == 0) CHECK(std::fabs(orig[i]) <= kept_min);
  }
  // Global: one threshold over all weights; the count is exact over the total.
  auto g = small_mlp();
  cz::create("prune", {{"level", 0.75}, {"scope", "global"}})->operator()(*g);
  int64_t total = 0, pruned = 0;
  double kept_min = INFINITY, pruned_max = 0;
  auto fresh = small_mlp();
  for (auto [a, b] : {std::pair{&g->l1, &fresh->l1}, {&g->l2, &fresh->l2}, {&g->l3, &fresh->l3}}) {
    total += a->W.array().numel();
    pruned += zeros_of(a->W.array());
    const std::vector<double> w = catena_test::vals(a->W.array()), o = catena_test::vals(b->W.array());
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] == 0) pruned_max = std::max(pruned_max, std::fabs(o[i]));
      else kept_min = std::min(kept_min, std::fabs(o[i]));
    }
  }
  CHECK(pruned == int64_t(std::floor(0.75 * double(total))));
  CHECK(pruned_max <= kept_min);
  // Pruning again to a higher level extends the masks.
  cz::Pruner(0.9, "global")(*g);
  CHECK(masked_are_zero(*g));
}

TEST_CASE("fine-tuning never revives a pruned weight: Adam with weight decay, momentum SGD") {
  auto data = catena_test::blobs(40, 2);
  for (const char* name : {"adam", "momentum_sgd"}) {
    CAPTURE(name);
    auto mlp = small_mlp();
    // A mask made after some training, so the optimizer state of pruned weights is not zero.
    L::Classifier model(mlp);
    auto opt = optimizers::create(name, {});
    opt->setup(model);
    opt->add_hook(std::make_shared<optimizer_hooks::WeightDecay>(0.01));
    SerialIterator it(data, 8);
    StandardUpdater up(it, *opt);
    for (int i = 0; i < 5; ++i) up.update();
    cz::Pruner(0.6)(*mlp);
    for (int i = 0; i < 20; ++i) up.update();
    CHECK(masked_are_zero(*mlp));
    CHECK(zeros_of(mlp->l2.W.array()) >= zeros_of(mlp->l2.W.mask().astype(float32)));
  }
}

TEST_CASE("gradual pruning: Zhu and Gupta's cubic ramp as a Trainer extension, resumed from snapshots") {
  CHECK(cz::gradual_level(0, 0.8, 10, 50, 0) == 0);
  CHECK(cz::gradual_level(0, 0.8, 10, 50, 10) == 0);
  CHECK(cz::gradual_level(0, 0.8, 10, 50, 30) == doctest::Approx(0.8 - 0.8 * 0.125));
  CHECK(cz::gradual_level(0, 0.8, 10, 50, 50) == doctest::Approx(0.8));
  CHECK(cz::gradual_level(0, 0.8, 10, 50, 90) == doctest::Approx(0.8));
  TempDir dir;
  auto data = catena_test::blobs(40, 2);
  auto total_zeros = [](models::MLP& m) { return zeros_of(m.l1.W.array()) + zeros_of(m.l2.W.array()) + zeros_of(m.l3.W.array()); };
  const int64_t n = 4 * 20 + 20 * 20 + 20 * 3;
  auto mlp = small_mlp();
  L::Classifier model(mlp);
  optimizers::Adam opt;
  opt.setup(model);
  SerialIterator it(data, 8);
  StandardUpdater up(it, opt);
  Trainer t(up, {10, Unit::iteration}, dir / "run");
  auto g = std::make_shared<cz::GradualPruning>(*mlp, 0.8, 2, 20, 2);
  t.extend(g);
  t.extend(std::make_shared<Snapshot>("snap_{iteration}.npz"), "", every(10, Unit::iteration));
  t.run();
  // At iteration 10 of a ramp over [2, 20] to 0.8.
  const double at10 = cz::gradual_level(0, 0.8, 2, 20, 10);
  CHECK(g->level() == doctest::Approx(at10));
  CHECK(total_zeros(*mlp) >= int64_t(std::floor(at10 * double(n))));
  CHECK(masked_are_zero(*mlp));
  // Resumed in a fresh run: the level and the masks come back; the ramp ends at 0.8.
  auto fresh = small_mlp(77);
  L::Classifier m2(fresh);
  optimizers::Adam opt2;
  opt2.setup(m2);
  SerialIterator it2(data, 8);
  StandardUpdater up2(it2, opt2);
  Trainer t2(up2, {25, Unit::iteration}, dir / "run2");
  auto g2 = std::make_shared<cz::GradualPruning>(*fresh, 0.8, 2, 20, 2);
  t2.extend(g2);
  resume(t2, dir / "run/snap_10.npz");
  CHECK(g2->level() == doctest::Approx(at10));
  t2.run();
  CHECK(g2->level() == doctest::Approx(0.8));
  CHECK(total_zeros(*fresh) >= int64_t(std::floor(0.8 * double(n))));
  CHECK(masked_are_zero(*fresh));
  CHECK(contains(error_of([&] { cz::GradualPruning(*fresh, 0.5, 10, 5); }), "begin <= end"));
}

TEST_CASE("masks survive npz, hdf5, whole-model files and snapshots, stored sparse") {
  TempDir dir;
  auto mlp = small_mlp();
  cz::Pruner(0.8)(*mlp);
  const std::vector<float> w1 = mlp->l1.W.array().to_vector<float>();
  for (const char* ext : {".npz", ".h5"}) {
    CAPTURE(ext);
    const std::string path = dir / (std::string("p") + ext);
    save(path, *mlp);
    auto back = std::make_shared<models::MLP>(20, 3);  // lazy, unmasked: the file decides
    load(path, *back);
    CHECK(back->l1.W.array().to_vector<float>() == w1);
    REQUIRE(back->l1.W.mask().defined());
    CHECK(catena_test::vals(back->l1.W.mask()) == catena_test::vals(mlp->l1.W.mask()));
    const KeyStore keys = read_keys(path);
    CHECK(keys.contains("l1/W.mask"));
    CHECK(!keys.contains("l1/W"));
  }
  // A whole model: smaller than the dense one, and loads on every device with its masks.
  L::Classifier model(mlp);
  save_model(dir / "pruned.npz", model);
  {
    auto big = small_mlp(3, 50, 200);
    L::Classifier dense(big);
    save_model(dir / "dense.npz", dense);
    cz::Pruner(0.9)(*big);
    save_model(dir / "sparse.npz", dense);
    CHECK(catena_test::read_file(dir / "sparse.npz").size() * 5 < catena_test::read_file(dir / "dense.npz").size());
  }
  for (Device* d : runtime().devices()) {
    CAPTURE(d->name());
    auto back = load_model(dir / "pruned.npz", *d);
    auto* c = dynamic_cast<L::Classifier*>(back.get());
    REQUIRE(c);
    auto& l1 = dynamic_cast<models::MLP&>(c->predictor()).l1;
    CHECK(l1.W.array().to_vector<float>() == w1);
    CHECK(l1.W.mask().defined());
  }
  // A snapshot of a pruned model resumes into a fresh, unpruned one, and masks hold on.
  auto data = catena_test::blobs(40, 2);
  {
    L::Classifier m2(mlp);
    optimizers::Adam opt;
    opt.setup(m2);
    SerialIterator it(data, 8);
    StandardUpdater up(it, opt);
    Trainer t(up, {6, Unit::iteration}, dir / "run");
    t.extend(std::make_shared<Snapshot>("snap_{iteration}.npz"), "", every(6, Unit::iteration));
    t.run();
  }
  auto fresh = small_mlp(99);
  L::Classifier m3(fresh);
  optimizers::Adam opt;
  opt.setup(m3);
  SerialIterator it(data, 8);
  StandardUpdater up(it, opt);
  Trainer t(up, {12, Unit::iteration}, dir / "run2");
  resume(t, dir / "run/snap_6.npz");
  CHECK(fresh->l2.W.mask().defined());
  t.run();
  CHECK(masked_are_zero(*fresh));
  CHECK(zeros_of(fresh->l2.W.array()) >= int64_t(0.8 * 400) - 1);
  // Baked: the masks go, the zeros stay, the file is dense again (Chainer's keys).
  cz::bake_masks(*fresh);
  CHECK(!fresh->l2.W.mask().defined());
  save(dir / "baked.npz", *fresh);
  CHECK(read_keys(dir / "baked.npz").contains("l2/W"));
}

TEST_CASE("dynamic and static int8 Linear layers: close to float, saved int8, run on every device") {
  TempDir dir;
  auto mlp = small_mlp();
  const Tensor x = catena_test::input(Shape{5, 4}, float32, 7, -1, 1);
  const std::vector<double> ref = catena_test::vals((*mlp)(Variable(x, false)).array());
  auto close = [&](const std::vector<double>& got, double tol) {
    REQUIRE(got.size() == ref.size());
    double worst = 0, scale = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - ref[i])), scale = std::max(scale, std::fabs(ref[i]));
    CAPTURE(worst);
    return worst <= tol * scale;
  };
  cz::Report r = cz::Quantizer()(*mlp);
  CHECK(mlp->l1.W.is_quantized());
  CHECK(r.bytes() * 2 < r.bytes_before());
  CHECK(close(catena_test::vals((*mlp)(Variable(x, false)).array()), 0.05));
  L::Classifier model(mlp);
  save_model(dir / "int8.npz", model);
  const KeyStore keys = read_keys(dir / "int8.npz");
  Dtype dt;
  Shape sh;
  REQUIRE(keys.describe("predictor/l2/W.int8", &dt, &sh));
  CHECK(dt == int8);
  for (Device* d : runtime().devices()) {
    CAPTURE(d->name());
    auto back = load_model(dir / "int8.npz", *d);
    auto* c = dynamic_cast<L::Classifier*>(back.get());
    REQUIRE(c);
    CHECK(close(catena_test::vals(c->predictor()(Variable(x.to(*d), false)).array()), 0.05));
  }
  // Static: activation scales from a calibration over a few batches.
  auto s = small_mlp();
  {
    cz::Calibration cal("percentile", 99.9);
    for (uint32_t b = 0; b < 4; ++b) (*s)(Variable(catena_test::input(Shape{16, 4}, float32, 20 + b, -1, 1), false));
    cz::Quantizer q("static");
    q.set_calibration(&cal);
    q(*s);
  }
  REQUIRE(s->l2.W.quantized());
  CHECK(s->l2.W.quantized()->input_scale.defined());
  CHECK(close(catena_test::vals((*s)(Variable(x, false)).array()), 0.08));
  // Without a calibration, static quantization says what to do.
  auto u = small_mlp();
  CHECK(contains(error_of([&] { cz::Quantizer("static")(*u); }), "calibrat"));
}

TEST_CASE("int8 convolutions (padding, stride): close to float, dynamic and calibrated, on every device") {
  TempDir dir;
  struct Geometry {
    int64_t channels, stride, pad;  // 3 channels: 27 taps, multiplied in float32; 8: 72, in int8
  };
  for (Geometry g : {Geometry{3, 1, 1}, Geometry{3, 2, 0}, Geometry{8, 1, 1}, Geometry{8, 2, 0}, Geometry{8, 2, 2}}) {
    CAPTURE(g.channels);
    CAPTURE(g.stride);
    CAPTURE(g.pad);
    seed(4);
    L::Convolution2D conv(g.channels, 5, 3, g.stride, g.pad);
    const Tensor x = catena_test::input(Shape{2, g.channels, 9, 8}, float32, 11, -1, 1);
    const std::vector<double> ref = catena_test::vals(conv(Variable(x, false)).array());
    for (const char* mode : {"dynamic", "static"}) {
      CAPTURE(mode);
      L::Convolution2D q(g.channels, 5, 3, g.stride, g.pad);
      q.W = Parameter(conv.W.array().clone());
      q.b = Parameter(conv.b.array().clone());
      cz::Calibration cal;
      q(Variable(x, false));
      cz::Quantizer quantizer(mode);
      quantizer.set_calibration(&cal);
      quantizer(q);
      REQUIRE(q.W.is_quantized());
      const std::string path = dir / (std::string(mode) + ".npz");
      save(path, q);
      for (Device* d : runtime().devices()) {
        CAPTURE(d->name());
        L::Convolution2D back(g.channels, 5, 3, g.stride, g.pad);
        load(path, back);
        back.to_device(*d);
        const std::vector<double> got = catena_test::vals(back(Variable(x.to(*d), false)).array());
        REQUIRE(got.size() == ref.size());
        double worst = 0, scale = 0;
        for (size_t i = 0; i < got.size(); ++i)
          worst = std::max(worst, std::fabs(got[i] - ref[i])), scale = std::max(scale, std::fabs(ref[i]));
        CHECK(worst <= 0.03 * scale);
      }
    }
  }
}

TEST_CASE("structured pruning removes units and channels: the smaller model computes what the masked one does") {
  TempDir dir;
  // MLP: removing a hidden unit equals zeroing its row, its bias and the next layer's column.
  auto mlp = small_mlp(3, 4, 10);
  const Tensor x = catena_test::input(Shape{6, 4}, float32, 5, -1, 1);
  auto copy = small_mlp(3, 4, 10);
  cz::StructuredPruner(0.5)(*mlp);
  CHECK(mlp->l1.W.array().shape() == Shape{5, 4});
  CHECK(mlp->l2.W.array().shape() == Shape{5, 5});
  CHECK(mlp->l3.W.array().shape() == Shape{3, 5});  // the outputs are kept
  CHECK(mlp->l1.out_size() == 5);
  // The kept units are those of largest L2 norm; zero the others in the copy.
  std::vector<double> w1 = catena_test::vals(copy->l1.W.array());
  std::vector<std::pair<double, int>> norms;
  for (int u = 0; u < 10; ++u) {
    double n = 0;
    for (int k = 0; k < 4; ++k) n += w1[size_t(u * 4 + k)] * w1[size_t(u * 4 + k)];
    norms.push_back({-n, u});
  }
  std::sort(norms.begin(), norms.end());
  std::vector<double> w1m = w1;
  for (int r = 5; r < 10; ++r)
    for (int k = 0; k < 4; ++k) w1m[size_t(norms[size_t(r)].second * 4 + k)] = 0;
  copy->l1.W = Parameter(Tensor::from_vector(w1m, Shape{10, 4}, runtime().cpu()).astype(float32));
  // (l2's units are pruned too: compare l1's effect through l2's full output.)
  const std::vector<double> h_small = catena_test::vals(F::relu(mlp->l1(Variable(x, false))).array());
  const std::vector<double> h_full = catena_test::vals(F::relu(copy->l1(Variable(x, false))).array());
  std::vector<int> kept;
  for (int r = 0; r < 5; ++r) kept.push_back(norms[size_t(r)].second);
  std::sort(kept.begin(), kept.end());
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 5; ++j) CHECK(h_small[size_t(i * 5 + j)] == doctest::Approx(h_full[size_t(i * 10 + kept[size_t(j)])]));
  // The whole model saves with its new sizes and loads on every device.
  L::Classifier model(mlp);
  save_model(dir / "mlp.npz", model);
  const std::vector<double> y = catena_test::vals((*mlp)(Variable(x, false)).array());
  for (Device* d : runtime().devices()) {
    auto back = load_model(dir / "mlp.npz", *d);
    const std::vector<double> got = catena_test::vals((*back)(Variable(x.to(*d), false)).array());
    REQUIRE(got.size() == y.size());
    for (size_t i = 0; i < y.size(); ++i) CHECK(got[i] == doctest::Approx(y[i]).epsilon(1e-4));
  }
  // The CNN: both convolutions lose channels; fc1 loses each channel's block of 7 x 7 inputs.
  seed(2);
  auto cnn = std::make_shared<models::CNN>(16, 3);
  const Tensor img = catena_test::input(Shape{2, 1, 28, 28}, float32, 8, 0, 1);
  (*cnn)(Variable(img, false));
  cz::StructuredPruner(0.25, "l1")(*cnn);
  CHECK(cnn->conv1.W.array().shape() == Shape{24, 1, 3, 3});
  CHECK(cnn->conv2.W.array().shape() == Shape{48, 24, 3, 3});
  CHECK(cnn->fc1.W.array().shape() == Shape{12, 48 * 49});
  CHECK(cnn->fc2.W.array().shape() == Shape{3, 12});
  L::Classifier cm(cnn);
  save_model(dir / "cnn.npz", cm);
  auto cback = load_model(dir / "cnn.npz");
  CHECK(catena_test::vals((*cback)(Variable(img, false)).array()) == catena_test::vals((*cnn)(Variable(img, false)).array()));
  // BatchNormalization between two layers follows them.
  L::Sequential seq;
  seq.add(std::make_unique<L::Linear>(4, 8)).add(std::make_unique<L::BatchNormalization>(8)).add("relu");
  seq.add(std::make_unique<L::Linear>(8, 2));
  cz::StructuredPruner(0.5)(seq);
  auto& bn = dynamic_cast<L::BatchNormalization&>(seq[1]);
  CHECK(bn.avg_mean.shape() == Shape{4});
  CHECK(bn.gamma.array().shape() == Shape{4});
  CHECK(seq(Variable(x, false)).shape() == Shape{6, 2});
  // Training goes on with the smaller shapes (the optimizer's state starts afresh).
  {
    auto m = small_mlp(3, 4, 10);
    L::Classifier c(m);
    optimizers::Adam opt;
    opt.setup(c);
    auto data = catena_test::blobs(24, 1);
    SerialIterator it(data, 8);
    StandardUpdater up(it, opt);
    up.update();
    cz::StructuredPruner(0.5)(*m);
    up.update();
    CHECK(m->l2.W.array().shape() == Shape{5, 5});
  }
}

TEST_CASE("k-means weight sharing: k values per layer, 4-bit indices, centroids trained by their members' gradients") {
  TempDir dir;
  auto mlp = small_mlp(3, 4, 20);
  const Tensor x = catena_test::input(Shape{6, 4}, float32, 5, -1, 1);
  cz::create("kmeans", {{"k", 8}})->operator()(*mlp);
  REQUIRE(mlp->l2.W.codebook());
  CHECK(mlp->l2.W.array().shape() == Shape{8});  // the parameter is the codebook
  {
    auto guard = no_backprop_mode();
    std::vector<double> w = catena_test::vals(mlp->l2.W.weight().array());
    std::sort(w.begin(), w.end());
    CHECK(std::unique(w.begin(), w.end()) - w.begin() <= 8);
  }
  // One update: each centroid moves by its members' summed gradient (SGD, lr 1).
  auto data = catena_test::blobs(8, 3);
  L::Classifier model(mlp);
  optimizers::SGD opt(1.0);
  opt.setup(model);
  const std::vector<double> before = catena_test::vals(mlp->l2.W.array());
  const std::vector<int32_t> idx = mlp->l2.W.codebook()->indices.to_vector<int32_t>();
  Example batch = *SerialIterator(data, 8, false, false).next_batch();
  model.cleargrads();
  model.loss(batch).backward();
  // The gradient of the dense weights, summed per centroid, by hand.
  auto plain = small_mlp(3, 4, 20);
  {
    auto guard = no_backprop_mode();
    plain->l1.W = Parameter(mlp->l1.W.weight().array().clone());
    plain->l1.b = Parameter(mlp->l1.b.array().clone());
    plain->l2.W = Parameter(mlp->l2.W.weight().array().clone());
    plain->l2.b = Parameter(mlp->l2.b.array().clone());
    plain->l3.W = Parameter(mlp->l3.W.weight().array().clone());
    plain->l3.b = Parameter(mlp->l3.b.array().clone());
  }
  L::Classifier pm(plain);
  pm.cleargrads();
  pm.loss(batch).backward();
  const std::vector<double> g = catena_test::vals(plain->l2.W.grad());
  std::vector<double> want(8, 0.0);
  for (size_t i = 0; i < idx.size(); ++i) want[size_t(idx[i])] += g[i];
  const std::vector<double> got = catena_test::vals(mlp->l2.W.grad());
  for (int j = 0; j < 8; ++j) CHECK(got[size_t(j)] == doctest::Approx(want[size_t(j)]).epsilon(1e-4));
  opt.update();
  const std::vector<double> after = catena_test::vals(mlp->l2.W.array());
  for (int j = 0; j < 8; ++j) CHECK(after[size_t(j)] == doctest::Approx(before[size_t(j)] - want[size_t(j)]).epsilon(1e-4));
  // Saved as a codebook with 4-bit indices, loaded on every device computing the same.
  save_model(dir / "km.npz", model);
  const KeyStore keys = read_keys(dir / "km.npz");
  Dtype dt;
  Shape sh;
  REQUIRE(keys.describe("predictor/l2/W.indices", &dt, &sh));
  CHECK(sh == Shape{200});  // 400 weights, two a byte
  auto guard = no_backprop_mode();
  const std::vector<double> y = catena_test::vals((*mlp)(Variable(x, false)).array());
  for (Device* d : runtime().devices()) {
    CAPTURE(d->name());
    auto back = load_model(dir / "km.npz", *d);
    auto* c = dynamic_cast<L::Classifier*>(back.get());
    REQUIRE(c);
    const std::vector<double> out = catena_test::vals(c->predictor()(Variable(x.to(*d), false)).array());
    for (size_t i = 0; i < y.size(); ++i) CHECK(out[i] == doctest::Approx(y[i]).epsilon(1e-4));
  }
}

TEST_CASE("binary weights, quantization-aware training and half-precision storage") {
  TempDir dir;
  const Tensor x = catena_test::input(Shape{6, 4}, float32, 5, -1, 1);
  // Binary: two values per output row, +-mean|w|, stored one bit a weight.
  auto b = small_mlp(3, 4, 20);
  const std::vector<double> w2 = catena_test::vals(b->l2.W.array());
  cz::Quantizer("binary")(*b);
  REQUIRE(b->l2.W.quantized());
  for (int8_t v : b->l2.W.quantized()->q.to_vector<int8_t>()) CHECK((v == 1 || v == -1));
  const std::vector<double> alpha = catena_test::vals(b->l2.W.quantized()->scale);
  double m0 = 0;
  for (int k = 0; k < 20; ++k) m0 += std::fabs(w2[size_t(k)]) / 20;
  CHECK(alpha[0] == doctest::Approx(m0).epsilon(1e-5));
  save(dir / "bin.npz", *b);
  CHECK(read_keys(dir / "bin.npz").contains("l2/W.sign"));
  auto b2 = small_mlp(9, 4, 20);
  load(dir / "bin.npz", *b2);
  CHECK(b2->l2.W.quantized()->q.to_vector<int8_t>() == b->l2.W.quantized()->q.to_vector<int8_t>());
  CHECK(catena_test::vals((*b2)(Variable(x, false)).array()) == catena_test::vals((*b)(Variable(x, false)).array()));
  // QAT: forward sees fake-quantized weights, the gradient reaches the float weights.
  auto q = small_mlp(3, 4, 20);
  CHECK(cz::prepare_qat(*q, "int8") == 3);
  Variable fq = q->l2.W.weight();
  std::vector<double> fv = catena_test::vals(fq.array());
  const std::vector<double> orig = catena_test::vals(q->l2.W.array());
  double worst = 0;
  for (size_t i = 0; i < fv.size(); ++i) worst = std::max(worst, std::fabs(fv[i] - orig[i]));
  CHECK(worst > 0);
  CHECK(worst < 0.01);
  Variable s = F::sum(fq);
  q->cleargrads();
  s.backward();
  for (double v : catena_test::vals(q->l2.W.grad())) CHECK(v == 1.0);  // straight through
  cz::Quantizer()(*q);
  CHECK(q->l2.W.quantized());
  CHECK(q->l2.W.fake_quant().empty());
  CHECK(contains(error_of([&] { F::fake_quantize(Variable(x), "int4"); }), "int8 or binary"));
  // float16: half the bytes in files, values rounded to float16 in memory too.
  auto h = small_mlp(3, 4, 20);
  cz::Report r = cz::Cast(float16)(*h);
  CHECK(r.bytes() * 2 == r.bytes_before());
  for (double v : catena_test::vals(h->l2.W.array())) CHECK(v == double(float(_Float16(v))));
  save(dir / "half.npz", *h);
  Dtype dt;
  Shape sh;
  REQUIRE(read_keys(dir / "half.npz").describe("l2/W", &dt, &sh));
  CHECK(dt == float16);
  auto h2 = std::make_shared<models::MLP>(20, 3);
  load(dir / "half.npz", *h2);
  CHECK(h2->l2.W.array().dtype() == float32);
  CHECK(h2->l2.W.storage_dtype() == float16);
  CHECK(catena_test::vals(h2->l2.W.array()) == catena_test::vals(h->l2.W.array()));
}

TEST_CASE("PruningKit and QuantizerKit: the pipeline reports parameters, accuracy and latency before and after") {
  auto train = catena_test::blobs(64, 1), test = catena_test::blobs(32, 2);
  auto mlp = small_mlp(3, 4, 20);
  L::Classifier model(mlp);
  {
    optimizers::Adam opt(0.01);
    opt.setup(model);
    SerialIterator it(train, 16);
    StandardUpdater up(it, opt);
    for (int i = 0; i < 40; ++i) up.update();
  }
  std::ostringstream log;
  cz::KitReport p = cz::PruningKit(0.5, 1).run(model, train, test, runtime().cpu(), &log);
  CHECK(contains(log.str(), "pruned 50 %"));
  CHECK(p.accuracy_before > 0.9);
  CHECK(p.accuracy_after > 0.9);
  CHECK(p.latency_after_us > 0);
  CHECK(p.params.nonzero() < p.params.elements());
  CHECK(masked_are_zero(*mlp));
  CHECK(contains(p.table(), "test accuracy"));
  cz::Kit::Options o;
  o.quantize = "int8";
  o.calibrate = 2;
  o.batchsize = 16;
  cz::KitReport q = cz::Kit(o).run(model, train, test, runtime().cpu());
  CHECK(mlp->l2.W.quantized());
  CHECK(q.params.bytes() < q.params.bytes_before());
  CHECK(q.accuracy_after > 0.9);
  CHECK(contains(error_of([] { cz::QuantizerKit("int3"); }), "unknown method 'int3'"));
  CHECK(contains(error_of([] { cz::QuantizerKit("int8", 0, 0); }), "calibration batches"));
  CHECK(contains(error_of([] { cz::PruningKit(2.0); }), "[0, 1)"));
  CHECK(contains(error_of([] { cz::Kit(cz::Kit::Options{}); }), "nothing to do"));
  // Calibrating on more batches than the data set has says so.
  auto m2 = small_mlp(3, 4, 20);
  L::Classifier c2(m2);
  CHECK(contains(error_of([&] { cz::QuantizerKit("int8", 0, 50).run(c2, train, test, runtime().cpu()); }),
                 "only 1 batches"));
}

TEST_CASE("compression options and models that cannot be compressed are clear errors") {
  CHECK(contains(error_of([] { cz::Pruner(1.0); }), "[0, 1)"));
  CHECK(contains(error_of([] { cz::Pruner(-0.1); }), "[0, 1)"));
  CHECK(contains(error_of([] { cz::Pruner(0.5, "everywhere"); }), "scope"));
  CHECK(contains(error_of([] { cz::create("squeeze"); }), "prune"));  // the known ones listed
  CHECK(contains(error_of([] { cz::create("prune", {{"amount", 0.5}}); }), "no option 'amount'"));
  CHECK(contains(error_of([] { cz::create("prune", {{"level", "half"}}); }), "must be a number"));
  CHECK(contains(error_of([] { cz::Quantizer("int4"); }), "mode"));
  L::BatchNormalization bn(4);
  CHECK(contains(error_of([&] { cz::Pruner(0.5)(bn); }), "no weights to prune"));
  CHECK(contains(error_of([&] { cz::Quantizer()(bn); }), "no Linear"));
  models::MLP lazy(10, 2);  // l1 has no weights until a forward
  CHECK(contains(error_of([&] { cz::Quantizer()(lazy); }), "run a forward first"));
  auto q = small_mlp();
  cz::Quantizer()(*q);
  CHECK(contains(error_of([&] { cz::Pruner(0.5)(*q); }), "prune before quantizing"));
  CHECK(contains(error_of([&] { cz::StructuredPruner(0.5)(*q); }), "prune channels first"));
  CHECK(contains(error_of([] { cz::StructuredPruner(0.5, "l3"); }), "l1 or l2"));
  CHECK(contains(error_of([] { cz::create("prune", {{"structured", 1}, {"scope", "layer"}}); }), "per layer"));
  // A C++ Chain of its own says nothing of its forward: structured pruning cannot follow it.
  struct Own : Chain {
    L::Linear a{4, 4}, b{4, 2};
    Own() { register_link("a", a), register_link("b", b); }
  } own;
  CHECK(contains(error_of([&] { cz::StructuredPruner(0.5)(own); }), "not a chain"));
  L::Sequential mixed;
  mixed.add(std::make_unique<L::Linear>(4, 4)).add("softmax").add(std::make_unique<L::Linear>(4, 2));
  CHECK(contains(error_of([&] { cz::StructuredPruner(0.5)(mixed); }), "not a chain"));
}

TEST_CASE("damaged compressed files are refused, naming the key and what is wrong") {
  TempDir dir;
  auto base = small_mlp();
  auto pruned = small_mlp();
  cz::Pruner(0.5)(*pruned);
  auto quantized = small_mlp();
  cz::Quantizer()(*quantized);
  KeyStore p, q;
  {
    Serializer sp(p, Serializer::Mode::save);
    pruned->serialize(sp);
    Serializer sq(q, Serializer::Mode::save);
    quantized->serialize(sq);
  }
  Device& cpu = runtime().cpu();
  struct Damage {
    const char* what;
    bool int8;
    std::function<void(KeyStore&)> edit;
    const char* says;
  };
  const std::vector<Damage> damages = {
      {"a NaN scale", true,
       [&](KeyStore& k) {
         std::vector<float> s(20, 0.01f);
         s[3] = NAN;
         k.put("l2/W.scale", Tensor::from_vector(s, Shape{20}, cpu));
       },
       "l2/W.scale"},
      {"a negative scale", true,
       [&](KeyStore& k) { k.put("l1/W.scale", Tensor::full(Shape{20}, -1.0, float32, cpu)); }, "positive finite"},
      {"too few scales", true, [&](KeyStore& k) { k.put("l1/W.scale", Tensor::full(Shape{3}, 0.1, float32, cpu)); },
       "20 float32 scales"},
      {"float weights under .int8", true, [&](KeyStore& k) { k.put("l3/W.int8", Tensor::zeros(Shape{3, 20}, float32, cpu)); },
       "int8 weights"},
      {"a weight of the wrong shape", true,
       [&](KeyStore& k) { k.put("l3/W.int8", Tensor::zeros(Shape{4, 20}, int8, cpu)); }, "(4, 20)"},
      {"a bitmap of the wrong length", false,
       [&](KeyStore& k) { k.put("l2/W.mask", Tensor::zeros(Shape{7}, uint8, cpu)); }, "bitmap of 50 bytes"},
      {"more values than the bitmap marks", false,
       [&](KeyStore& k) { k.put("l2/W.values", Tensor::zeros(Shape{401}, float32, cpu)); }, "kept values the bitmap marks"},
      {"bits beyond the elements", false,
       [&](KeyStore& k) {
         // l3/W is (3, 20): 60 elements, 8 bytes, the last 4 bits spare.
         std::vector<uint8_t> b = k.find("l3/W.mask")->to_vector<uint8_t>();
         b.back() = uint8_t(b.back() | 0x80);
         k.put("l3/W.mask", Tensor::from_vector(b, Shape{int64_t(b.size())}, cpu));
       },
       "beyond"},
      {"a codebook centroid that is NaN", false,
       [&](KeyStore& k) {
         k.put("l2/W.shape", Tensor::from_vector(std::vector<int64_t>{20, 20}, Shape{2}, cpu));
         std::vector<float> c(16, 0.5f);
         c[2] = NAN;
         k.put("l2/W.codebook", Tensor::from_vector(c, Shape{16}, cpu));
         k.put("l2/W.indices", Tensor::zeros(Shape{200}, uint8, cpu));
       },
       "l2/W.codebook"},
      {"an index beyond the codebook", false,
       [&](KeyStore& k) {
         k.put("l2/W.shape", Tensor::from_vector(std::vector<int64_t>{20, 20}, Shape{2}, cpu));
         k.put("l2/W.codebook", Tensor::full(Shape{5}, 0.1, float32, cpu));
         k.put("l2/W.indices", Tensor::full(Shape{200}, 0x77, uint8, cpu));
       },
       "index 7 of a codebook of 5"},
      {"indices of the wrong length", false,
       [&](KeyStore& k) {
         k.put("l2/W.shape", Tensor::from_vector(std::vector<int64_t>{20, 20}, Shape{2}, cpu));
         k.put("l2/W.codebook", Tensor::full(Shape{16}, 0.1, float32, cpu));
         k.put("l2/W.indices", Tensor::zeros(Shape{400}, uint8, cpu));
       },
       "200 bytes of 4-bit indices"},
      {"a short sign bitmap", false,
       [&](KeyStore& k) {
         k.put("l2/W.shape", Tensor::from_vector(std::vector<int64_t>{20, 20}, Shape{2}, cpu));
         k.put("l2/W.sign", Tensor::zeros(Shape{10}, uint8, cpu));
         k.put("l2/W.scale", Tensor::full(Shape{20}, 0.1, float32, cpu));
       },
       "l2/W.sign"},
      {"an impossible shape", false,
       [&](KeyStore& k) { k.put("l1/W.shape", Tensor::from_vector(std::vector<int64_t>{-4, 6}, Shape{2}, cpu)); },
       "l1/W.shape"},
  };
  for (const Damage& d : damages) {
    const std::string what = d.what;
    CAPTURE(what);
    KeyStore k = d.int8 ? q : p;
    d.edit(k);
    const std::string path = dir / "damaged.npz";
    write_npz(path, k);
    auto fresh = small_mlp(50);
    const std::vector<float> before = fresh->l1.W.array().to_vector<float>();
    const std::string e = error_of([&] { load(path, *fresh); });
    CAPTURE(e);
    CHECK(contains(e, d.says));
    CHECK(fresh->l1.W.array().to_vector<float>() == before);  // all or nothing
  }
  (void)base;
}
