// Datasets, readers, transforms and iterators.
#include "../support.hpp"

#include <catena/dataset.hpp>
#include <catena/iterator.hpp>
#include <catena/random.hpp>
#include <catena/transforms.hpp>

#include <doctest/doctest.h>


#include <algorithm>
#include <set>

using namespace catena;
using catena_test::TempDir;

namespace {

std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

using catena_test::idx_u8;

void write_gz(const std::string& path, const std::string& bytes) { REQUIRE(catena_test::write_gz(path, bytes)); }

DatasetPtr numbers(int n) {
  std::vector<float> x(size_t(n) * 2);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) x[size_t(i) * 2] = float(i), x[size_t(i) * 2 + 1] = float(-i), t[size_t(i)] = i;
  return std::make_shared<datasets::TupleDataset>(std::vector<Tensor>{
      Tensor::from_vector(x, Shape{n, 2}, runtime().cpu()), Tensor::from_vector(t, Shape{n}, runtime().cpu())});
}

std::vector<int32_t> labels(const Example& batch) { return batch.at(1).to_vector<int32_t>(); }

}  // namespace

TEST_CASE("IDX reader: plain and gzip'd files, big-endian types, clear errors on bad files") {
  TempDir dir;
  std::vector<uint8_t> pixels(2 * 3 * 4);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 10);
  std::string file = idx_u8({2, 3, 4}, pixels);
  catena_test::write_file(dir / "plain", file);
  write_gz(dir / "packed.gz", file);
  for (const char* name : {"plain", "packed.gz"}) {
    Tensor t = datasets::read_idx(dir / name);
    CHECK(t.dtype() == uint8);
    CHECK(t.shape() == Shape{2, 3, 4});
    CHECK(t.to_vector<uint8_t>() == pixels);
  }
  // int32 and float32 are big-endian in IDX.
  std::string i32{0, 0, 0x0C, 1};
  i32 += be32(2) + be32(0x01020304) + be32(uint32_t(-5));
  catena_test::write_file(dir / "i32", i32);
  CHECK(datasets::read_idx(dir / "i32").to_vector<int32_t>() == std::vector<int32_t>{0x01020304, -5});
  // Bad files: each error names the file and the problem.
  catena_test::write_file(dir / "short", file.substr(0, file.size() - 3));
  CHECK_THROWS_WITH_AS(datasets::read_idx(dir / "short"), doctest::Contains("short: truncated"), Error);
  catena_test::write_file(dir / "magic", "PK\x03\x04zzzz");
  CHECK_THROWS_WITH_AS(datasets::read_idx(dir / "magic"), doctest::Contains("not an IDX file"), Error);
  catena_test::write_file(dir / "huge", std::string{0, 0, 8, 3} + be32(0xFFFFFFFF) + be32(0xFFFFFFFF) + be32(9));
  CHECK_THROWS_WITH_AS(datasets::read_idx(dir / "huge"), doctest::Contains("implausibly large"), Error);
  catena_test::write_file(dir / "lying", std::string{0, 0, 8, 1} + be32(100000000) + "abc");
  CHECK_THROWS_WITH_AS(datasets::read_idx(dir / "lying"), doctest::Contains("truncated"), Error);
  catena_test::write_file(dir / "trailing", file + "x");
  CHECK_THROWS_WITH_AS(datasets::read_idx(dir / "trailing"), doctest::Contains("trailing data"), Error);
  CHECK_THROWS_WITH_AS(datasets::read_idx(dir / "absent"), doctest::Contains("absent: no such file"), Error);
  std::string gz = catena_test::read_file(dir / "packed.gz");
  catena_test::write_file(dir / "cut.gz", gz.substr(0, gz.size() / 2));
  CHECK_THROWS_AS(datasets::read_idx(dir / "cut.gz"), Error);
}

