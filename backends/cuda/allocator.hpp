// A stream-ordered caching allocator. Device memory comes from the driver in blocks that
// are kept when freed: a block freed on a stream is reused at once by the next allocation on
// that stream (the stream runs in order, so the new work starts after the old work ends),
// and by other streams only once the work enqueued on it before the free has completed. In
// steady state no op allocates from the driver. The cache is returned to the device when an
// allocation fails (then tried again), when it grows past a limit, and on request.
//
// The bookkeeping sees the device only through `Memory`, so it runs, and is tested, on the
// host with fake memory (tests/backends/cuda/test_allocator.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace catena_cuda {

class Memory {
 public:
  virtual ~Memory() = default;
  virtual void* allocate(uint64_t bytes) = 0;  // nullptr when the device is out of memory
  virtual void release(void* p) = 0;           // may wait for the device (cudaFree does)
  // A marker after the work enqueued so far on `stream`; done() does not block.
  virtual void* mark(void* stream) = 0;
  virtual bool done(void* marker) = 0;
  virtual void wait(void* marker) = 0;
  virtual void forget(void* marker) = 0;
};

struct Block {
  void* ptr = nullptr;
  uint64_t size = 0;         // as allocated from the device (rounded)
  void* stream = nullptr;    // while cached: the stream it was freed on
  void* marker = nullptr;    // while cached: the end of its work on that stream
};

class CachingAllocator {
 public:
  // `limit`: the most bytes kept cached (beyond it the oldest blocks are returned).
  explicit CachingAllocator(Memory& memory, uint64_t limit = UINT64_MAX);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // At least `bytes` (0 gives a block with no memory) for work on `stream`; nullptr when
  // the device has no memory even after the cache was returned to it. A block freed on
  // `stream` whose work may still run is handed out at once; when `pending` is given, its
  // marker is then put there (the caller forgets it), so that work on another stream can
  // wait for it.
  Block* allocate(uint64_t bytes, void* stream, void** pending = nullptr);
  // The caller's last work on the block was enqueued on `stream` (work it did on other
  // streams must be ordered before that, e.g. by an event the stream waits for).
  void free(Block* block, void* stream);
  // Returns the cached blocks to the device, after their work has completed.
  void release_cached();

  struct Stats {
    uint64_t in_use = 0, cached = 0;              // bytes
    uint64_t device_allocations = 0, reuses = 0;  // counts since creation
    uint64_t releases = 0;                        // blocks returned to the device
  };
  Stats stats() const;

  // The size a request is rounded to: 512-byte steps below 1 MiB, 128 KiB steps above.
  static uint64_t round(uint64_t bytes);

 private:
  Block* take_cached(uint64_t size, void* stream, void** pending);
  void release_locked(Block* b);
  void trim_locked();

  Memory& memory_;
  const uint64_t limit_;
  mutable std::mutex m_;
  std::multimap<uint64_t, Block*> cached_;  // by size
  std::vector<Block*> order_;                // cached blocks, oldest first
  Stats stats_;
};

}  // namespace catena_cuda
