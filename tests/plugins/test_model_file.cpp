// Whole-model files (architecture + parameters) and the commands around them: catena eval
// rebuilds a trained model in a process that never saw its class, on every device;
// catena inspect and catena convert; models that cannot be saved whole are refused when
// saving, naming the part.
#include "../support.hpp"

#include <catena/config.hpp>
#include <catena/links.hpp>
#include <catena/model_file.hpp>
#include <catena/models.hpp>
#include <catena/random.hpp>
#include <catena/serializers.hpp>

#include <algorithm>

#include <doctest/doctest.h>

using namespace catena;
using catena_test::contains;
using catena_test::TempDir;

namespace {

std::vector<float> predict(Link& m, const Tensor& x) {
  UsingConfig eval(&Config::train, false);
  auto no_graph = no_backprop_mode();
  return m.forward(Variable(x, false)).array().to_vector<float>();
}

}  // namespace

TEST_CASE("save_model / load_model: a Sequential of links and named functions, a Classifier, the CNN; npz and hdf5") {
  TempDir dir;
  seed(21);
  auto seq = std::make_shared<L::Sequential>();
  seq->add(std::make_unique<L::Convolution2D>(1, 4, 3, 1, 1))
      .add("relu")
      .add("max_pooling_2d", {{"ksize", 2}})
      .add(std::make_unique<L::BatchNormalization>(4))
      .add("flatten")
      .add(std::make_unique<L::Linear>(L::Linear::lazy(), 6))
      .add("leaky_relu", {{"slope", 0.1}})
      .add(std::make_unique<L::Linear>(6, 3));
  L::Classifier model(seq);
  Tensor x = catena_test::input(Shape{2, 1, 6, 6}, float32, 3);
  std::vector<float> y = predict(model, x);
  for (const char* name : {"seq.npz", "seq.h5"}) {
    CAPTURE(name);
    save_model(dir / name, model);
    std::unique_ptr<Link> back = load_model(dir / name);
    REQUIRE(dynamic_cast<L::Classifier*>(back.get()));
    CHECK(predict(*back, x) == y);
    CHECK(back->namedparams().size() == model.namedparams().size());
  }
  auto cnn = std::make_shared<models::CNN>(8, 5);
  Tensor img = catena_test::input(Shape{2, 1, 28, 28}, float32, 4);
  std::vector<float> yc = predict(*cnn, img);
  save_model(dir / "cnn.npz", *cnn, "", /*compress=*/true);
  std::unique_ptr<Link> cnn_back = load_model(dir / "cnn.npz");
  CHECK(dynamic_cast<models::CNN*>(cnn_back.get()));
  CHECK(predict(*cnn_back, img) == yc);
  CHECK(contains(architecture_json(*cnn), "\"type\": \"cnn\""));
}

TEST_CASE("save_model refuses models whose forward only C++ knows, naming the part; load_model's errors") {
  TempDir dir;
  struct Mine : Chain {
    L::Linear l{3, 2};
    Mine() { register_link("l", l); }
  } mine;
  CHECK_THROWS_WITH_AS(save_model(dir / "m.npz", mine), doctest::Contains("Mine) is not made of registered links"), Error);
  CHECK(!std::filesystem::exists(dir / "m.npz"));
  auto seq = std::make_shared<L::Sequential>();
  seq->add(std::make_unique<L::Linear>(3, 2)).add([](const Variable& v) { return F::relu(v); });
  CHECK_THROWS_WITH_AS(save_model(dir / "s.npz", *seq), doctest::Contains("step 1 is a function added as a C++ callable"),
                       Error);
  L::Classifier custom(std::make_shared<models::MLP>(4, 2),
                       [](const Variable& y, const Tensor& t) { return F::softmax_cross_entropy(y, t); });
  CHECK_THROWS_AS(save_model(dir / "c.npz", custom), Error);
  CHECK_THROWS_WITH_AS(seq->add("swish"), doctest::Contains("no function named 'swish' (known: relu"), Error);
  // Parameters alone are not a whole model.
  models::MLP mlp(4, 2);
  mlp.forward(Variable(catena_test::input(Shape{1, 3}, float32, 1), false));
  save_npz(dir / "params.npz", mlp);
  CHECK_THROWS_WITH_AS(load_model(dir / "params.npz"), doctest::Contains("params.npz holds parameters only"), Error);
  // A damaged architecture, a newer version: errors naming the file.
  save_model(dir / "ok.npz", mlp);
  KeyStore keys = read_keys(dir / "ok.npz");
  std::string bad = "{\"type\": \"mlp\", \"attributes\": {\"n_units\": 4,";
  keys.put("_catena_model/architecture",
           Tensor::from_host(bad.data(), bad.size(), Shape{int64_t(bad.size())}, uint8, runtime().cpu()));
  write_keys(dir / "bad.npz", keys);
  CHECK_THROWS_WITH_AS(load_model(dir / "bad.npz"), doctest::Contains("bad.npz: the architecture is not valid"), Error);
  keys = read_keys(dir / "ok.npz");
  keys.put("_catena_model/version", Tensor::full(Shape{}, 99, int64, runtime().cpu()));
  write_keys(dir / "new.npz", keys);
  CHECK_THROWS_WITH_AS(load_model(dir / "new.npz"), doctest::Contains("version 99"), Error);
  std::string unknown = "{\"type\": \"transformer\", \"attributes\": {}}";
  CHECK_THROWS_WITH_AS(build_model(unknown), doctest::Contains("unknown link 'transformer'"), Error);
}