TEST_CASE("MNIST-format and CIFAR readers on small files in the real formats") {
  TempDir dir;
  const int n = 5;
  std::vector<uint8_t> img(size_t(n) * 28 * 28), lab(n);
  for (size_t i = 0; i < img.size(); ++i) img[i] = uint8_t(i % 256);
  for (int i = 0; i < n; ++i) lab[size_t(i)] = uint8_t(9 - i);
  for (const char* split : {"train", "t10k"}) {
    write_gz(dir / (std::string(split) + "-images-idx3-ubyte.gz"), idx_u8({uint32_t(n), 28, 28}, img));
    catena_test::write_file(dir / (std::string(split) + "-labels-idx1-ubyte"), idx_u8({uint32_t(n)}, lab));
  }
  auto [train, test] = datasets::get_fashion_mnist(dir.path);
  CHECK(train->size() == 5);
  Example e = (*test)[1];
  CHECK(e[0].shape() == Shape{784});
  CHECK(e[0].dtype() == float32);
  CHECK(e[0].to_vector<float>()[3] == doctest::Approx((784 + 3) % 256 / 255.0));
  CHECK(e[1].to_vector<int32_t>()[0] == 8);
  datasets::MnistOptions three;
  three.ndim = 3;
  three.scale = 2.0;
  auto [t3, unused] = datasets::get_mnist(dir.path, three);
  CHECK((*t3)[0][0].shape() == Shape{1, 28, 28});
  CHECK((*t3)[0][0].to_vector<float>()[255] == doctest::Approx(2.0));
  CHECK_THROWS_WITH_AS(datasets::get_fashion_mnist(dir / "nowhere"),
                       doctest::Contains("apt-get install dataset-fashion-mnist"), Error);

  // CIFAR-10: records of 1 label byte + 3072 pixel bytes; CIFAR-100: 2 label bytes.
  auto record = [](int label_bytes, uint8_t fine, uint8_t fill) {
    std::string r(size_t(label_bytes), char(1));
    r.back() = char(fine);
    r += std::string(3072, char(fill));
    return r;
  };
  for (int b = 1; b <= 5; ++b)
    catena_test::write_file(dir / ("data_batch_" + std::to_string(b) + ".bin"), record(1, uint8_t(b), 51) + record(1, 7, 255));
  catena_test::write_file(dir / "test_batch.bin", record(1, 3, 0));
  auto [c10, c10test] = datasets::get_cifar10(dir.path);
  CHECK(c10->size() == 10);
  CHECK(c10test->size() == 1);
  Example c = (*c10)[2];
  CHECK(c[0].shape() == Shape{3, 32, 32});
  CHECK(c[0].to_vector<float>()[100] == doctest::Approx(0.2));
  CHECK(c[1].to_vector<int32_t>()[0] == 2);
  catena_test::write_file(dir / "train.bin", record(2, 42, 0) + record(2, 99, 0));
  catena_test::write_file(dir / "test.bin", record(2, 5, 0));
  auto [c100, c100test] = datasets::get_cifar100(dir.path);
  CHECK((*c100)[1][1].to_vector<int32_t>()[0] == 99);  // the fine label
  catena_test::write_file(dir / "test.bin", record(2, 5, 0).substr(0, 1000));
  CHECK_THROWS_WITH_AS(datasets::get_cifar100(dir.path), doctest::Contains("not a whole number"), Error);
}

TEST_CASE("the real Fashion-MNIST from Debian's dataset-fashion-mnist") {
  auto [train, test] = datasets::get_fashion_mnist();
  CHECK(train->size() == 60000);
  CHECK(test->size() == 10000);
  Example b = train->get_batch({0, 59999});
  CHECK(b[0].shape() == Shape{2, 784});
  std::vector<float> px = b[0].to_vector<float>();
  CHECK(*std::max_element(px.begin(), px.end()) <= 1.0f);
  CHECK(labels(b)[0] == 9);  // the first training image is an ankle boot
}

