// Datasets, splits and concat_examples.
#include <catena/dataset.hpp>
#include <catena/error.hpp>
#include <catena/ops.hpp>
#include <catena/runtime.hpp>

#include <algorithm>
#include <cstring>
#include <numeric>

namespace catena {

namespace {

Device& cpu() { return runtime().cpu(); }

std::string index_error(size_t i, size_t n) {
  return "dataset index " + std::to_string(i) + " is out of range: the dataset has " + std::to_string(n) + " examples";
}

// A host, contiguous copy of `t` (no copy when it already is one).
Tensor host_contiguous(const Tensor& t) { return t.to(cpu()).contiguous(); }

Shape tail_shape(const Shape& s) {
  Shape out;
  for (int d = 1; d < s.ndim(); ++d) out.push_back(s[d]);
  return out;
}

Shape with_batch(int64_t n, const Shape& s) {
  Shape out{n};
  for (int64_t d : s) out.push_back(d);
  return out;
}

}  // namespace

namespace {
thread_local const uint64_t* read_epoch = nullptr;
}

ReadEpoch::ReadEpoch(uint64_t epoch) : epoch_(epoch), previous_(read_epoch) { read_epoch = &epoch_; }
ReadEpoch::~ReadEpoch() { read_epoch = previous_; }
const uint64_t* ReadEpoch::current() { return read_epoch; }

Example Dataset::operator[](size_t i) const {
  if (i >= size()) throw Error(CT_OUT_OF_RANGE, index_error(i, size()));
  return get_example(i);
}

Example Dataset::get_batch(const std::vector<size_t>& indices) const {
  std::vector<Example> batch;
  batch.reserve(indices.size());
  for (size_t i : indices) batch.push_back((*this)[i]);
  return concat_examples(batch, cpu());
}

Example concat_examples(const std::vector<Example>& batch, Device& device) {
  if (batch.empty()) throw Error(CT_INVALID_ARGUMENT, "concat_examples: the batch is empty");
  const size_t arity = batch[0].size();
  const int64_t n = static_cast<int64_t>(batch.size());
  Example out;
  for (size_t k = 0; k < arity; ++k) {
    const Tensor& first = batch[0][k];
    Tensor stacked = Tensor::empty(with_batch(n, first.shape()), first.dtype(), cpu());
    const size_t bytes = static_cast<size_t>(first.numel()) * first.dtype().size();
    char* dst = static_cast<char*>(stacked.host_data());
    for (int64_t i = 0; i < n; ++i) {
      const Example& e = batch[static_cast<size_t>(i)];
      if (e.size() != arity)
        throw Error(CT_INVALID_ARGUMENT, "concat_examples: example " + std::to_string(i) + " has " +
                                             std::to_string(e.size()) + " elements, example 0 has " +
                                             std::to_string(arity));
      const Tensor& t = e[k];
      if (t.shape() != first.shape() || t.dtype() != first.dtype())
        throw Error(CT_INVALID_ARGUMENT, "concat_examples: element " + std::to_string(k) + " of example " +
                                             std::to_string(i) + " is " + t.dtype().name() + t.shape().str() +
                                             " but example 0's is " + first.dtype().name() + first.shape().str() +
                                             " (give a padding value to pad them to one shape)");
      Tensor h = host_contiguous(t);
      if (bytes) std::memcpy(dst + static_cast<size_t>(i) * bytes, h.host_data(), bytes);
    }
    out.push_back(stacked.to(device));
  }
  return out;
}

Example concat_examples(const std::vector<Example>& batch, Device& device, double padding) {
  if (batch.empty()) throw Error(CT_INVALID_ARGUMENT, "concat_examples: the batch is empty");
  const size_t arity = batch[0].size();
  Example out;
  for (size_t k = 0; k < arity; ++k) {
    Shape big = batch[0].at(k).shape();
    for (const Example& e : batch) {
      if (e.size() != arity) throw Error(CT_INVALID_ARGUMENT, "concat_examples: examples differ in arity");
      const Tensor& t = e[k];
      if (t.ndim() != big.ndim())
        throw Error(CT_INVALID_ARGUMENT, "concat_examples: padding needs arrays of one rank; got " + t.shape().str() +
                                             " and " + big.str());
      for (int d = 0; d < big.ndim(); ++d) big[d] = std::max(big[d], t.shape()[d]);
    }
    const int64_t n = static_cast<int64_t>(batch.size());
    Tensor stacked = Tensor::full(with_batch(n, big), padding, batch[0][k].dtype(), cpu());
    for (int64_t i = 0; i < n; ++i) {
      const Tensor& t = batch[static_cast<size_t>(i)][k];
      Tensor dst = stacked.slice(0, i, i + 1).squeeze(0);
      for (int d = 0; d < t.ndim(); ++d) dst = dst.slice(d, 0, t.shape()[d]);
      ops::copy(dst, t.to(cpu()));
    }
    out.push_back(stacked.to(device));
  }
  return out;
}

namespace datasets {

TupleDataset::TupleDataset(std::vector<Tensor> arrays) : size_(0) {
  if (arrays.empty()) throw Error(CT_INVALID_ARGUMENT, "TupleDataset: give at least one array");
  for (size_t k = 0; k < arrays.size(); ++k) {
    const Tensor& a = arrays[k];
    if (!a.defined() || a.ndim() == 0)
      throw Error(CT_INVALID_ARGUMENT, "TupleDataset: array " + std::to_string(k) + " needs a leading example axis");
    if (k == 0) size_ = static_cast<size_t>(a.shape()[0]);
    if (static_cast<size_t>(a.shape()[0]) != size_)
      throw Error(CT_INVALID_ARGUMENT, "TupleDataset: array " + std::to_string(k) + " has " +
                                           std::to_string(a.shape()[0]) + " examples, array 0 has " +
                                           std::to_string(size_));
    arrays_.push_back(host_contiguous(a));
  }
}

Example TupleDataset::get_example(size_t i) const {
  if (i >= size_) throw Error(CT_OUT_OF_RANGE, index_error(i, size_));
  Example e;
  for (const Tensor& a : arrays_) e.push_back(a.slice(0, int64_t(i), int64_t(i) + 1).squeeze(0));
  return e;
}

Example TupleDataset::get_batch(const std::vector<size_t>& indices) const {
  Example out;
  const int64_t n = static_cast<int64_t>(indices.size());
  for (const Tensor& a : arrays_) {
    Tensor b = Tensor::empty(with_batch(n, tail_shape(a.shape())), a.dtype(), cpu());
    const size_t row = static_cast<size_t>(a.numel() / std::max<int64_t>(a.shape()[0], 1)) * a.dtype().size();
    const char* src = static_cast<const char*>(a.host_data());
    char* dst = static_cast<char*>(b.host_data());
    for (size_t j = 0; j < indices.size(); ++j) {
      if (indices[j] >= size_) throw Error(CT_OUT_OF_RANGE, index_error(indices[j], size_));
      std::memcpy(dst + j * row, src + indices[j] * row, row);
    }
    out.push_back(b);
  }
  return out;
}

SubDataset::SubDataset(DatasetPtr base, size_t start, size_t finish, std::vector<size_t> order)
    : base_(std::move(base)), start_(start), finish_(finish), order_(std::move(order)) {
  if (!base_) throw Error(CT_INVALID_ARGUMENT, "SubDataset: the base dataset is null");
  if (start > finish || finish > base_->size())
    throw Error(CT_OUT_OF_RANGE, "SubDataset: [" + std::to_string(start) + ", " + std::to_string(finish) +
                                     ") is not within a dataset of " + std::to_string(base_->size()) + " examples");
  if (!order_.empty()) {
    if (order_.size() != base_->size())
      throw Error(CT_INVALID_ARGUMENT, "SubDataset: the order has " + std::to_string(order_.size()) +
                                           " entries but the dataset has " + std::to_string(base_->size()) +
                                           " examples");
    for (size_t o : order_)
      if (o >= base_->size()) throw Error(CT_OUT_OF_RANGE, "SubDataset: order entry " + index_error(o, base_->size()));
  }
}

size_t SubDataset::map(size_t i) const {
  if (i >= size()) throw Error(CT_OUT_OF_RANGE, index_error(i, size()));
  size_t j = start_ + i;
  return order_.empty() ? j : order_[j];
}

Example SubDataset::get_example(size_t i) const { return base_->get_example(map(i)); }

Example SubDataset::get_batch(const std::vector<size_t>& indices) const {
  std::vector<size_t> mapped;
  mapped.reserve(indices.size());
  for (size_t i : indices) mapped.push_back(map(i));
  return base_->get_batch(mapped);
}

std::pair<DatasetPtr, DatasetPtr> split_dataset(DatasetPtr dataset, size_t first_size, std::vector<size_t> order) {
  if (!dataset) throw Error(CT_INVALID_ARGUMENT, "split_dataset: the dataset is null");
  size_t n = dataset->size();
  if (first_size > n)
    throw Error(CT_OUT_OF_RANGE, "split_dataset: first_size " + std::to_string(first_size) +
                                     " exceeds the dataset's size " + std::to_string(n));
  return {std::make_shared<SubDataset>(dataset, 0, first_size, order),
          std::make_shared<SubDataset>(dataset, first_size, n, order)};
}

std::pair<DatasetPtr, DatasetPtr> split_dataset_random(DatasetPtr dataset, size_t first_size, uint64_t seed) {
  if (!dataset) throw Error(CT_INVALID_ARGUMENT, "split_dataset_random: the dataset is null");
  std::vector<size_t> order(dataset->size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::mt19937_64 rng(seed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return split_dataset(dataset, first_size, std::move(order));
}

ConcatenatedDataset::ConcatenatedDataset(std::vector<DatasetPtr> datasets) : datasets_(std::move(datasets)) {
  for (const DatasetPtr& d : datasets_) {
    if (!d) throw Error(CT_INVALID_ARGUMENT, "ConcatenatedDataset: a dataset is null");
    size_ += d->size();
  }
}

Example ConcatenatedDataset::get_example(size_t i) const {
  if (i >= size_) throw Error(CT_OUT_OF_RANGE, index_error(i, size_));
  for (const DatasetPtr& d : datasets_) {
    if (i < d->size()) return d->get_example(i);
    i -= d->size();
  }
  throw Error(CT_INTERNAL, "ConcatenatedDataset: index bookkeeping");
}

TransformDataset::TransformDataset(DatasetPtr base, ExampleTransform transform, uint64_t seed)
    : base_(std::move(base)), transform_(std::move(transform)), seed_(seed) {
  if (!base_) throw Error(CT_INVALID_ARGUMENT, "TransformDataset: the base dataset is null");
  if (!transform_) throw Error(CT_INVALID_ARGUMENT, "TransformDataset: the transform is empty");
  reads_.reset(new std::atomic<uint32_t>[base_->size()]);
  for (size_t i = 0; i < base_->size(); ++i) reads_[i] = 0;
}

Example TransformDataset::get_example(size_t i) const {
  if (i >= size()) throw Error(CT_OUT_OF_RANGE, index_error(i, size()));
  const uint64_t* epoch = ReadEpoch::current();
  uint32_t nth = epoch ? uint32_t(*epoch) : reads_[i]++;
  std::seed_seq seq{uint32_t(seed_), uint32_t(seed_ >> 32), uint32_t(i), uint32_t(uint64_t(i) >> 32), nth};
  std::mt19937_64 rng(seq);
  return transform_(base_->get_example(i), rng);
}

}  // namespace datasets
}  // namespace catena
