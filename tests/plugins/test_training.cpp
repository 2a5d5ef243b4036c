// Links (the rest), the Trainer and its extensions, save_npz and `catena train`.
#include "../support.hpp"

#include <catena/config.hpp>
#include <catena/functions.hpp>
#include <catena/links.hpp>
#include <catena/models.hpp>
#include <catena/random.hpp>
#include <catena/training.hpp>

#include <doctest/doctest.h>


#include <cmath>
#include <sstream>

using namespace catena;
using catena_test::blobs;
using namespace catena::training;
using catena_test::contains;
using catena_test::TempDir;

namespace {

using catena_test::vals;

// Two separable classes in 4 dimensions.

}  // namespace

TEST_CASE("Trainer: Classifier, Evaluator, LogReport (Chainer's JSON), PrintReport (Chainer's table), PlotReport") {
  seed(0);
  TempDir dir;
  auto model = std::make_shared<L::Classifier>(std::make_shared<L::Linear>(4, 2));
  optimizers::SGD opt(0.1);
  opt.setup(*model);
  SerialIterator train(blobs(40, 1), 10, true, true, 5), test(blobs(25, 2), 10, false, false);
  StandardUpdater updater(train, opt, runtime().cpu());
  Trainer trainer(updater, {3, Unit::epoch}, dir.path);
  std::ostringstream table;
  auto log = std::make_shared<LogReport>();
  trainer.extend(std::make_shared<Evaluator>(test, *model, runtime().cpu()));
  trainer.extend(log);
  trainer.extend(std::make_shared<PrintReport>(std::vector<std::string>{"epoch", "main/loss", "validation/main/loss",
                                                                        "main/accuracy", "validation/main/accuracy",
                                                                        "elapsed_time"},
                                               "LogReport", &table));
  trainer.extend(std::make_shared<PlotReport>(std::vector<std::string>{"main/loss", "validation/main/loss"}));
  trainer.run();
  CHECK(updater.iteration == 12);
  REQUIRE(log->log().size() == 3);
  const Observation& last = log->log().back();
  std::vector<std::string> keys;
  for (auto& kv : last.items()) keys.push_back(kv.first);
  CHECK(keys == std::vector<std::string>{"main/loss", "main/accuracy", "validation/main/loss",
                                         "validation/main/accuracy", "epoch", "iteration", "elapsed_time"});
  CHECK(*last.find("epoch") == 3);
  CHECK(*last.find("iteration") == 12);
  CHECK(*last.find("validation/main/accuracy") > 0.9);
  // The JSON log, as json.dump(indent=4) writes it.
  std::string json = catena_test::read_file(dir / "log");
  CHECK(json.rfind("[\n    {\n        \"main/loss\": ", 0) == 0);
  CHECK(contains(json, "\"epoch\": 3,\n        \"iteration\": 12,\n        \"elapsed_time\": "));
  CHECK(json.substr(json.size() - 8) == "\n    }\n]");
  // PrintReport: Chainer's exact header, then one row per log entry.
  std::string text = table.str();
  CHECK(text.rfind("epoch       main/loss   validation/main/loss  main/accuracy  validation/main/accuracy  "
                   "elapsed_time\n",
                   0) == 0);
  CHECK(contains(text, "\n3           "));
  CHECK(std::count(text.begin(), text.end(), '\n') == 4);
  // PlotReport: an SVG with one curve per key.
  std::string svg = catena_test::read_file(dir / "plot.svg");
  CHECK(contains(svg, "<svg"));
  CHECK(std::count(svg.begin(), svg.end(), 'p') > 0);
  CHECK(contains(svg, "validation/main/loss"));
  size_t curves = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++curves;
  CHECK(curves == 2);
  // A trainer runs once.
  CHECK_THROWS_WITH_AS(trainer.run(), doctest::Contains("runs only once"), Error);
}

TEST_CASE("Evaluator: the mean over batches, each batch weighing 1, with train=false and no graph") {
  struct Probe : Chain, LossLink {
    bool saw_train = false, saw_graph = false;
    Variable loss(const Example& b) override {
      saw_train |= config().train;
      saw_graph |= config().enable_backprop;
      double n = double(b[0].shape()[0]);
      report("n", n, this);
      return Variable(Tensor::full(Shape{}, n, float32));
    }
  } probe;
  SerialIterator it(blobs(25, 3), 10, false, false);
  Evaluator ev(it, probe);
  Observation o = ev.evaluate();
  CHECK(*o.find("validation/main/n") == doctest::Approx((10 + 10 + 5) / 3.0));
  CHECK_FALSE(probe.saw_train);
  CHECK_FALSE(probe.saw_graph);
  SerialIterator forever(blobs(4, 3), 2);
  CHECK_THROWS_WITH_AS(Evaluator(forever, probe), doctest::Contains("repeat=false"), Error);
}

