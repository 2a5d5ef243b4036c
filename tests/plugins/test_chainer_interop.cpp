// Interoperation with real Chainer 7.8.1 (from PyPI, in a venv made by tools/chainer-venv):
// models Chainer saves (npz and hdf5) load into the same architecture in Catena and give
// the same outputs, and the reverse; optimizer state moves both ways. These tests fail —
// they do not skip — when Chainer is missing.
#include "../support.hpp"

#include <catena/config.hpp>
#include <catena/links.hpp>
#include <catena/models.hpp>
#include <catena/optimizers.hpp>
#include <catena/random.hpp>
#include <catena/serializers.hpp>

#include <doctest/doctest.h>

using namespace catena;
using catena_test::TempDir;

namespace {

// The venv's python: $CATENA_CHAINER_PYTHON, else where tools/chainer-venv puts it.
std::string chainer_python() {
  std::string p = catena_test::env("CATENA_CHAINER_PYTHON");
  if (!p.empty()) return p;
  std::string venv = catena_test::env("CATENA_CHAINER_VENV");
  if (venv.empty()) venv = catena_test::env("HOME") + "/.cache/catena/chainer-7.8.1-venv";
  return venv + "/bin/python";
}

// Runs `code` with Chainer's python in `dir` (argv[1]); returns its output, failing the
// test (with how to get Chainer) when Chainer is not there.
std::string run_chainer(const std::string& dir, const std::string& code) {
  const std::string py = chainer_python();
  auto probe = catena_test::run_command(py + " -c 'import chainer; print(chainer.__version__)'");
  INFO("Chainer 7.8.1 is needed here: run tools/chainer-venv (it installs it from PyPI into a venv), or set "
       "CATENA_CHAINER_PYTHON to a python that has it. Tried: "
       << py << "\n" << probe.output);
  REQUIRE(probe.status == 0);
  REQUIRE(catena_test::contains(probe.output, "7.8.1"));
  const std::string models = R"(
import sys, numpy as np, chainer, chainer.links as L, chainer.functions as F
d = sys.argv[1]
class MLP(chainer.Chain):
    def __init__(self, n_units, n_out):
        super().__init__()
        with self.init_scope():
            self.l1 = L.Linear(None, n_units)
            self.l2 = L.Linear(None, n_units)
            self.l3 = L.Linear(None, n_out)
    def forward(self, x):
        return self.l3(F.relu(self.l2(F.relu(self.l1(x)))))
class CNN(chainer.Chain):
    def __init__(self, n_units, n_out):
        super().__init__()
        with self.init_scope():
            self.conv1 = L.Convolution2D(None, 32, 3, pad=1)
            self.conv2 = L.Convolution2D(32, 64, 3, pad=1)
            self.fc1 = L.Linear(None, n_units)
            self.fc2 = L.Linear(n_units, n_out)
    def forward(self, x):
        h = F.max_pooling_2d(F.relu(self.conv1(x)), 2)
        h = F.max_pooling_2d(F.relu(self.conv2(h)), 2)
        return self.fc2(F.relu(self.fc1(h)))
def predict(model, x):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        return model.predictor(x).array
)";
  catena_test::write_file(dir + "/script.py", models + code);
  auto r = catena_test::run_command(py + " " + dir + "/script.py " + dir);
  INFO(r.output);
  CHECK(r.status == 0);
  return r.output;
}

Tensor array(const std::string& file, const std::string& key) {
  KeyStore keys = read_keys(file);
  const Tensor* t = keys.find(key);
  REQUIRE_MESSAGE(t, file << " has no '" << key << "'");
  return *t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.astype(float64).to_vector<double>(), y = b.astype(float64).to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

Tensor predict(Link& predictor, const Tensor& x) {
  UsingConfig eval(&Config::train, false);
  auto no_graph = no_backprop_mode();
  return predictor.forward(Variable(x, false)).array();
}

}  // namespace

