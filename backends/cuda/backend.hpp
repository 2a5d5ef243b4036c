// The CUDA backend's state, shared by its files: the context (devices, their allocators),
// buffers, streams and events as the ABI's opaque types, and the helpers that turn CUDA
// errors into ct_status.
#pragma once

#include "allocator.hpp"

#include <catena/abi.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace catena_cuda {

extern const ct_host* g_host;

ct_status* error(ct_code code, const std::string& message);
// A CUDA error as a status: out of memory is CT_RESOURCE_EXHAUSTED, the rest CT_INTERNAL.
ct_status* cuda_error(cudaError_t e, const std::string& what);
ct_status* cublas_error(cublasStatus_t s, const std::string& what);

// Device memory and events of one device, for its caching allocator.
class DeviceMemory : public Memory {
 public:
  explicit DeviceMemory(int device) : device_(device) {}
  void* allocate(uint64_t bytes) override;
  void release(void* p) override;
  void* mark(void* stream) override;  // stream: a ct_stream*, or nullptr (the legacy stream)
  bool done(void* marker) override;
  void wait(void* marker) override;
  void forget(void* marker) override;

 private:
  int device_;
};

struct Device {
  int ordinal = 0;  // the CUDA device number
  std::string name, pci, description;
  uint8_t uuid[16] = {};
  uint64_t memory = 0;
  int sms = 0, major = 0, minor = 0;
  std::unique_ptr<DeviceMemory> memory_source;
  std::unique_ptr<CachingAllocator> allocator;
  // The stream new buffers are expected on: the one work was last enqueued on (cached
  // blocks freed there are reused at once; another stream first waits for their work).
  std::atomic<ct_stream*> home{nullptr};
};

// Foreign memory (buffer_wrap) whose release waits for the work enqueued on it.
struct PendingRelease {
  cudaEvent_t done;
  void (*on_release)(void*);
  void* user_data;
};

struct Context {
  std::vector<std::unique_ptr<Device>> devices;
  bool tf32 = false;  // CATENA_CUDA_TF32=1
  std::mutex m;       // streams, pending
  std::vector<ct_stream*> streams;  // live ones
  std::vector<PendingRelease> pending;
};
Context* context_of(ct_backend_ctx* c);

// Calls on_release for wrapped buffers whose work has completed (all of them, waiting,
// with `all`).
void sweep_releases(Context* c, bool all);

}  // namespace catena_cuda

struct ct_buffer {
  int32_t device = 0;
  uint64_t size = 0;
  void* ptr = nullptr;                           // device address
  catena_cuda::Block* block = nullptr;           // from the allocator; null when wrapped
  void (*on_release)(void*) = nullptr;           // wrapped memory
  void* user_data = nullptr;
  std::mutex m;                                  // users: streams may run concurrently
  std::vector<ct_stream*> users;                 // streams work on it was enqueued on
  ct_stream* home = nullptr;                     // the stream it was allocated for
  cudaEvent_t previous = nullptr;                // the end of the block's earlier work on `home`
};

struct ct_stream {
  int32_t device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;  // made at the first GEMM
  // The op names enqueued since the last synchronisation (the last few), for errors that
  // surface later; and the first error found.
  std::vector<std::string> recent;
  std::string error;
  // Pinned staging for small host-to-device copies: a ring, each slot free again once the
  // copy from it has run (its event).
  char* staging = nullptr;
  uint64_t staging_at = 0;
  std::vector<std::pair<uint64_t, cudaEvent_t>> staging_busy;  // slot start, its copy's end
  // A device int that core.take / take_add set on an index out of range (made at their
  // first use, read and cleared at synchronisation), and the op that last used it.
  int* flag = nullptr;
  const char* flag_op = nullptr;
};

struct ct_event {
  ct_stream* stream = nullptr;
  cudaEvent_t event = nullptr;
};

namespace catena_cuda {

// `s` enqueues work on `b`: remembered for the free that comes later, and ordered after
// the block's earlier work when `s` is not the stream it was allocated for.
void note_use(ct_stream* s, ct_buffer* b);
// Remember an op name for errors found at the next synchronisation.
void note_op(ct_stream* s, const char* name);

// The backend's table entries for memory, streams, events and copies (memory.cpp).
ct_status* buffer_alloc(ct_backend_ctx* cx, int32_t device, uint64_t size, uint64_t alignment, ct_buffer** out);
void buffer_free(ct_backend_ctx* cx, ct_buffer* b);
void* buffer_data(ct_backend_ctx* cx, ct_buffer* b);
ct_status* buffer_wrap(ct_backend_ctx* cx, int32_t device, void* foreign, uint64_t size, void (*on_release)(void*),
                       void* user_data, ct_buffer** out);
ct_status* stream_create(ct_backend_ctx* cx, int32_t device, ct_stream** out);
void stream_destroy(ct_backend_ctx* cx, ct_stream* s);
ct_status* stream_synchronize(ct_backend_ctx* cx, ct_stream* s);
ct_status* event_record(ct_backend_ctx* cx, ct_stream* s, ct_event** out);
ct_status* event_wait(ct_backend_ctx* cx, ct_event* e);
ct_status* stream_wait_event(ct_backend_ctx* cx, ct_stream* s, ct_event* e);
void event_destroy(ct_backend_ctx* cx, ct_event* e);
ct_status* copy_from_host(ct_backend_ctx* cx, ct_stream* s, const void* src, ct_buffer* dst, uint64_t offset,
                          uint64_t size, int32_t semantics);
ct_status* copy_to_host(ct_backend_ctx* cx, ct_stream* s, ct_buffer* src, uint64_t offset, void* dst, uint64_t size);
ct_status* copy_device(ct_backend_ctx* cx, ct_stream* s, ct_buffer* src, uint64_t src_offset, ct_buffer* dst,
                       uint64_t dst_offset, uint64_t size);

// The ops (ops.cpp).
int32_t supports_op(Context* c, int32_t device, const ct_op* op, const char** reason);
ct_status* launch(Context* c, ct_stream* s, const ct_op* op);

}  // namespace catena_cuda
