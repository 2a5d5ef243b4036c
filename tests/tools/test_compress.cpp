// `catena compress` on models `catena train` made (a short run on Fashion-MNIST): dynamic
// int8 keeps the accuracy within half a point; 90 % global pruning with an epoch of
// fine-tuning within a point, in a file at least five times smaller; bad options are
// refused before any work.
#include "../support.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

using catena_test::contains;
using catena_test::run_command;
using catena_test::TempDir;

namespace {

std::string tool() { return catena_test::catena_tool(); }

// The "before" and "after" columns of a row of the report.
std::pair<double, double> row(const std::string& output, const std::string& name) {
  const size_t at = output.find("\n" + name + " ");
  double before = -1, after = -1;
  if (at == std::string::npos ||
      std::sscanf(output.c_str() + at + 1 + name.size(), "%lf %lf", &before, &after) != 2)
    return {-1, -1};
  return {before, after};
}

bool fashion_mnist_installed() { return std::filesystem::exists("/usr/share/datasets/fashion-mnist"); }

}  // namespace

TEST_CASE("catena compress: --help, and bad options refused before any work") {
  auto h = run_command(tool() + " compress --help");
  CHECK(h.status == 0);
  CHECK(contains(h.output, "Usage: catena compress"));
  CHECK(contains(h.output, "--quantize"));
  TempDir dir;
  auto none = run_command(tool() + " compress --out " + dir / "o.npz");
  CHECK(none.status != 0);
  CHECK(contains(none.output, "--model FILE"));
  const std::string m = " --model " + dir / "missing.npz --out " + dir / "o.npz";
  CHECK(contains(run_command(tool() + " compress" + m).output, "nothing to do"));
  CHECK(contains(run_command(tool() + " compress" + m + " --prune 1.5").output, "[0, 1)"));
  CHECK(contains(run_command(tool() + " compress" + m + " --prune 0.5 --prune-scope wide").output, "scope"));
  CHECK(contains(run_command(tool() + " compress" + m + " --quantize int4").output, "unknown method 'int4'"));
  CHECK(contains(run_command(tool() + " compress" + m + " --quantize kmeans:1").output, "K from 2 to 256"));
  CHECK(contains(run_command(tool() + " compress" + m + " --quantize kmeans").output, "kmeans:K"));
  CHECK(contains(run_command(tool() + " compress" + m + " --quantize binary --qat").output, "--qat is for"));
  CHECK(contains(run_command(tool() + " compress" + m + " --structured --quantize float16").output, "structured pruning needs a level"));
  CHECK(contains(run_command(tool() + " compress" + m + " --quantize int8 --calibrate 0").output, "calibration"));
  CHECK(contains(run_command(tool() + " compress" + m + " --quantize dynamic-int8").output, "missing.npz"));
}

// Training runs of the full data set: in the plain build only (under a sanitizer they take
// minutes and check nothing the plain build does not).
bool can_train() {
  if (!fashion_mnist_installed()) {
    MESSAGE("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): skipped");
    return false;
  }
  if (catena_test::under_sanitizer()) {
    MESSAGE("under a sanitizer: the training runs are left to the plain build");
    return false;
  }
  return true;
}

TEST_CASE("catena compress on a Fashion-MNIST MLP: dynamic int8 and 90 % pruning keep the accuracy") {
  if (!can_train()) return;
  TempDir dir;
  auto t = run_command(tool() + " train --model mlp --unit 300 --epoch 1 --no-progress --snapshot-every 0 --out " +
                       dir / "run");
  REQUIRE(t.status == 0);
  const std::string model = dir / "run/model.npz";

  auto q = run_command(tool() + " compress --model " + model + " --quantize dynamic-int8 --out " + dir / "q.npz");
  CAPTURE(q.output);
  REQUIRE(q.status == 0);
  const auto [a0, a1] = row(q.output, "test accuracy");
  CHECK(a0 > 0.75);
  CHECK(a1 >= a0 - 0.005);
  CHECK(contains(q.output, "int8 (dynamic)"));
  auto e = run_command(tool() + " eval --model " + dir / "q.npz");
  CHECK(e.status == 0);
  char acc[32];
  std::snprintf(acc, sizeof acc, "accuracy: %.4f", a1);
  CHECK(contains(e.output, acc));  // the file gives what the report said

  auto p = run_command(tool() + " compress --model " + model + " --prune 0.9 --finetune-epochs 1 --no-progress --out " +
                       dir / "p.npz");
  CAPTURE(p.output);
  REQUIRE(p.status == 0);
  const auto [b0, b1] = row(p.output, "test accuracy");
  CHECK(b1 >= b0 - 0.01);
  CHECK(contains(p.output, "pruned"));
  const auto dense = std::filesystem::file_size(model), pruned = std::filesystem::file_size(dir / "p.npz");
  CAPTURE(dense);
  CAPTURE(pruned);
  CHECK(pruned * 5 <= dense);

  // 50 % of the hidden units removed: a smaller model (300 -> 150 units), within a point.
  auto s = run_command(tool() + " compress --model " + model +
                       " --prune 0.5 --structured --finetune-epochs 1 --no-progress --out " + dir / "s.npz");
  CAPTURE(s.output);
  REQUIRE(s.status == 0);
  const auto [c0, c1] = row(s.output, "test accuracy");
  CHECK(c1 >= c0 - 0.01);
  auto i = run_command(tool() + " inspect " + dir / "s.npz");
  CHECK(contains(i.output, "n_units=150"));
  CHECK(contains(i.output, "(150, 784)"));

  // 16 shared weights per layer (4-bit indices), centroids fine-tuned: within a point, 6x smaller.
  auto k = run_command(tool() + " compress --model " + model + " --quantize kmeans:16 --finetune-epochs 1 --no-progress --out " +
                       dir / "k.npz");
  CAPTURE(k.output);
  REQUIRE(k.status == 0);
  const auto [k0, k1] = row(k.output, "test accuracy");
  CHECK(k1 >= k0 - 0.01);
  CHECK(std::filesystem::file_size(dir / "k.npz") * 6 <= dense);
  CHECK(run_command(tool() + " eval --model " + dir / "k.npz").status == 0);
}

TEST_CASE("catena compress on the W2 CNN: static int8 calibrated on 10 batches keeps the accuracy") {
  if (!can_train()) return;
  TempDir dir;
  auto t = run_command(tool() + " train --model cnn --epoch 1 --no-progress --snapshot-every 0 --out " + dir / "run");
  REQUIRE(t.status == 0);
  auto q = run_command(tool() + " compress --model " + dir / "run/model.npz" +
                       " --quantize int8 --calibrate 10 --out " + dir / "q.npz");
  CAPTURE(q.output);
  REQUIRE(q.status == 0);
  const auto [a0, a1] = row(q.output, "test accuracy");
  CHECK(a0 > 0.8);
  CHECK(a1 >= a0 - 0.005);
  CHECK(contains(q.output, "conv1/W"));
  CHECK(contains(q.output, "int8 (static)"));
  CHECK(std::filesystem::file_size(dir / "q.npz") * 3 < std::filesystem::file_size(dir / "run/model.npz"));
}
