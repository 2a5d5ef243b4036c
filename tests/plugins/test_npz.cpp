// load_npz / read_npz: round trips, files numpy writes in Chainer's layout (pickled None
// included), sub-trees, strictness, and bad files that leave the model untouched.
#include "../support.hpp"

#include <catena/links.hpp>
#include <catena/models.hpp>
#include <catena/random.hpp>
#include <catena/optimizers.hpp>
#include <catena/serializers.hpp>

#include <algorithm>

#include <doctest/doctest.h>

using namespace catena;
using catena_test::contains;
using catena_test::TempDir;

namespace {

std::vector<float> first_values(Link& l) { return l.namedparams()[0].second->array().to_vector<float>(); }

Variable probe() { return Variable(catena_test::input(Shape{2, 5}, float32, 31), false); }

}  // namespace

TEST_CASE("load_npz: what save_npz writes loads back into a fresh model, lazy parameters included") {
  TempDir dir;
  seed(1);
  L::Classifier a(std::make_shared<models::MLP>(6, 3));
  Variable ya = a.forward(probe());
  save_npz(dir / "a.npz", a);
  seed(2);
  L::Classifier b(std::make_shared<models::MLP>(6, 3));  // l1 not yet initialised
  load_npz(dir / "a.npz", b);
  CHECK(b.forward(probe()).array().to_vector<float>() == ya.array().to_vector<float>());
  // A sub-tree into the bare predictor, and back out of it.
  models::MLP bare(6, 3);
  load_npz(dir / "a.npz", bare, "predictor/");
  CHECK(bare.forward(probe()).array().to_vector<float>() == ya.array().to_vector<float>());
  std::vector<std::string> keys;
  for (auto& [k, t] : read_npz(dir / "a.npz")) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"predictor/l1/W", "predictor/l1/b", "predictor/l2/W", "predictor/l2/b",
                                         "predictor/l3/W", "predictor/l3/b"});
}

TEST_CASE("load_npz reads numpy's savez and savez_compressed in Chainer's layout; a pickled None is absent") {
  TempDir dir;
  std::string script = dir / "make.py";
  catena_test::write_file(script,
                          "import sys, numpy as np\n"
                          "out = sys.argv[1]\n"
                          "a = {'predictor/l1/W': np.arange(30, dtype=np.float32).reshape(6, 5) / 10,\n"
                          "     'predictor/l1/b': np.array(None, dtype=object),\n"
                          "     'predictor/l2/W': np.asfortranarray(np.eye(6, dtype=np.float64)),\n"
                          "     'predictor/l2/b': np.ones(6, '>f4'),\n"
                          "     'predictor/l3/W': np.full((3, 6), 0.5, np.float32),\n"
                          "     'predictor/l3/b': np.zeros(3, np.float32)}\n"
                          "np.savez(out + '/plain.npz', **a)\n"
                          "np.savez_compressed(out + '/packed.npz', **a)\n");
  auto r = catena_test::run_command("/usr/bin/python3 " + script + " " + dir.path);
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* name : {"plain.npz", "packed.npz"}) {
    CAPTURE(name);
    L::Classifier m(std::make_shared<models::MLP>(6, 3));
    auto& mlp = static_cast<models::MLP&>(m.predictor());
    std::vector<float> b_before = mlp.l1.b.array().to_vector<float>();
    load_npz(dir / name, m);
    CHECK(mlp.l1.W.shape() == Shape{6, 5});
    CHECK(mlp.l1.W.array().to_vector<float>()[7] == doctest::Approx(0.7f));
    CHECK(mlp.l1.b.array().to_vector<float>() == b_before);  // None: left alone
    CHECK(mlp.l2.W.array().to_vector<float>()[7] == 1.0f);   // Fortran order, float64 -> float32
    CHECK(mlp.l2.b.array().to_vector<float>()[0] == 1.0f);   // big-endian
    std::vector<std::string> absent;
    read_npz(dir / name, &absent);
    CHECK(absent == std::vector<std::string>{"predictor/l1/b"});
  }
}