TEST_CASE("Chainer 7.8.1 -> Catena: models Chainer saves (npz, hdf5) give the same outputs in Catena") {
  TempDir dir;
  run_chainer(dir.path, R"(
rs = np.random.RandomState(1)
for name, net, shape in (('mlp', MLP(16, 10), (4, 784)), ('cnn', CNN(12, 10), (3, 1, 28, 28))):
    np.random.seed(0)
    model = L.Classifier(net)
    x = rs.uniform(-1, 1, shape).astype(np.float32)
    y = predict(model, x)
    chainer.serializers.save_npz(d + '/' + name + '.npz', model)
    chainer.serializers.save_hdf5(d + '/' + name + '.h5', model)
    np.savez(d + '/' + name + '_io.npz', x=x, y=y)
)");
  for (const char* name : {"mlp", "cnn"}) {
    for (const char* ext : {".npz", ".h5"}) {
      CAPTURE(name);
      CAPTURE(ext);
      std::shared_ptr<Link> net(models::create(name, {{"n_units", std::string(name) == "mlp" ? 16.0 : 12.0}, {"n_out", 10}}));
      L::Classifier model(net);
      load(dir / (std::string(name) + ext), model);
      const std::string io = dir / (std::string(name) + "_io.npz");
      Tensor y = predict(*net, array(io, "x"));
      CHECK(max_abs_diff(y, array(io, "y")) < 1e-5);
    }
  }
}

TEST_CASE("Catena -> Chainer 7.8.1: models Catena saves give the same outputs in Chainer") {
  TempDir dir;
  seed(8);
  for (const char* name : {"mlp", "cnn"}) {
    const bool mlp = std::string(name) == "mlp";
    std::shared_ptr<Link> net(models::create(name, {{"n_units", mlp ? 16.0 : 12.0}, {"n_out", 10}}));
    L::Classifier model(net);
    Tensor x = catena_test::input(mlp ? Shape{4, 784} : Shape{3, 1, 28, 28}, float32, 17);
    Tensor y = predict(*net, x);
    save(dir / (std::string(name) + ".npz"), model);
    save(dir / (std::string(name) + ".h5"), model);
    save_npz(dir / (std::string(name) + "_io.npz"), {{"x", x}, {"y", y}});
  }
  std::string out = run_chainer(dir.path, R"(
for name, make in (('mlp', lambda: MLP(16, 10)), ('cnn', lambda: CNN(12, 10))):
    io = np.load(d + '/' + name + '_io.npz')
    for ext, load in (('.npz', chainer.serializers.load_npz), ('.h5', chainer.serializers.load_hdf5)):
        model = L.Classifier(make())
        load(d + '/' + name + ext, model)
        diff = float(np.abs(predict(model, io['x']) - io['y']).max())
        print(name, ext, 'max difference', diff)
        assert diff < 1e-5, (name, ext, diff)
print('all equal')
)");
  CHECK(catena_test::contains(out, "all equal"));
}

TEST_CASE("optimizer state moves between Chainer 7.8.1 and Catena (Adam's t, m, v)") {
  TempDir dir;
  // Catena trains three steps and saves; Chainer loads the model and the optimizer.
  seed(3);
  L::Classifier model(std::make_shared<models::MLP>(8, 3));
  optimizers::Adam opt;
  opt.setup(model);
  Tensor x = catena_test::input(Shape{6, 5}, float32, 4);
  Tensor t = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 0, 1, 2}, Shape{6});
  for (int i = 0; i < 3; ++i) opt.update([&] { return model.loss({x, t}); });
  save_npz(dir / "model.npz", model);
  save_npz(dir / "adam.npz", opt);
  std::string out = run_chainer(dir.path, R"(
model = L.Classifier(MLP(8, 3))
chainer.serializers.load_npz(d + '/model.npz', model)
opt = chainer.optimizers.Adam()
opt.setup(model)
chainer.serializers.load_npz(d + '/adam.npz', opt)
saved = np.load(d + '/adam.npz')
assert opt.t == 3, opt.t
rule = model.predictor.l2.W.update_rule
assert rule.t == 3, rule.t
assert np.array_equal(rule.state['m'], saved['predictor/l2/W/m'])
assert np.array_equal(rule.state['v'], saved['predictor/l2/W/v'])
# Chainer trains on from there and saves for Catena.
x = np.random.RandomState(5).uniform(-1, 1, (6, 5)).astype(np.float32)
t = np.array([2, 1, 0, 2, 1, 0], np.int32)
opt.update(model, x, t)
chainer.serializers.save_npz(d + '/model2.npz', model)
chainer.serializers.save_npz(d + '/adam2.npz', opt)
print('chainer loaded catena optimizer')
)");
  CHECK(catena_test::contains(out, "chainer loaded catena optimizer"));
  L::Classifier back(std::make_shared<models::MLP>(8, 3));
  optimizers::Adam opt2;
  opt2.setup(back);
  load_npz(dir / "model2.npz", back);
  load_npz(dir / "adam2.npz", opt2);
  CHECK(opt2.t == 4);
  for (auto& [key, state] : opt2.namedstates()) {
    CAPTURE(key);
    CHECK(max_abs_diff(*state, array(dir / "adam2.npz", key.substr(1))) == 0);
  }
}