namespace {

// A trainer over a 10-example set with batch 5: two iterations per epoch.
struct Harness {
  std::shared_ptr<L::Classifier> model = std::make_shared<L::Classifier>(std::make_shared<L::Linear>(4, 2));
  optimizers::MomentumSGD opt{0.1};
  SerialIterator it{blobs(10, 4), 5, true, false};
  std::unique_ptr<StandardUpdater> updater;
  TempDir dir;
  Harness() {
    opt.setup(*model);
    updater = std::make_unique<StandardUpdater>(it, opt, runtime().cpu());
  }
};

struct Record : Extension {
  std::vector<int64_t> at;
  std::vector<double> lr;
  void operator()(Trainer& t) override {
    at.push_back(t.updater.iteration);
    if (const double* v = t.observation.find("lr")) lr.push_back(*v);
  }
  std::string default_name() const override { return "Record"; }
};

}  // namespace

TEST_CASE("triggers: interval, manual schedule, best value; shifts and observe_lr") {
  Harness h;
  Trainer trainer(*h.updater, {3, Unit::epoch}, h.dir.path);
  auto every2 = std::make_shared<Record>(), manual = std::make_shared<Record>(), lr = std::make_shared<Record>();
  trainer.extend(every2, "", every(2, Unit::iteration));
  trainer.extend(manual, "", std::make_shared<ManualScheduleTrigger>(std::vector<double>{1, 2.5}, Unit::epoch));
  trainer.extend(observe_lr());
  trainer.extend(lr);
  trainer.extend(std::make_shared<ExponentialShift>("lr", 0.5), "", every(1, Unit::epoch));
  trainer.run();
  CHECK(every2->at == std::vector<int64_t>{2, 4, 6});
  CHECK(manual->at == std::vector<int64_t>{2, 5});
  REQUIRE(lr->lr.size() == 6);
  CHECK(lr->lr[0] == doctest::Approx(0.1));
  CHECK(lr->lr[2] == doctest::Approx(0.05));  // halved after epoch 1
  CHECK(lr->lr[5] == doctest::Approx(0.025));
  CHECK(h.opt.lr == doctest::Approx(0.0125));

  Harness h2;
  Trainer t2(*h2.updater, {4, Unit::iteration}, h2.dir.path);
  auto linear = std::make_shared<Record>();
  t2.extend(observe_lr());
  t2.extend(linear);
  t2.extend(std::make_shared<LinearShift>("lr", std::make_pair(1.0, 0.0), std::make_pair<int64_t, int64_t>(0, 4)));
  t2.run();
  CHECK(linear->lr == std::vector<double>{1.0, 0.75, 0.5, 0.25});

  // MaxValueTrigger fires when the mean of the key is the best so far.
  struct Fake : Extension {
    std::vector<double> values;
    void operator()(Trainer& t) override { t.observation.set("score", values[size_t(t.updater.iteration - 1)]); }
    std::string default_name() const override { return "Fake"; }
    int priority() const override { return PRIORITY_WRITER; }
  };
  Harness h3;
  Trainer t3(*h3.updater, {5, Unit::iteration}, h3.dir.path);
  auto fake = std::make_shared<Fake>();
  fake->values = {1, 3, 2, 5, 4};
  auto best = std::make_shared<Record>();
  t3.extend(fake);
  t3.extend(best, "", MaxValueTrigger("score", every(1, Unit::iteration)));
  t3.run();
  CHECK(best->at == std::vector<int64_t>{1, 2, 4});
  CHECK_THROWS_WITH_AS(ExponentialShift("lr", 0.5, {}, {}, "gen").initialize(t3), doctest::Contains("no optimizer named 'gen'"), Error);
  CHECK_THROWS_WITH_AS(ExponentialShift("alpha", 0.5).initialize(t3), doctest::Contains("no hyper-parameter 'alpha'"), Error);
}

TEST_CASE("ProgressBar: Chainer's bars on a terminal, plain lines elsewhere") {
  for (bool tty : {false, true}) {
    Harness h;
    Trainer trainer(*h.updater, {2, Unit::epoch}, h.dir.path);
    std::ostringstream out;
    auto bar = std::make_shared<ProgressBar>(std::nullopt, 2, 10, &out);
    bar->tty = tty;
    trainer.extend(bar);
    trainer.run();
    std::string s = out.str();
    INFO(s);
    if (tty) {
      CHECK(contains(s, "     total [#####.....]  50.00%"));
      CHECK(contains(s, "this epoch [.........."));
      CHECK(contains(s, "iters/sec. Estimated time to finish:"));
      CHECK(contains(s, "\033[4A"));
    } else {
      CHECK(contains(s, "iteration 2, epoch 1 / 2 epochs (50.0%)"));
      CHECK_FALSE(contains(s, "\033["));
    }
  }
}

