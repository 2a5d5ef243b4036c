// Random numbers: a counter-based generator (seed, offset), so a seed gives the same
// numbers on every device and a run can be resumed exactly from its state.
#pragma once

#include <catena/tensor.hpp>

#include <cstdint>
#include <mutex>

namespace catena {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  // The state: the seed and how many counter blocks have been used.
  uint64_t seed() const;
  uint64_t offset() const;
  void set_state(uint64_t seed, uint64_t offset);
  // Reserve the counters for n numbers; returns the offset to draw them from.
  uint64_t reserve(int64_t n);

  Tensor uniform(const Shape& shape, Dtype dtype, Device& device, double low = 0, double high = 1);
  Tensor normal(const Shape& shape, Dtype dtype, Device& device, double mean = 0, double stddev = 1);

 private:
  mutable std::mutex mutex_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide generator (seed 0 until catena::seed is called; CATENA_SEED sets it
// at start).
Generator& default_generator();
void seed(uint64_t s);

}  // namespace catena
