// Datasets (Chainer's chainer.dataset / chainer.datasets): an example is a tuple of host
// arrays, a dataset is an indexable collection of examples.
//
//   auto [train, test] = catena::datasets::get_fashion_mnist();   // TupleDatasets (x, t)
//   auto [tr, val] = catena::datasets::split_dataset_random(train, 50000, /*seed=*/0);
#pragma once

#include <catena/tensor.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace catena {

// One example: Chainer's tuple (x, t), as arrays on the cpu device.
using Example = std::vector<Tensor>;

// Chainer's DatasetMixin: size() and get_example(i); operator[] checks the index.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual Example get_example(size_t i) const = 0;
  Example operator[](size_t i) const;
  // The examples at `indices`, stacked: one array per tuple element with a leading batch
  // axis (concat_examples). Datasets backed by arrays override it with one gather.
  virtual Example get_batch(const std::vector<size_t>& indices) const;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// Iterators mark the epoch they read examples for, on the thread that reads them.
class ReadEpoch {
 public:
  explicit ReadEpoch(uint64_t epoch);
  ~ReadEpoch();
  ReadEpoch(const ReadEpoch&) = delete;
  ReadEpoch& operator=(const ReadEpoch&) = delete;
  static const uint64_t* current();  // null outside a ReadEpoch

 private:
  uint64_t epoch_;
  const uint64_t* previous_;
};

// Stack examples (tuples of equal arity and shapes) into one array per element, on
// `device` (Chainer's concat_examples). With `padding`, arrays of different shapes are
// padded to the largest with that value.
Example concat_examples(const std::vector<Example>& batch, Device& device = default_device());
Example concat_examples(const std::vector<Example>& batch, Device& device, double padding);

namespace datasets {

// Chainer's TupleDataset: arrays of equal length along axis 0; example i is (a[i], b[i], ...).
class TupleDataset : public Dataset {
 public:
  explicit TupleDataset(std::vector<Tensor> arrays);
  size_t size() const override { return size_; }
  Example get_example(size_t i) const override;
  Example get_batch(const std::vector<size_t>& indices) const override;
  const std::vector<Tensor>& arrays() const { return arrays_; }

 private:
  std::vector<Tensor> arrays_;
  size_t size_;
};

// A view of examples [start, finish) of a base dataset, optionally through an order.
class SubDataset : public Dataset {
 public:
  SubDataset(DatasetPtr base, size_t start, size_t finish, std::vector<size_t> order = {});
  size_t size() const override { return finish_ - start_; }
  Example get_example(size_t i) const override;
  Example get_batch(const std::vector<size_t>& indices) const override;

 private:
  size_t map(size_t i) const;
  DatasetPtr base_;
  size_t start_, finish_;
  std::vector<size_t> order_;
};

// Split at `first_size` (Chainer's split_dataset), or after a random permutation
// (split_dataset_random; the same seed gives the same split).
std::pair<DatasetPtr, DatasetPtr> split_dataset(DatasetPtr dataset, size_t first_size, std::vector<size_t> order = {});
std::pair<DatasetPtr, DatasetPtr> split_dataset_random(DatasetPtr dataset, size_t first_size, uint64_t seed);

// Datasets one after another.
class ConcatenatedDataset : public Dataset {
 public:
  explicit ConcatenatedDataset(std::vector<DatasetPtr> datasets);
  size_t size() const override { return size_; }
  Example get_example(size_t i) const override;

 private:
  std::vector<DatasetPtr> datasets_;
  size_t size_ = 0;
};

// Chainer's TransformDataset: example i is transform(base[i]). A random transform draws
// from the generator it is given, seeded from (seed, i, epoch) — the epoch the iterator
// reads i for (see ReadEpoch), else how many times i was read — so the same seed gives
// the same augmented data whatever thread reads it.
using ExampleTransform = std::function<Example(Example, std::mt19937_64& rng)>;
class TransformDataset : public Dataset {
 public:
  TransformDataset(DatasetPtr base, ExampleTransform transform, uint64_t seed = 0);
  size_t size() const override { return base_->size(); }
  Example get_example(size_t i) const override;

 private:
  DatasetPtr base_;
  ExampleTransform transform_;
  uint64_t seed_;
  std::unique_ptr<std::atomic<uint32_t>[]> reads_;
};

// --- Readers ---------------------------------------------------------------------------

// An IDX file (MNIST's format), gzip'd or not: a uint8 (or int8/int16/int32/float32/
// float64) array of the shape in its header. Errors name the file and what is wrong.
Tensor read_idx(const std::string& path);

// MNIST-format data sets (Chainer's get_mnist): pixels as float32 scaled to [0, scale],
// shape (784,) for ndim 1 or (1, 28, 28) for ndim 3; labels int32. Returns (train, test).
// `dir` holds train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
// t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz].
struct MnistOptions {
  int ndim = 1;
  double scale = 1.0;
  bool withlabel = true;
};
std::pair<DatasetPtr, DatasetPtr> get_mnist_format(const std::string& dir, const MnistOptions& options = {});
// Fashion-MNIST from `dir`, else $CATENA_FASHION_MNIST, else Debian's
// /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist).
std::pair<DatasetPtr, DatasetPtr> get_fashion_mnist(const std::string& dir = "", const MnistOptions& options = {});
// MNIST from `dir`, else $CATENA_MNIST (no Debian package ships it).
std::pair<DatasetPtr, DatasetPtr> get_mnist(const std::string& dir = "", const MnistOptions& options = {});
std::string default_fashion_mnist_dir();

// CIFAR-10 / CIFAR-100 binary batches (data_batch_1.bin ... data_batch_5.bin and
// test_batch.bin; CIFAR-100: train.bin and test.bin with coarse and fine labels, the fine
// label is used). Images float32 (3, 32, 32) scaled to [0, scale]; labels int32.
std::pair<DatasetPtr, DatasetPtr> get_cifar10(const std::string& dir = "", double scale = 1.0);
std::pair<DatasetPtr, DatasetPtr> get_cifar100(const std::string& dir = "", double scale = 1.0);

}  // namespace datasets
}  // namespace catena