TEST_CASE("links: Convolution2D, Deconvolution2D, BatchNormalization (Chainer's running statistics), EmbedID") {
  seed(2);
  L::Convolution2D conv(0, 4, 3, 1, 1);
  Variable x(catena_test::input(Shape{2, 3, 5, 5}, float32, 1));
  CHECK(conv(x).shape() == Shape{2, 4, 5, 5});
  CHECK(conv.W.shape() == Shape{4, 3, 3, 3});
  L::Deconvolution2D deconv(4, 2, 2, 2, 0);
  CHECK(deconv(conv(x)).shape() == Shape{2, 2, 10, 10});
  CHECK(deconv.W.shape() == Shape{4, 2, 2, 2});

  L::BatchNormalization bn(3, 0.9);
  std::vector<double> in = catena_test::random_doubles(2 * 3 * 4, 3);
  Variable xb(Tensor::from_vector(in, Shape{2, 3, 4}, runtime().cpu()).astype(float32));
  bn(xb);
  // avg_mean = 0.1 * mean, avg_var = 0.1 * unbiased variance (m = 8 values per channel).
  for (int c = 0; c < 3; ++c) {
    double s = 0, s2 = 0;
    for (int n = 0; n < 2; ++n)
      for (int k = 0; k < 4; ++k) s += in[size_t(n * 12 + c * 4 + k)];
    double mean = s / 8;
    for (int n = 0; n < 2; ++n)
      for (int k = 0; k < 4; ++k) s2 += std::pow(in[size_t(n * 12 + c * 4 + k)] - mean, 2);
    CHECK(vals(bn.avg_mean)[size_t(c)] == doctest::Approx(0.1 * mean).epsilon(1e-5));
    CHECK(vals(bn.avg_var)[size_t(c)] == doctest::Approx(0.1 * s2 / 7).epsilon(1e-5));
  }
  std::vector<std::string> names;
  for (auto& [k, t] : bn.namedpersistents()) names.push_back(k);
  CHECK(names == std::vector<std::string>{"/avg_mean", "/avg_var", "/N"});
  {
    UsingConfig test_mode(&Config::train, false);
    std::vector<double> before = vals(bn.avg_mean);
    bn(xb);
    CHECK(vals(bn.avg_mean) == before);  // inference does not touch the statistics
  }

  L::EmbedID embed(10, 3, {}, -1);
  Tensor ids = Tensor::from_vector(std::vector<int32_t>{1, -1, 9}, Shape{3}, runtime().cpu());
  std::vector<double> e = vals(embed(Variable(ids)).array());
  CHECK(e[3] == 0.0);
  CHECK(e[0] == doctest::Approx(vals(embed.W.array())[3]));

  // Orthogonal: rows orthonormal.
  Tensor w = Tensor::empty(Shape{3, 5}, float64, runtime().cpu());
  initializers::Orthogonal()(w);
  std::vector<double> m = vals(w);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double dot = 0;
      for (int k = 0; k < 5; ++k) dot += m[size_t(i * 5 + k)] * m[size_t(j * 5 + k)];
      CHECK(dot == doctest::Approx(i == j ? 1.0 : 0.0));
    }
}

TEST_CASE("links by name; Sequential; models mlp and cnn") {
  auto conv = links::create("Convolution2D", {{"out_channels", 8}, {"ksize", 3}, {"pad", 1}});
  CHECK(conv->forward(Variable(Tensor::zeros(Shape{1, 2, 6, 6}, float32))).shape() == Shape{1, 8, 6, 6});
  CHECK_THROWS_WITH_AS(links::create("linear", {{"out_size", 3}, {"bias", 1}}),
                       "linear has no attribute 'bias' (it has: in_size, out_size, nobias)", Error);
  CHECK_THROWS_WITH_AS(links::create("lstm9", {}), doctest::Contains("unknown link 'lstm9' (known: batch_normalization"),
                       Error);
  CHECK_THROWS_WITH_AS(links::create("linear", {}), doctest::Contains("'out_size' is required"), Error);
  L::Sequential seq;
  seq.add(links::create("linear", {{"out_size", 5}})).add(F::relu).add(links::create("linear", {{"in_size", 5}, {"out_size", 2}}));
  CHECK(seq(Variable(Tensor::zeros(Shape{3, 7}, float32))).shape() == Shape{3, 2});
  std::vector<std::string> names;
  for (auto& [k, p] : seq.namedparams()) names.push_back(k);
  CHECK(names == std::vector<std::string>{"/0/W", "/0/b", "/1/W", "/1/b"});
  auto mlp = models::create("mlp", {{"n_units", 16}});
  CHECK(mlp->forward(Variable(Tensor::zeros(Shape{2, 784}, float32))).shape() == Shape{2, 10});
  auto cnn = models::create("cnn", {{"n_units", 16}});
  CHECK(cnn->forward(Variable(Tensor::zeros(Shape{2, 1, 28, 28}, float32))).shape() == Shape{2, 10});
  names.clear();
  for (auto& [k, p] : cnn->namedparams()) names.push_back(k);
  CHECK(names == std::vector<std::string>{"/conv1/W", "/conv1/b", "/conv2/W", "/conv2/b", "/fc1/W", "/fc1/b",
                                          "/fc2/W", "/fc2/b"});
  CHECK(cnn->namedparams()[4].second->shape() == Shape{16, 3136});
  CHECK_THROWS_WITH_AS(models::create("resnet"), doctest::Contains("unknown model 'resnet'"), Error);
}

