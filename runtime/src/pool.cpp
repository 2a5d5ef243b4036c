#include "pool.hpp"

#include "internal.hpp"

namespace catena {

namespace {

constexpr size_t kGranule = 16, kClasses = 32, kKeep = 8192;  // up to 512-byte blocks

struct FreeBlock {
  FreeBlock* next;
};

struct Class {
  SpinLock lock;
  FreeBlock* head = nullptr;
  size_t count = 0;
};

Class* classes() {
  static Class* c = new Class[kClasses];  // never destroyed: blocks may be freed at exit
  return c;
}

}  // namespace

void* pool_allocate(size_t bytes) {
  size_t k = (bytes + kGranule - 1) / kGranule;
  if (k == 0 || k > kClasses) return ::operator new(bytes);
  Class& c = classes()[k - 1];
  {
    std::lock_guard<SpinLock> g(c.lock);
    if (FreeBlock* b = c.head) {
      c.head = b->next;
      --c.count;
      return b;
    }
  }
  return ::operator new(k * kGranule);
}

void pool_free(void* p, size_t bytes) {
  size_t k = (bytes + kGranule - 1) / kGranule;
  if (k == 0 || k > kClasses) return ::operator delete(p);
  Class& c = classes()[k - 1];
  {
    std::lock_guard<SpinLock> g(c.lock);
    if (c.count < kKeep) {
      auto* b = static_cast<FreeBlock*>(p);
      b->next = c.head;
      c.head = b;
      ++c.count;
      return;
    }
  }
  ::operator delete(p);
}

}  // namespace catena
