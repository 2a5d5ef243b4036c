#include <catena/ops.hpp>
#include <catena/random.hpp>

#include "internal.hpp"

#include <cstdlib>

namespace catena {

uint64_t Generator::seed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seed_;
}

uint64_t Generator::offset() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return offset_;
}

void Generator::set_state(uint64_t seed, uint64_t offset) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = seed;
  offset_ = offset;
}

uint64_t Generator::reserve(int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t at = offset_;
  offset_ += (static_cast<uint64_t>(n) + 1) / 2;  // one counter block serves two numbers
  return at;
}

Tensor Generator::uniform(const Shape& shape, Dtype dtype, Device& device, double low, double high) {
  uint64_t s = seed(), at = reserve(shape.numel());
  return ops::random_uniform(shape, dtype, device, s, at, low, high);
}

Tensor Generator::normal(const Shape& shape, Dtype dtype, Device& device, double mean, double stddev) {
  uint64_t s = seed(), at = reserve(shape.numel());
  return ops::random_normal(shape, dtype, device, s, at, mean, stddev);
}

Generator& default_generator() {
  static Generator* g = new Generator(uint64_t(env_integer("CATENA_SEED", 0, 0, INT64_MAX)));
  return *g;
}

void seed(uint64_t s) { default_generator().set_state(s, 0); }

}  // namespace catena
