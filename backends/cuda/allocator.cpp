#include "allocator.hpp"

#include <algorithm>

namespace catena_cuda {

CachingAllocator::CachingAllocator(Memory& memory, uint64_t limit) : memory_(memory), limit_(limit) {}

CachingAllocator::~CachingAllocator() { release_cached(); }

uint64_t CachingAllocator::round(uint64_t bytes) {
  constexpr uint64_t small = 512, large = 128 << 10, boundary = 1 << 20;
  if (bytes == 0) return 0;
  const uint64_t step = bytes < boundary ? small : large;
  return (bytes + step - 1) / step * step;
}

// The smallest cached block that fits and wastes at most half of itself: one freed on
// `stream` at once, one freed elsewhere if its work is done.
Block* CachingAllocator::take_cached(uint64_t size, void* stream, void** pending) {
  for (auto it = cached_.lower_bound(size); it != cached_.end() && it->first <= 2 * size; ++it) {
    Block* b = it->second;
    const bool finished = memory_.done(b->marker);
    if (b->stream != stream && !finished) continue;
    cached_.erase(it);
    order_.erase(std::find(order_.begin(), order_.end(), b));
    stats_.cached -= b->size;
    if (pending && !finished) *pending = b->marker;
    else memory_.forget(b->marker);
    b->marker = nullptr;
    b->stream = nullptr;
    return b;
  }
  return nullptr;
}

Block* CachingAllocator::allocate(uint64_t bytes, void* stream, void** pending) {
  const uint64_t size = round(bytes);
  if (pending) *pending = nullptr;
  std::lock_guard<std::mutex> lock(m_);
  if (size == 0) return new Block{};
  Block* b = take_cached(size, stream, pending);
  if (b) {
    ++stats_.reuses;
  } else {
    void* p = memory_.allocate(size);
    if (!p && !cached_.empty()) {  // under pressure: give the cache back, then try again
      while (!order_.empty()) release_locked(order_.front());
      p = memory_.allocate(size);
    }
    if (!p) return nullptr;
    b = new Block{p, size, nullptr, nullptr};
    ++stats_.device_allocations;
  }
  stats_.in_use += b->size;
  return b;
}

void CachingAllocator::free(Block* b, void* stream) {
  if (!b) return;
  if (!b->ptr) {
    delete b;
    return;
  }
  void* marker = memory_.mark(stream);
  std::lock_guard<std::mutex> lock(m_);
  stats_.in_use -= b->size;
  b->stream = stream;
  b->marker = marker;
  cached_.emplace(b->size, b);
  order_.push_back(b);
  stats_.cached += b->size;
  trim_locked();
}

void CachingAllocator::release_locked(Block* b) {
  auto range = cached_.equal_range(b->size);
  for (auto it = range.first; it != range.second; ++it)
    if (it->second == b) {
      cached_.erase(it);
      break;
    }
  order_.erase(std::find(order_.begin(), order_.end(), b));
  stats_.cached -= b->size;
  memory_.wait(b->marker);
  memory_.forget(b->marker);
  memory_.release(b->ptr);
  ++stats_.releases;
  delete b;
}

void CachingAllocator::trim_locked() {
  while (stats_.cached > limit_ && !order_.empty()) release_locked(order_.front());
}

void CachingAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(m_);
  while (!order_.empty()) release_locked(order_.front());
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(m_);
  return stats_;
}

}  // namespace catena_cuda