TEST_CASE("TupleDataset, SubDataset, split_dataset(_random), ConcatenatedDataset, concat_examples") {
  DatasetPtr d = numbers(10);
  CHECK(d->size() == 10);
  CHECK((*d)[3][0].to_vector<float>() == std::vector<float>{3, -3});
  CHECK_THROWS_WITH_AS((*d)[10], doctest::Contains("out of range: the dataset has 10"), Error);
  CHECK_THROWS_WITH_AS(datasets::TupleDataset({Tensor::zeros(Shape{3}, float32), Tensor::zeros(Shape{4}, int32)}),
                       doctest::Contains("array 1 has 4 examples, array 0 has 3"), Error);
  auto [a, b] = datasets::split_dataset(d, 4);
  CHECK(a->size() == 4);
  CHECK(b->size() == 6);
  CHECK((*b)[0][1].to_vector<int32_t>()[0] == 4);
  auto [r1, r2] = datasets::split_dataset_random(d, 7, 42);
  auto [s1, s2] = datasets::split_dataset_random(d, 7, 42);
  std::set<int32_t> seen;
  for (size_t i = 0; i < 7; ++i) {
    CHECK((*r1)[i][1].to_vector<int32_t>() == (*s1)[i][1].to_vector<int32_t>());
    seen.insert((*r1)[i][1].to_vector<int32_t>()[0]);
  }
  for (size_t i = 0; i < 3; ++i) seen.insert((*r2)[i][1].to_vector<int32_t>()[0]);
  CHECK(seen.size() == 10);  // a partition
  CHECK(labels(r1->get_batch({0, 1})) == std::vector<int32_t>{(*r1)[0][1].to_vector<int32_t>()[0],
                                                              (*r1)[1][1].to_vector<int32_t>()[0]});
  CHECK_THROWS_AS(datasets::split_dataset(d, 11), Error);
  datasets::ConcatenatedDataset cat({a, b, a});
  CHECK(cat.size() == 14);
  CHECK(cat[12][1].to_vector<int32_t>()[0] == 2);
  // concat_examples stacks; padding pads.
  Example s = concat_examples({(*d)[1], (*d)[2]}, runtime().cpu());
  CHECK(s[0].shape() == Shape{2, 2});
  CHECK(labels(s) == std::vector<int32_t>{1, 2});
  Example p = concat_examples({{Tensor::full(Shape{1}, 1.0, float32)}, {Tensor::full(Shape{3}, 2.0, float32)}},
                              runtime().cpu(), -1.0);
  CHECK(p[0].to_vector<float>() == std::vector<float>{1, -1, -1, 2, 2, 2});
  CHECK_THROWS_WITH_AS(concat_examples({{Tensor::zeros(Shape{1}, float32)}, {Tensor::zeros(Shape{3}, float32)}}),
                       doctest::Contains("give a padding value"), Error);
}