TEST_CASE("save_npz writes what numpy.load reads, with Chainer's keys") {
  TempDir dir;
  seed(4);
  L::Classifier model(std::make_shared<models::MLP>(6, 3));
  model.forward(Variable(Tensor::zeros(Shape{1, 5}, float32)));
  save_npz(dir / "m.npz", model);
  // Debian's python3-numpy (tools/install-deps), not whatever python3 comes first on PATH.
  std::string script = dir / "check.py";
  catena_test::write_file(script,
                          "import sys, numpy\n"
                          "d = numpy.load(sys.argv[1])\n"
                          "for k in sorted(d.files): print(k, d[k].dtype, d[k].shape)\n"
                          "print('W00', repr(float(d['predictor/l1/W'][0, 0])))\n");
  auto r = catena_test::run_command("/usr/bin/python3 " + script + " " + (dir / "m.npz"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(contains(r.output, "predictor/l1/W float32 (6, 5)"));
  CHECK(contains(r.output, "predictor/l1/b float32 (6,)"));
  CHECK(contains(r.output, "predictor/l3/W float32 (3, 6)"));
  char w00[64];
  std::snprintf(w00, sizeof w00, "W00 %.9g", double(model.predictor().namedparams()[0].second->array().to_vector<float>()[0]));
  CHECK(contains(r.output, std::string(w00).substr(0, 10)));
}


TEST_CASE("catena train: a run on a small data set in Fashion-MNIST's format; clear errors") {
  TempDir dir;
  catena_test::write_tiny_fashion_mnist(dir.path, 200);
  std::string tool = catena_test::catena_tool();
  auto r = catena_test::run_command(tool + " train --data " + dir.path + " --epoch 2 --batchsize 20 --unit 32 --out " +
                                    (dir / "out") + " --optimizer adam:alpha=0.01 --seed 1 --no-progress");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "epoch       main/loss   validation/main/loss"));
  CHECK(contains(r.output, "test accuracy: 1.0000"));
  CHECK(contains(catena_test::read_file(dir / "out/log"), "\"validation/main/accuracy\": 1.0"));
  CHECK(contains(catena_test::read_file(dir / "out/loss.svg"), "<polyline"));
  CHECK(catena_test::read_file(dir / "out/model.npz").size() > 32 * 784 * 4);
  auto cnn = catena_test::run_command("CATENA_PROFILE=1 " + tool + " train --model cnn --data " + dir.path +
                                      " --epoch 1 --batchsize 50 --unit 8 --no-progress --out " + (dir / "cnn"));
  INFO(cnn.output);
  CHECK(cnn.status == 0);
  // CATENA_PROFILE=1: the time per op, printed at exit.
  CHECK(contains(cnn.output, "catena profile: "));
  CHECK(contains(cnn.output, "core.conv2d (float32(50, 1, 28, 28)"));
  // Errors: one line, saying what to do.
  auto e1 = catena_test::run_command(tool + " train --model resnet");
  CHECK(e1.status == 1);
  CHECK(contains(e1.output, "unknown model 'resnet': choose mlp or cnn"));
  auto e2 = catena_test::run_command(tool + " train --data " + (dir / "nothing") + " --out " + (dir / "x"));
  CHECK(contains(e2.output, "apt-get install dataset-fashion-mnist"));
  auto e3 = catena_test::run_command(tool + " train --optimizer adamw");
  CHECK(contains(e3.output, "unknown optimizer 'adamw' (known: adadelta"));
  auto e4 = catena_test::run_command(tool + " train --optimizer adam:lr=0.1");
  CHECK(contains(e4.output, "adam has no hyper-parameter 'lr' (it has: alpha"));
  auto e5 = catena_test::run_command(tool + " train --epoch 0");
  CHECK(contains(e5.output, "--epoch must be at least 1"));
  auto e6 = catena_test::run_command(tool + " train --device tpu:3 --data " + dir.path);
  CHECK(contains(e6.output, "no device named 'tpu:3'. Devices here: cpu"));
  auto help = catena_test::run_command(tool + " train --help");
  CHECK(help.status == 0);
  CHECK(contains(help.output, "--optimizer"));
}