TEST_CASE("load_npz: strict and non-strict; errors name the file and the key; a failed load changes nothing") {
  TempDir dir;
  models::MLP small(4, 2);
  small.forward(probe());
  save_npz(dir / "small.npz", small);
  models::MLP m(6, 3);
  m.forward(probe());
  std::vector<float> before = first_values(m);
  CHECK_THROWS_WITH_AS(load_npz(dir / "small.npz", m), doctest::Contains("'l1/W' has shape (4, 5), but the parameter is (6, 5)"),
                       Error);
  CHECK(first_values(m) == before);  // nothing was loaded
  L::Classifier c(std::make_shared<models::MLP>(6, 3));
  CHECK_THROWS_WITH_AS(load_npz(dir / "small.npz", c), doctest::Contains("no key 'predictor/l1/W'"), Error);
  struct Extra : Chain {
    L::Linear l1{5, 4}, other{2, 2};
    Extra() {
      register_link("l1", l1);
      register_link("other", other);
    }
  } extra;
  CHECK_THROWS_AS(load_npz(dir / "small.npz", extra), Error);
  load_npz(dir / "small.npz", extra, "", /*strict=*/false);
  CHECK(extra.l1.W.array().to_vector<float>() == small.l1.W.array().to_vector<float>());
  // Bad files.
  std::string good = catena_test::read_file(dir / "small.npz");
  catena_test::write_file(dir / "cut.npz", good.substr(0, good.size() / 2));
  CHECK_THROWS_WITH_AS(read_npz(dir / "cut.npz"), doctest::Contains("cut.npz"), Error);
  catena_test::write_file(dir / "text.npz", "hello, this is not a zip archive at all");
  CHECK_THROWS_WITH_AS(read_npz(dir / "text.npz"), doctest::Contains("not a zip file"), Error);
  CHECK_THROWS_WITH_AS(read_npz(dir / "none.npz"), doctest::Contains("none.npz: no such file"), Error);
  std::string flipped = good;
  flipped[60] = char(flipped[60] ^ 0x55);  // inside the first .npy header
  catena_test::write_file(dir / "flip.npz", flipped);
  CHECK_THROWS_AS(load_npz(dir / "flip.npz", small), Error);
}

TEST_CASE("optimizer state saved to .npz resumes training with the same updates, bit for bit") {
  TempDir dir;
  Tensor x = catena_test::input(Shape{8, 5}, float32, 41);
  Tensor t = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 0, 1, 2, 0, 1}, Shape{8});
  auto step = [&](Link& model, Optimizer& opt) {
    opt.update([&] { return F::softmax_cross_entropy(model.forward(Variable(x, false)), t); });
  };
  seed(5);
  models::MLP a(6, 3);
  optimizers::Adam oa(0.01);
  oa.setup(a);
  for (int i = 0; i < 3; ++i) step(a, oa);
  oa.new_epoch();
  save_npz(dir / "model.npz", a);
  save_npz(dir / "opt.npz", oa);
  std::vector<std::string> keys;
  for (auto& [k, v] : read_npz(dir / "opt.npz")) keys.push_back(k);
  CHECK(keys[0] == "t");
  CHECK(keys[1] == "epoch");
  CHECK(std::find(keys.begin(), keys.end(), "l1/W/m") != keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "l3/b/v") != keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "l2/W/t") != keys.end());
  // A fresh model and optimizer, loaded, then one more step on both.
  seed(99);
  models::MLP b(6, 3);
  optimizers::Adam ob(0.01);
  ob.setup(b);
  load_npz(dir / "model.npz", b);
  load_npz(dir / "opt.npz", ob);
  CHECK(ob.t == 3);
  CHECK(ob.epoch == 1);
  step(a, oa);
  step(b, ob);
  auto pa = a.namedparams(), pb = b.namedparams();
  for (size_t i = 0; i < pa.size(); ++i)
    CHECK(pa[i].second->array().to_vector<float>() == pb[i].second->array().to_vector<float>());
  // Wrong shapes or missing keys: an error naming the key, nothing changed.
  models::MLP c(4, 3);
  c.forward(Variable(x, false));
  optimizers::Adam oc;
  oc.setup(c);
  CHECK_THROWS_WITH_AS(load_npz(dir / "opt.npz", oc), doctest::Contains("'l1/W/m' has shape (6, 5)"), Error);
  CHECK(oc.t == 0);
  optimizers::AdaGrad og;  // its state is "h", which an Adam file does not have
  og.setup(b);
  CHECK_THROWS_WITH_AS(load_npz(dir / "opt.npz", og), doctest::Contains("no key 'l1/W/h'"), Error);
  load_npz(dir / "opt.npz", og, "", /*strict=*/false);
  CHECK(og.t == 3);
}