TEST_CASE("SerialIterator: Chainer's epoch bookkeeping, repeat filling, shuffling, reset") {
  // No shuffle, repeat: batches of 4 over 10 examples; the third batch crosses the epoch.
  SerialIterator it(numbers(10), 4, /*repeat=*/true, /*shuffle=*/false);
  CHECK(labels(*it.next_batch(runtime().cpu())) == std::vector<int32_t>{0, 1, 2, 3});
  CHECK(it.epoch == 0);
  CHECK_FALSE(it.is_new_epoch);
  CHECK(it.epoch_detail == doctest::Approx(0.4));
  CHECK(it.previous_epoch_detail == doctest::Approx(0.0));
  it.next_batch(runtime().cpu());
  CHECK(labels(*it.next_batch(runtime().cpu())) == std::vector<int32_t>{8, 9, 0, 1});
  CHECK(it.epoch == 1);
  CHECK(it.is_new_epoch);
  CHECK(it.epoch_detail == doctest::Approx(1.2));
  CHECK(it.current_position == 2);
  it.reset();
  CHECK(it.epoch == 0);
  CHECK(labels(*it.next_batch(runtime().cpu())) == std::vector<int32_t>{0, 1, 2, 3});
  // No repeat: the last batch is short, then the iterator is done.
  SerialIterator once(numbers(10), 4, /*repeat=*/false, /*shuffle=*/false);
  once.next();
  once.next();
  std::optional<std::vector<Example>> last = once.next();
  REQUIRE(last);
  CHECK(last->size() == 2);
  CHECK(once.is_new_epoch);
  CHECK_FALSE(once.next());
  // Shuffle: every epoch is a permutation, different epochs differ, the seed fixes them.
  SerialIterator sh(numbers(10), 5, true, true, 9), again(numbers(10), 5, true, true, 9);
  std::vector<int32_t> e1, e2;
  for (int i = 0; i < 2; ++i) {
    auto l = labels(*sh.next_batch(runtime().cpu()));
    CHECK(l == labels(*again.next_batch(runtime().cpu())));
    e1.insert(e1.end(), l.begin(), l.end());
  }
  for (int i = 0; i < 2; ++i) {
    auto l = labels(*sh.next_batch(runtime().cpu()));
    e2.insert(e2.end(), l.begin(), l.end());
  }
  CHECK(e1 != e2);
  std::sort(e1.begin(), e1.end());
  std::sort(e2.begin(), e2.end());
  CHECK(e1 == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(e1 == e2);
  CHECK_THROWS_WITH_AS(SerialIterator(numbers(3), 0), doctest::Contains("batch_size must be at least 1"), Error);
}

TEST_CASE("MultithreadIterator gives SerialIterator's batches, augmented data included, whatever the threads") {
  // Two separate datasets with the same random transform (adds a uniform number to x).
  auto noisy_numbers = [] {
    return std::make_shared<datasets::TransformDataset>(
        numbers(23),
        [](Example e, std::mt19937_64& rng) {
          float u = float(rng() % 1000) / 1000.0f;
          e[0] = ops::add(e[0], Tensor::full(Shape{}, double(u), float32, runtime().cpu()));
          return e;
        },
        11);
  };
  auto noisy = noisy_numbers(), fresh = noisy_numbers();
  SerialIterator serial(noisy, 6, true, true, 3);
  MultithreadIterator threaded(fresh, 6, true, true, 3, /*n_threads=*/3, /*n_prefetch=*/5);
  for (int i = 0; i < 12; ++i) {
    CAPTURE(i);
    Example a = *serial.next_batch(runtime().cpu()), b = *threaded.next_batch(runtime().cpu());
    CHECK(a[0].to_vector<float>() == b[0].to_vector<float>());
    CHECK(labels(a) == labels(b));
    CHECK(serial.epoch == threaded.epoch);
    CHECK(serial.is_new_epoch == threaded.is_new_epoch);
    CHECK(serial.epoch_detail == threaded.epoch_detail);
  }
  threaded.reset();
  CHECK(threaded.epoch == 0);
  MultithreadIterator once(numbers(7), 3, false, false, 0, 2, 2);
  int batches = 0;
  while (once.next()) ++batches;
  CHECK(batches == 3);
}

TEST_CASE("transforms: crop, flip, resize, normalize, ToTensor, Compose") {
  std::mt19937_64 rng(1);
  std::vector<float> v(2 * 4 * 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i);
  Tensor img = Tensor::from_vector(v, Shape{2, 4, 4}, runtime().cpu());
  Tensor c = transforms::CenterCrop(2, 2)(img, rng);
  CHECK(c.to_vector<float>() == std::vector<float>{5, 6, 9, 10, 21, 22, 25, 26});
  Tensor f = transforms::RandomHorizontalFlip(1.0)(img, rng);
  CHECK(f.to_vector<float>()[0] == 3);
  CHECK(transforms::RandomHorizontalFlip(0.0)(img, rng).to_vector<float>() == v);
  // Random crops of a padded image stay inside it and vary.
  std::set<float> corners;
  for (int i = 0; i < 50; ++i) {
    Tensor r = transforms::RandomCrop(4, 4, 1)(img, rng);
    CHECK(r.shape() == Shape{2, 4, 4});
    corners.insert(r.to_vector<float>()[5]);
  }
  CHECK(corners.size() > 3);
  Tensor big = transforms::Resize(8, 8)(img, rng);
  CHECK(big.shape() == Shape{2, 8, 8});
  CHECK(big.to_vector<float>()[0] == doctest::Approx(0.0));
  Tensor same = transforms::Resize(4, 4)(img, rng);
  CHECK(same.to_vector<float>() == v);
  Tensor n = transforms::Normalize({1.0, 16.0}, {2.0, 4.0})(img, rng);
  CHECK(n.to_vector<float>()[0] == doctest::Approx(-0.5));
  CHECK(n.to_vector<float>()[16] == doctest::Approx(0.0));
  std::vector<uint8_t> hwc{0, 255, 51, 102};  // (1, 2, 2): two pixels of two channels
  Tensor t = transforms::ToTensor()(Tensor::from_vector(hwc, Shape{1, 2, 2}, runtime().cpu()), rng);
  CHECK(t.shape() == Shape{2, 1, 2});
  CHECK(t.to_vector<float>()[1] == doctest::Approx(0.2));
  auto pipeline = transforms::Compose({transforms::CenterCrop(2, 2), transforms::Normalize({5.0}, {1.0})});
  CHECK(pipeline(img, rng).to_vector<float>()[0] == 0.0f);
  CHECK_THROWS_WITH_AS(transforms::CenterCrop(5, 5)(img, rng), doctest::Contains("does not fit"), Error);
  CHECK_THROWS_WITH_AS(transforms::Normalize({1, 2, 3}, {1, 1, 1})(img, rng), doctest::Contains("3 means"), Error);
  CHECK_THROWS_WITH_AS(transforms::RandomCrop(2, 2)(Tensor::zeros(Shape{4, 4}, float32), rng),
                       doctest::Contains("ToTensor"), Error);
}
