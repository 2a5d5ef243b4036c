// SerialIterator and MultithreadIterator.
#include <catena/error.hpp>
#include <catena/iterator.hpp>
#include <catena/random.hpp>
#include <catena/runtime.hpp>

#include <cstring>
#include <numeric>
#include <sstream>

namespace catena {

namespace {

uint64_t draw_seed() {
  // A seed from catena's generator: reproducible after catena::seed(n).
  Generator& g = default_generator();
  uint64_t off = g.reserve(1);
  uint64_t z = g.seed() * 0x9E3779B97F4A7C15ull + off + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

SerialIterator::SerialIterator(DatasetPtr dataset, size_t batch_size, bool repeat, bool shuffle,
                               std::optional<uint64_t> seed)
    : dataset_(std::move(dataset)), batch_size_(batch_size), repeat_(repeat), shuffle_(shuffle) {
  if (!dataset_) throw Error(CT_INVALID_ARGUMENT, "SerialIterator: the dataset is null");
  if (batch_size == 0) throw Error(CT_INVALID_ARGUMENT, "SerialIterator: batch_size must be at least 1");
  if (dataset_->size() == 0) throw Error(CT_INVALID_ARGUMENT, "SerialIterator: the dataset is empty");
  seed_ = seed ? *seed : draw_seed();
  reset();
}

void SerialIterator::new_order() {
  if (!shuffle_) return;
  auto order = std::make_shared<std::vector<size_t>>(dataset_->size());
  std::iota(order->begin(), order->end(), size_t(0));
  for (size_t i = order->size(); i > 1; --i) std::swap((*order)[i - 1], (*order)[rng_() % i]);
  order_ = std::move(order);
}

const std::vector<size_t>& SerialIterator::order() const {
  static const std::vector<size_t> none;
  return order_ ? *order_ : none;
}

void SerialIterator::reset() {
  rng_.seed(seed_);
  order_.reset();
  new_order();
  sampler_ = State();
  publish(sampler_);
}

void SerialIterator::publish(const State& s) {
  epoch = s.epoch;
  is_new_epoch = s.is_new_epoch;
  epoch_detail = s.epoch_detail;
  previous_epoch_detail = s.previous_epoch_detail;
  current_position = s.current_position;
}

std::optional<SerialIterator::Indices> SerialIterator::next_indices() {
  const size_t n = dataset_->size();
  State& s = sampler_;
  if (!repeat_ && s.epoch > 0) return std::nullopt;
  Indices idx;
  idx.epoch = uint64_t(s.epoch);
  s.previous_epoch_detail = s.epoch_detail;
  std::shared_ptr<const std::vector<size_t>> order = order_;
  auto at = [&](size_t i) { return order ? (*order)[i] : i; };
  size_t i = s.current_position, end = i + batch_size_;
  for (size_t k = i; k < std::min(end, n); ++k) idx.first.push_back(at(k));
  if (end >= n) {
    size_t rest = end - n;
    new_order();
    order = order_;  // the rest of the batch comes from the next epoch's order
    if (repeat_) {
      // Fill the batch from the next epoch's order (looping if the batch is larger than
      // the dataset).
      for (size_t k = 0; k < rest; ++k) idx.second.push_back(at(k % n));
      s.current_position = rest % n;
    } else {
      s.current_position = 0;
    }
    s.epoch += 1;
    s.is_new_epoch = true;
  } else {
    s.is_new_epoch = false;
    s.current_position = end;
  }
  s.epoch_detail = double(s.epoch) + double(s.current_position) / double(n);
  idx.after = s;
  return idx;
}

Example SerialIterator::read(const Dataset& d, const Indices& idx) {
  Example a;
  {
    ReadEpoch scope(idx.epoch);
    a = d.get_batch(idx.first);
  }
  if (idx.second.empty()) return a;
  Example b;
  {
    ReadEpoch scope(idx.epoch + 1);
    b = d.get_batch(idx.second);
  }
  // Join the two parts along the batch axis.
  Example out;
  for (size_t k = 0; k < a.size(); ++k) {
    const Tensor &x = a[k], &y = b[k];
    Shape s = x.shape();
    s[0] = x.shape()[0] + y.shape()[0];
    Tensor joined = Tensor::empty(s, x.dtype(), runtime().cpu());
    size_t xb = size_t(x.numel()) * x.dtype().size(), yb = size_t(y.numel()) * y.dtype().size();
    if (xb) std::memcpy(joined.host_data(), x.contiguous().host_data(), xb);
    if (yb) std::memcpy(static_cast<char*>(joined.host_data()) + xb, y.contiguous().host_data(), yb);
    out.push_back(joined);
  }
  return out;
}

namespace {

std::vector<Example> unstack(const Example& stacked) {
  std::vector<Example> out;
  if (stacked.empty()) return out;
  int64_t n = stacked[0].shape()[0];
  for (int64_t i = 0; i < n; ++i) {
    Example e;
    for (const Tensor& t : stacked) e.push_back(t.slice(0, i, i + 1).squeeze(0));
    out.push_back(e);
  }
  return out;
}

}  // namespace

std::optional<Example> SerialIterator::next_batch(Device& device) {
  std::optional<Indices> idx = next_indices();
  if (!idx) return std::nullopt;
  publish(idx->after);
  Example e = read(*dataset_, *idx);
  for (Tensor& t : e) t = t.to(device);  // no copy when already there
  return e;
}

std::optional<std::vector<Example>> Iterator::next() {
  std::optional<Example> b = next_batch(runtime().cpu());
  if (!b) return std::nullopt;
  return unstack(*b);
}

void Iterator::serialize(Serializer& s) {
  throw Error(CT_UNIMPLEMENTED, "this iterator (" + s.path() +
                                    ") cannot be saved in a snapshot: give it a serialize() (SerialIterator and "
                                    "MultithreadIterator have one)");
}

void SerialIterator::serialize(Serializer& s) {
  Sampler m = saved_sampler();
  int64_t position = int64_t(m.state.current_position), ep = m.state.epoch;
  bool new_epoch = m.state.is_new_epoch;
  double previous = m.state.previous_epoch_detail;
  std::ostringstream rng_text;
  rng_text << m.rng;
  std::string rng_state = rng_text.str();
  Tensor order;
  if (m.order) {
    std::vector<int64_t> o(m.order->begin(), m.order->end());
    order = Tensor::from_vector(o, Shape{int64_t(o.size())}, runtime().cpu());
  }
  s("current_position", position);
  s("epoch", ep);
  s("is_new_epoch", new_epoch);
  if (s.saving() || s.contains("previous_epoch_detail")) s("previous_epoch_detail", previous);
  if (s.saving()) {
    if (shuffle_) s("order", order);
    // Catena's own key: Chainer draws orders from numpy's global generator and saves none.
    s("_rng_state", rng_state);
    return;
  }
  // Loading: everything is checked in both passes, assigned in the second.
  const size_t n = dataset_->size();
  std::shared_ptr<std::vector<size_t>> loaded;
  if (const Tensor* o = shuffle_ ? s.get("order") : nullptr) {
    if (o->ndim() != 1 || size_t(o->numel()) != n || o->dtype().is_float())
      s.fail("order", "is not a list of " + std::to_string(n) + " indices (the data set's size)");
    std::vector<int64_t> v = o->astype(int64).to_vector<int64_t>();
    std::vector<char> seen(n, 0);
    for (int64_t i : v) {
      if (i < 0 || size_t(i) >= n || seen[size_t(i)]) s.fail("order", "is not a permutation of the data set's indices");
      seen[size_t(i)] = 1;
    }
    loaded = std::make_shared<std::vector<size_t>>(v.begin(), v.end());
  }
  std::mt19937_64 rng = rng_;
  const bool has_rng = s.contains("_rng_state");
  if (has_rng) {
    const Tensor* t = s.get("_rng_state");
    std::string text = t && t->dtype() == uint8 && t->ndim() == 1 ? std::string(size_t(t->numel()), '\0') : "";
    if (!text.empty()) t->copy_to_host(&text[0], text.size());
    std::istringstream in(text);
    in >> rng;
    if (text.empty() || !in) s.fail("_rng_state", "is not the state of a std::mt19937_64");
  }
  auto peek = [&](const char* key, int64_t fallback) {
    const Tensor* t = s.get(key);
    return t && t->numel() == 1 ? t->astype(int64).to_vector<int64_t>()[0] : fallback;
  };
  const int64_t pos_in = peek("current_position", position), ep_in = peek("epoch", ep);
  if (pos_in < 0 || size_t(pos_in) >= n || ep_in < 0)
    s.fail("current_position", "is " + std::to_string(pos_in) + " (epoch " + std::to_string(ep_in) +
                                   "), outside a data set of " + std::to_string(n) + " examples");
  if (!s.applying()) return;
  discard_ahead();
  sampler_.current_position = size_t(position);
  sampler_.epoch = ep;
  sampler_.is_new_epoch = new_epoch;
  sampler_.previous_epoch_detail = previous;
  sampler_.epoch_detail = double(ep) + double(position) / double(n);
  if (loaded) order_ = std::move(loaded);
  rng_ = rng;
  publish(sampler_);
}

MultithreadIterator::MultithreadIterator(DatasetPtr dataset, size_t batch_size, bool repeat, bool shuffle,
                                         std::optional<uint64_t> seed, int n_threads, int n_prefetch)
    : SerialIterator(std::move(dataset), batch_size, repeat, shuffle, seed),
      n_threads_(n_threads), n_prefetch_(n_prefetch) {
  if (n_threads < 1) throw Error(CT_INVALID_ARGUMENT, "MultithreadIterator: n_threads must be at least 1");
  if (n_prefetch < 1) throw Error(CT_INVALID_ARGUMENT, "MultithreadIterator: n_prefetch must be at least 1");
  for (int i = 0; i < n_threads; ++i) threads_.emplace_back([this] { worker(); });
}

MultithreadIterator::~MultithreadIterator() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void MultithreadIterator::worker() {
  for (;;) {
    std::packaged_task<Example()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (stop_ && tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();  // an exception is kept in the future and rethrown to the consumer
  }
}

void MultithreadIterator::fill() {
  while (!exhausted_ && pending_.size() < size_t(n_prefetch_)) {
    Sampler before = sampler();
    std::optional<Indices> idx = next_indices();
    if (!idx) {
      exhausted_ = true;
      break;
    }
    DatasetPtr d = dataset_;
    Indices copy = *idx;
    std::packaged_task<Example()> task([d, copy] { return SerialIterator::read(*d, copy); });
    Pending p{task.get_future().share(), idx->after, std::move(before)};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
    pending_.push_back(std::move(p));
  }
}

void MultithreadIterator::drain() {
  for (Pending& p : pending_) p.batch.wait();
  pending_.clear();
}

std::optional<Example> MultithreadIterator::next_batch(Device& device) {
  fill();
  if (pending_.empty()) return std::nullopt;
  Pending p = pending_.front();
  pending_.pop_front();
  fill();  // keep the workers busy while this batch is used
  Example e = p.batch.get();
  publish(p.after);
  for (Tensor& t : e) t = t.to(device);
  return e;
}

SerialIterator::Sampler MultithreadIterator::saved_sampler() const {
  return pending_.empty() ? sampler() : pending_.front().before;
}

void MultithreadIterator::discard_ahead() {
  drain();
  exhausted_ = false;
}

void MultithreadIterator::reset() {
  drain();
  exhausted_ = false;
  SerialIterator::reset();
}

}  // namespace catena
