#include "pool.hpp"

#include <cstdint>

namespace catena {

namespace {

constexpr size_t kGranule = 16, kClasses = 32, kKeep = 4096;  // up to 512-byte blocks

struct FreeBlock {
  FreeBlock* next;
};

// Per-thread free lists: no lock and no atomic on the hot path. A block freed by another
// thread simply joins that thread's list. (Not initial-exec TLS, so that libcatena can be
// dlopen'ed: see config().)
struct Lists {
  FreeBlock* head[kClasses];
  uint32_t count[kClasses];
};
thread_local Lists t_lists = {};

}  // namespace

void* pool_allocate(size_t bytes) {
  size_t k = (bytes + kGranule - 1) / kGranule;
  if (k == 0 || k > kClasses) return ::operator new(bytes);
  Lists& l = t_lists;
  if (FreeBlock* b = l.head[k - 1]) {
    l.head[k - 1] = b->next;
    --l.count[k - 1];
    return b;
  }
  return ::operator new(k * kGranule);
}

void pool_free(void* p, size_t bytes) {
  size_t k = (bytes + kGranule - 1) / kGranule;
  if (k == 0 || k > kClasses) return ::operator delete(p);
  Lists& l = t_lists;
  if (l.count[k - 1] >= kKeep) return ::operator delete(p);
  auto* b = static_cast<FreeBlock*>(p);
  b->next = l.head[k - 1];
  l.head[k - 1] = b;
  ++l.count[k - 1];
}

}  // namespace catena
