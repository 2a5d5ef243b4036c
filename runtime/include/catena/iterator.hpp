// Iterators over datasets (Chainer's SerialIterator and MultithreadIterator) and their
// epoch bookkeeping.
//
//   catena::SerialIterator it(train, 100);                 // repeat, shuffle
//   while (it.epoch < 5) { Example xt = *it.next_batch(device); ... }
#pragma once

#include <catena/dataset.hpp>
#include <catena/serializer.hpp>

#include <condition_variable>
#include <deque>
#include <future>
#include <optional>
#include <thread>

namespace catena {

class Iterator : public Serializable {
 public:
  virtual ~Iterator() = default;
  // The next batch as a list of examples; nullopt once a non-repeating iterator has
  // finished its epoch (Chainer's StopIteration). next_batch, unstacked.
  std::optional<std::vector<Example>> next();
  // The next batch stacked on `device` (concat_examples); nullopt as above.
  virtual std::optional<Example> next_batch(Device& device = default_device()) = 0;
  virtual void reset() = 0;
  virtual size_t batch_size() const = 0;
  virtual bool repeat() const = 0;
  virtual size_t dataset_size() const = 0;

  int64_t epoch = 0;                   // completed epochs
  bool is_new_epoch = false;           // the last batch finished an epoch
  double epoch_detail = 0.0;           // epoch + position / size
  double previous_epoch_detail = -1.0; // epoch_detail before the last batch (-1 at first)
  size_t current_position = 0;

  // Where iteration stands, for snapshots. Iterators that cannot be saved say so.
  void serialize(Serializer& s) override;
};

// Chainer's SerialIterator: batches in order, or in a new random order each epoch. With
// repeat, a batch that crosses an epoch's end is filled from the next epoch's order, so
// every batch has batch_size examples. `seed` fixes the shuffling; without one it is drawn
// from catena's default generator (so catena::seed makes runs reproducible).
class SerialIterator : public Iterator {
 public:
  SerialIterator(DatasetPtr dataset, size_t batch_size, bool repeat = true, bool shuffle = true,
                 std::optional<uint64_t> seed = {});
  std::optional<Example> next_batch(Device& device = default_device()) override;
  void reset() override;
  size_t batch_size() const override { return batch_size_; }
  bool repeat() const override { return repeat_; }
  size_t dataset_size() const override { return dataset_->size(); }
  const std::vector<size_t>& order() const;  // empty without shuffle
  uint64_t seed() const { return seed_; }
  // Chainer's keys (current_position, epoch, is_new_epoch, order, previous_epoch_detail)
  // plus the shuffling generator's state (_rng_state), so a resumed run draws the same
  // orders as one never stopped.
  void serialize(Serializer& s) override;

  // Where iteration stands after a batch (what the public fields show).
  struct State {
    int64_t epoch = 0;
    bool is_new_epoch = false;
    double epoch_detail = 0.0, previous_epoch_detail = -1.0;
    size_t current_position = 0;
  };
  // The indices of the next batch, the epoch each part is read for, and the state after
  // it; nullopt when a non-repeating iterator is done. Advances the sampler only.
  struct Indices {
    std::vector<size_t> first;   // read for `epoch`
    std::vector<size_t> second;  // filled from the next epoch's order
    uint64_t epoch;
    State after;
  };
  std::optional<Indices> next_indices();
  static Example read(const Dataset& d, const Indices& idx);

 protected:
  void publish(const State& s);
  DatasetPtr dataset_;
  // Everything that decides the next batches: a copy taken before a batch is sampled
  // lets a prefetching iterator save itself at the point its consumer has reached.
  struct Sampler {
    State state;
    std::shared_ptr<const std::vector<size_t>> order;
    std::mt19937_64 rng;
  };
  Sampler sampler() const { return {sampler_, order_, rng_}; }
  // The sampler to save: the current one here; a prefetching iterator's consumer is behind.
  virtual Sampler saved_sampler() const { return sampler(); }
  // Called before a loaded sampler replaces the current one (drop prefetched batches).
  virtual void discard_ahead() {}

 private:
  void new_order();
  size_t batch_size_;
  bool repeat_, shuffle_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::shared_ptr<const std::vector<size_t>> order_;
  State sampler_;
};

// SerialIterator's order, with the examples read and stacked on worker threads ahead of
// use (n_prefetch batches in flight). The batches and their contents are the same as a
// SerialIterator's with the same seed, whatever the thread count.
class MultithreadIterator : public SerialIterator {
 public:
  MultithreadIterator(DatasetPtr dataset, size_t batch_size, bool repeat = true, bool shuffle = true,
                      std::optional<uint64_t> seed = {}, int n_threads = 2, int n_prefetch = 4);
  ~MultithreadIterator() override;
  std::optional<Example> next_batch(Device& device = default_device()) override;
  void reset() override;

 private:
  struct Pending {
    std::shared_future<Example> batch;
    State after;
    Sampler before;  // the sampler before this batch was drawn
  };
  Sampler saved_sampler() const override;
  void discard_ahead() override;
  void fill();
  void drain();
  void worker();
  int n_threads_, n_prefetch_;
  std::deque<Pending> pending_;
  bool exhausted_ = false;
  // Worker pool.
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<Example()>> tasks_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

}  // namespace catena
