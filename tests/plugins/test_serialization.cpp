// The serializer protocol and its formats: scalars, text and None in npz and HDF5; what
// Catena writes numpy and h5py read, and the reverse; trainer snapshots that resume bit for
// bit (serial and prefetching iterators, mid-epoch, with a learning-rate schedule); loads
// that fail change nothing; n_retains and autoload; a SIGKILL in the middle of a write.
#include "../support.hpp"

#include <catena/links.hpp>
#include <catena/models.hpp>
#include <catena/optimizers.hpp>
#include <catena/random.hpp>
#include <catena/serializers.hpp>
#include <catena/training.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <doctest/doctest.h>

using namespace catena;
using namespace catena::training;
using catena_test::contains;
using catena_test::TempDir;

namespace {

struct State : Serializable {
  int64_t step = 7;
  double rate = 0.125;
  bool on = true;
  std::string note = "caf\xc3\xa9 / notes";
  Tensor table = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, Shape{2, 3}, runtime().cpu());
  Tensor missing;  // saved as None
  void serialize(Serializer& s) override {
    s("step", step);
    s("rate", rate);
    s("on", on);
    s("note", note);
    Serializer sub = s["tables"];
    sub("main", table);
    sub("missing", missing);
  }
};

std::string python_check(const std::string& dir, const std::string& code) {
  catena_test::write_file(dir + "/check.py", code);
  auto r = catena_test::run_command("/usr/bin/python3 " + dir + "/check.py " + dir);
  return r.status == 0 ? "" : r.output + " (exit " + std::to_string(r.status) + ")";
}

}  // namespace

TEST_CASE("serializer: scalars, text, arrays and None round-trip through npz (plain, compressed) and hdf5") {
  TempDir dir;
  for (const char* name : {"s.npz", "z.npz", "s.h5"}) {
    CAPTURE(name);
    State a;
    save(dir / name, a, "", /*compress=*/std::string(name) == "z.npz");
    State b;
    b.step = 0, b.rate = 0, b.on = false, b.note = "", b.table = Tensor::zeros(Shape{2, 3}, float32, runtime().cpu());
    load(dir / name, b);
    CHECK(b.step == 7);
    CHECK(b.rate == 0.125);
    CHECK(b.on);
    CHECK(b.note == a.note);
    CHECK(b.table.to_vector<float>() == a.table.to_vector<float>());
    CHECK(!b.missing.defined());  // None leaves the value alone
    KeyStore keys = read_keys(dir / name);
    CHECK(keys.keys().size() == 6);
    CHECK(keys.is_none("tables/missing"));
  }
  // Chainer's names for the hdf5 format.
  State c;
  c.step = 11;
  save_hdf5(dir / "c.h5", c);
  State d;
  load_hdf5(dir / "c.h5", d);
  CHECK(d.step == 11);
  // The format follows the content, not the name.
  std::filesystem::copy_file(dir / "s.h5", dir / "renamed.bin");
  CHECK(guess_format(dir / "renamed.bin") == "hdf5");
  CHECK(guess_format(dir / "z.npz") == "npz");
  CHECK_THROWS_WITH_AS(serializer_format("xml"), doctest::Contains("known: npz, hdf5"), Error);
  catena_test::write_file(dir / "junk.dat", "neither zip nor hdf5");
  CHECK_THROWS_WITH_AS(read_keys(dir / "junk.dat"), doctest::Contains("junk.dat: not a file of a known format"), Error);
  // A key written twice is an error, not a silent overwrite.
  struct Twice : Serializable {
    void serialize(Serializer& s) override {
      int64_t v = 1;
      s("k", v);
      s("k", v);
    }
  } twice;
  CHECK_THROWS_WITH_AS(save(dir / "t.npz", twice), doctest::Contains("'k' is written twice"), Error);
}