TEST_CASE("catena train's model loads in another process (catena eval) with the same accuracy, on every device") {
  TempDir dir;
  catena_test::write_tiny_fashion_mnist(dir.path, 200);
  const std::string tool = catena_test::catena_tool();
  auto r = catena_test::run_command(tool + " train --data " + dir.path + " --epoch 1 --batchsize 20 --unit 16 " +
                                    "--seed 2 --no-progress --snapshot-every 0 --out " + (dir / "out"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  const size_t at = r.output.find("test accuracy: ");
  REQUIRE(at != std::string::npos);
  const std::string accuracy = r.output.substr(at + 15, 6);
  // CATENA_SEED gives the same run as --seed; a bad one is reported and seed 0 used.
  const std::string again = " train --data " + dir.path + " --epoch 1 --batchsize 20 --unit 16 " +
                            "--no-progress --snapshot-every 0 --out " + (dir / "again");
  auto by_env = catena_test::run_command("CATENA_SEED=2 " + tool + again);
  INFO(by_env.output);
  CHECK(contains(by_env.output, "test accuracy: " + accuracy));
  auto bad_seed = catena_test::run_command("CATENA_SEED=two " + tool + again);
  INFO(bad_seed.output);
  CHECK(bad_seed.status == 0);
  CHECK(contains(bad_seed.output, "CATENA_SEED='two' is not an integer from 0 to 9223372036854775807; using 0"));
  std::vector<std::string> devices;
  for (Device* d : runtime().devices()) devices.push_back(d->name());
  REQUIRE(devices.size() >= 2);  // cpu and the test backend's device
  for (const std::string& dev : devices) {
    CAPTURE(dev);
    auto e = catena_test::run_command(tool + " eval --model " + (dir / "out/model.npz") + " --data " + dir.path +
                                      " --device " + dev);
    INFO(e.output);
    CHECK(e.status == 0);
    CHECK(contains(e.output, "accuracy: " + accuracy));
    CHECK(contains(e.output, "200 test examples on " + dev));
  }
  // inspect and convert.
  auto i = catena_test::run_command(tool + " inspect " + (dir / "out/model.npz"));
  INFO(i.output);
  CHECK(i.status == 0);
  CHECK(contains(i.output, "classifier (compute_accuracy=1)\n    mlp (n_out=10, n_units=16)"));
  CHECK(contains(i.output, "predictor/l1/W"));
  CHECK(contains(i.output, "(16, 784)"));
  auto c = catena_test::run_command(tool + " convert " + (dir / "out/model.npz") + " " + (dir / "model.h5") +
                                    " --compress");
  INFO(c.output);
  CHECK(c.status == 0);
  auto e2 = catena_test::run_command(tool + " eval --model " + (dir / "model.h5") + " --data " + dir.path);
  CHECK(contains(e2.output, "accuracy: " + accuracy));
  // A bad CATENA_HDF5_TIMEOUT is reported and the default used.
  auto slow = catena_test::run_command("CATENA_HDF5_TIMEOUT=soon " + tool + " inspect " + (dir / "model.h5"));
  INFO(slow.output);
  CHECK(slow.status == 0);
  CHECK(contains(slow.output, "CATENA_HDF5_TIMEOUT='soon' is not an integer from 1 to 1000000; using 60"));
  CHECK(contains(slow.output, "predictor/l1/W"));
  auto back = catena_test::run_command(tool + " convert " + (dir / "model.h5") + " " + (dir / "again.npz"));
  CHECK(back.status == 0);
  std::vector<std::string> a = read_keys(dir / "again.npz").keys(), b = read_keys(dir / "out/model.npz").keys();
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  CHECK(a == b);  // HDF5 lists keys by name
  // Errors: one line, what to do.
  auto e3 = catena_test::run_command(tool + " eval");
  CHECK(contains(e3.output, "give the model: catena eval --model FILE"));
  auto e4 = catena_test::run_command(tool + " inspect " + (dir / "missing.npz"));
  CHECK(e4.status == 1);
  CHECK(contains(e4.output, "missing.npz: no such file"));
  auto e5 = catena_test::run_command(tool + " convert " + (dir / "model.h5"));
  CHECK(contains(e5.output, "give the input and the output"));
  for (const char* cmd : {"eval", "inspect", "convert"}) {
    auto h = catena_test::run_command(tool + " " + cmd + " --help");
    CHECK(h.status == 0);
    CHECK(contains(h.output, "Usage: catena " + std::string(cmd)));
  }
}
