// A small-object pool for the runtime's per-op objects (tensor blocks, variables, graph
// nodes): blocks of up to 512 bytes are recycled through per-thread free lists per 16-byte
// size class instead of going through malloc and free on every op. At most kKeep blocks
// per class and thread are kept; the rest go back to the system.
#pragma once

#include <cstddef>
#include <new>

namespace catena {

void* pool_allocate(size_t bytes);
void pool_free(void* p, size_t bytes);

template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}  // NOLINT: rebinding, as allocate_shared does
  T* allocate(size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { pool_free(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const PoolAllocator<U>&) const { return false; }
};

}  // namespace catena