TEST_CASE("what Catena writes, numpy and h5py read with Chainer's keys, shapes and values") {
  TempDir dir;
  seed(3);
  L::Classifier model(std::make_shared<models::MLP>(5, 3));
  auto& mlp = static_cast<models::MLP&>(model.predictor());
  mlp.forward(Variable(catena_test::input(Shape{2, 4}, float32, 5), false));
  save(dir / "m.npz", model, "npz", /*compress=*/true);
  save(dir / "m.h5", model);
  // A lazy parameter not yet initialised is Chainer's None.
  L::Classifier lazy(std::make_shared<models::MLP>(5, 3));
  save(dir / "lazy.npz", lazy);
  save(dir / "lazy.h5", lazy);
  std::vector<float> w1 = mlp.l1.W.array().to_vector<float>();
  char expect[64];
  std::snprintf(expect, sizeof expect, "%.9g", double(w1[3]));
  std::string err = python_check(dir.path, std::string(R"(
import sys, numpy as np, h5py
d = sys.argv[1]
keys = ['predictor/l1/W', 'predictor/l1/b', 'predictor/l2/W', 'predictor/l2/b', 'predictor/l3/W', 'predictor/l3/b']
z = np.load(d + '/m.npz')
assert sorted(z.files) == sorted(keys), z.files
assert z['predictor/l1/W'].shape == (5, 4) and z['predictor/l1/W'].dtype == np.float32
assert z['predictor/l3/b'].shape == (3,)
assert abs(float(z['predictor/l1/W'].reshape(-1)[3]) - )") + expect + R"() < 1e-7
h = h5py.File(d + '/m.h5', 'r')
names = []
h.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert sorted(names) == sorted(keys), names
assert h['predictor']['l1']['W'].shape == (5, 4) and h['predictor/l1/W'].dtype == np.float32
assert np.array_equal(h['predictor/l1/W'][()], z['predictor/l1/W'])
lz = np.load(d + '/lazy.npz', allow_pickle=True)
assert lz['predictor/l1/W'].dtype == object and lz['predictor/l1/W'][()] is None
assert lz['predictor/l2/W'].shape == (5, 5)
lh = h5py.File(d + '/lazy.h5', 'r')
assert lh['predictor/l1/W'].shape is None  # h5py.Empty: Chainer's None
)");
  INFO(err);
  CHECK(err.empty());
}

TEST_CASE("what h5py writes in Chainer's layout (None as Empty, scalars, booleans) Catena reads") {
  TempDir dir;
  std::string err = python_check(dir.path, R"(
import sys, numpy as np, h5py
d = sys.argv[1]
with h5py.File(d + '/c.h5', 'w') as f:
    f['predictor/l1/W'] = np.arange(20, dtype=np.float32).reshape(5, 4) / 10
    f['predictor/l1/b'] = h5py.Empty('f')
    f.create_dataset('predictor/l2/W', data=np.eye(5), compression='gzip', compression_opts=4)
    f['predictor/l2/b'] = np.ones(5, np.float16)
    f['predictor/l3/W'] = np.full((3, 5), 0.5, '>f4')
    f['predictor/l3/b'] = np.zeros(3, np.float32)
    f['extra/flag'] = True
    f['extra/count'] = np.int64(12)
)");
  REQUIRE(err.empty());
  KeyStore keys = read_keys(dir / "c.h5");
  CHECK(keys.is_none("predictor/l1/b"));
  REQUIRE(keys.find("extra/flag"));
  CHECK(keys.find("extra/flag")->dtype() == bool_);
  CHECK(keys.find("extra/count")->to_vector<int64_t>() == std::vector<int64_t>{12});
  L::Classifier m(std::make_shared<models::MLP>(5, 3));
  auto& mlp = static_cast<models::MLP&>(m.predictor());
  load(dir / "c.h5", m, "", /*strict=*/true);
  CHECK(mlp.l1.W.shape() == Shape{5, 4});
  CHECK(mlp.l1.W.array().to_vector<float>()[7] == doctest::Approx(0.7f));
  CHECK(mlp.l2.W.array().to_vector<float>()[6] == 1.0f);  // gzip'd, float64 -> float32
  CHECK(mlp.l2.b.array().to_vector<float>()[0] == 1.0f);  // float16
  CHECK(mlp.l3.W.array().to_vector<float>()[0] == 0.5f);  // big-endian
}

namespace {

// A small training setup: MLP on blobs, Adam with an exponential schedule, LogReport, and
// a snapshot every `every` iterations.
struct Run {
  TempDir& dir;
  std::string out;
  bool seeded;  // before the model: its initial values come from the seed
  std::shared_ptr<models::MLP> mlp = std::make_shared<models::MLP>(8, 2);
  L::Classifier model{mlp};
  optimizers::Adam opt;
  std::unique_ptr<SerialIterator> it;
  std::unique_ptr<StandardUpdater> updater;
  std::unique_ptr<Trainer> trainer;
  std::shared_ptr<LogReport> log = std::make_shared<LogReport>(std::vector<std::string>{}, every(1, Unit::iteration));

  Run(TempDir& d, const std::string& name, double epochs, bool threaded, int snapshot_every, uint64_t s = 5)
      : dir(d), out(d / name), seeded((seed(s), true)) {
    auto data = catena_test::blobs(36, 9);
    if (threaded)
      it = std::make_unique<MultithreadIterator>(data, 5, true, true, std::optional<uint64_t>{11}, 2, 3);
    else
      it = std::make_unique<SerialIterator>(data, 5, true, true, std::optional<uint64_t>{11});
    opt.setup(model);
    updater = std::make_unique<StandardUpdater>(*it, opt);
    trainer = std::make_unique<Trainer>(*updater, std::make_pair(epochs, Unit::epoch), out);
    trainer->extend(log);
    trainer->extend(std::make_shared<ExponentialShift>("alpha", 0.7), "", every(3, Unit::iteration));
    if (snapshot_every > 0)
      trainer->extend(std::make_shared<Snapshot>("snap_{iteration}.npz"), "", every(snapshot_every, Unit::iteration));
  }
  std::vector<double> losses() const {
    std::vector<double> v;
    for (const Observation& o : log->log()) v.push_back(*o.find("main/loss"));
    return v;
  }
};

}  // namespace

TEST_CASE("a trainer stopped and resumed from a snapshot gives the same losses, bit for bit") {
  for (bool threaded : {false, true}) {
    CAPTURE(threaded);
    TempDir dir;
    Run straight(dir, "a", 5, threaded, 0);
    straight.trainer->run();
    std::vector<double> expected = straight.losses();
    REQUIRE(expected.size() == 36);  // 36 examples, batch 5: 7.2 iterations an epoch
    // Stop after 2 epochs (snapshots every 4 iterations: the last at 12, mid-epoch).
    {
      Run first(dir, "b", 2, threaded, 4);  // the same start as the straight run
      first.trainer->run();
    }
    Run second(dir, "b", 5, threaded, 0, /*seed=*/123);  // different seed: the snapshot decides
    resume(*second.trainer, dir / "b/snap_12.npz");
    CHECK(second.updater->iteration == 12);
    CHECK(second.it->epoch == 1);
    second.trainer->run();
    std::vector<double> got = second.losses();
    REQUIRE(got.size() == expected.size());
    CHECK(got == expected);  // the restored log, then the new iterations, all exact
    CHECK(second.mlp->l1.W.array().to_vector<float>() == straight.mlp->l1.W.array().to_vector<float>());
    CHECK(second.opt.hyperparam("alpha") == straight.opt.hyperparam("alpha"));
  }
}

TEST_CASE("loading a snapshot that does not fit changes nothing and names the key") {
  TempDir dir;
  {
    Run r(dir, "a", 1, false, 7);
    r.trainer->run();
  }
  KeyStore keys = read_keys(dir / "a/snap_7.npz");
  // The optimizer's state for one parameter has the wrong shape: found in the first pass.
  keys.put("updater/optimizer:main/predictor/l2/W/m", Tensor::zeros(Shape{3, 3}, float32, runtime().cpu()));
  write_keys(dir / "bad.npz", keys);
  Run fresh(dir, "c", 2, false, 0, 99);
  fresh.mlp->forward(Variable(catena_test::input(Shape{2, 4}, float32, 1), false));
  std::vector<float> before = fresh.mlp->l1.W.array().to_vector<float>();
  CHECK_THROWS_WITH_AS(resume(*fresh.trainer, dir / "bad.npz"),
                       doctest::Contains("bad.npz: 'updater/optimizer:main/predictor/l2/W/m' has shape (3, 3)"), Error);
  CHECK(fresh.mlp->l1.W.array().to_vector<float>() == before);
  CHECK(fresh.updater->iteration == 0);
  CHECK(fresh.it->current_position == 0);
  // A missing key, strictly, names it too.
  KeyStore whole = read_keys(dir / "a/snap_7.npz"), partial;
  for (const std::string& k : whole.keys())
    if (k != "updater/iterator:main/epoch") {
      if (const Tensor* t = whole.find(k))
        partial.put(k, *t);
      else
        partial.put_none(k);
    }
  write_keys(dir / "partial.npz", partial);
  CHECK_THROWS_WITH_AS(resume(*fresh.trainer, dir / "partial.npz"),
                       doctest::Contains("no key 'updater/iterator:main/epoch'"), Error);
  CHECK(fresh.mlp->l1.W.array().to_vector<float>() == before);
}

TEST_CASE("snapshot: n_retains keeps the newest; autoload resumes from the newest") {
  TempDir dir;
  {
    Run r(dir, "a", 3, false, 0);
    r.trainer->extend(std::make_shared<Snapshot>("keep_{iteration}.npz", 2), "", every(2, Unit::iteration));
    r.trainer->run();
  }
  Snapshot pattern("keep_{iteration}.npz");
  std::vector<std::string> left = pattern.existing(dir / "a");
  REQUIRE(left.size() == 2);
  CHECK(contains(left[0], "keep_20.npz"));  // 3 epochs: 22 iterations
  CHECK(contains(left[1], "keep_22.npz"));
  Run again(dir, "a", 4, false, 0, 1234);
  again.trainer->extend(std::make_shared<Snapshot>("keep_{iteration}.npz", 2, /*autoload=*/true), "",
                        every(2, Unit::iteration));
  again.trainer->run();  // loads keep_22 first, then trains on to epoch 4
  CHECK(again.updater->iteration == 29);
  CHECK(again.log->log().size() == 29);
  CHECK_THROWS_AS(Snapshot("a/b.npz"), Error);
}

TEST_CASE("catena train killed (SIGKILL) in the middle of a snapshot write: the previous snapshot is whole and resumes") {
  TempDir dir;
  catena_test::write_tiny_fashion_mnist(dir.path, 200);
  const std::string tool = catena_test::catena_tool();
  // Large snapshots (40 MB: 1500 hidden units and Adam's state) on a tiny data set: the
  // process spends most of its time writing them, so a kill at an arbitrary moment
  // usually lands in a write; it did when a temporary file is left behind.
  bool killed_mid_write = false;
  for (int attempt = 0; attempt < 30 && !killed_mid_write; ++attempt) {
    const std::string out = dir / ("run" + std::to_string(attempt));
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      dup2(null, 1), dup2(null, 2);
      execl(tool.c_str(), tool.c_str(), "train", "--data", dir.path.c_str(), "--epoch", "100000", "--batchsize", "100",
            "--unit", "1500", "--snapshot-every", "1", "--keep", "1", "--seed", "4", "--no-progress", "--out",
            out.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2000 + 97 * attempt));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    std::vector<std::string> snaps, temps;
    for (auto& e : std::filesystem::directory_iterator(out)) {
      const std::string name = e.path().filename().string();
      if (contains(name, "snapshot_epoch_")) (contains(name, ".tmp") ? temps : snaps).push_back(name);
    }
    if (snaps.empty()) continue;  // killed before the first snapshot was whole
    killed_mid_write = !temps.empty();
    CAPTURE(snaps.back());
    // The snapshot left is whole: it resumes and trains one more epoch.
    std::sort(snaps.begin(), snaps.end());
    const std::string last = snaps.back();
    const int epoch = std::stoi(last.substr(std::string("snapshot_epoch_").size()));
    auto r = catena_test::run_command(tool + " train --data " + dir.path + " --batchsize 100 --unit 1500 --seed 4 " +
                                      "--no-progress --snapshot-every 0 --out " + out + " --epoch " +
                                      std::to_string(epoch + 1) + " --resume " + out + "/" + last);
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(contains(r.output, "# resumed from " + out + "/" + last + " at epoch " + std::to_string(epoch)));
    CHECK(contains(catena_test::read_file(out + "/log"), "\"epoch\": " + std::to_string(epoch + 1) + ","));
  }
  CHECK(killed_mid_write);
}
