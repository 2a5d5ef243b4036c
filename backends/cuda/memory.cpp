// Buffers (through each device's caching allocator, or wrapped foreign memory), streams,
// events and copies.
#include "backend.hpp"
#include "blas.hpp"

#include <algorithm>
#include <cstring>

namespace catena_cuda {

namespace {

// Small host-to-device copies go through a pinned ring of this size per stream; larger
// ones straight from the caller's memory (the driver stages pageable memory itself).
constexpr uint64_t kStaging = 4 << 20, kStagedCopy = 256 << 10;

struct DeviceScope {  // cudaSetDevice for the duration of a call
  explicit DeviceScope(int d) {
    cudaGetDevice(&saved);
    if (saved != d) cudaSetDevice(d);
    restore = saved != d;
  }
  ~DeviceScope() {
    if (restore) cudaSetDevice(saved);
  }
  int saved = 0;
  bool restore = false;
};

}  // namespace

void* DeviceMemory::allocate(uint64_t bytes) {
  DeviceScope scope(device_);
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it
    return nullptr;
  }
  return p;
}

void DeviceMemory::release(void* p) {
  DeviceScope scope(device_);
  cudaFree(p);
}

void* DeviceMemory::mark(void* stream) {
  DeviceScope scope(device_);
  cudaEvent_t e = nullptr;
  if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess) return nullptr;
  cudaEventRecord(e, stream ? static_cast<ct_stream*>(stream)->stream : nullptr);
  return e;
}

bool DeviceMemory::done(void* marker) {
  return !marker || cudaEventQuery(static_cast<cudaEvent_t>(marker)) != cudaErrorNotReady;
}

void DeviceMemory::wait(void* marker) {
  if (marker) cudaEventSynchronize(static_cast<cudaEvent_t>(marker));
}

void DeviceMemory::forget(void* marker) {
  if (marker) cudaEventDestroy(static_cast<cudaEvent_t>(marker));
}

void note_use(ct_stream* s, ct_buffer* b) {
  if (!b) return;
  {
    std::lock_guard<std::mutex> lock(b->m);
    if (std::find(b->users.begin(), b->users.end(), s) != b->users.end()) return;
    b->users.push_back(s);
  }
  if (b->previous && s != b->home) cudaStreamWaitEvent(s->stream, b->previous, 0);
}

void note_op(ct_stream* s, const char* name) {
  if (s->recent.size() >= 4) s->recent.erase(s->recent.begin());
  s->recent.emplace_back(name);
}

void sweep_releases(Context* c, bool all) {
  std::vector<PendingRelease> ready;
  {
    std::lock_guard<std::mutex> lock(c->m);
    auto keep = c->pending.begin();
    for (auto& p : c->pending) {
      if (all) cudaEventSynchronize(p.done);
      if (cudaEventQuery(p.done) != cudaErrorNotReady) ready.push_back(p);
      else *keep++ = p;
    }
    c->pending.erase(keep, c->pending.end());
  }
  for (auto& p : ready) {
    cudaEventDestroy(p.done);
    p.on_release(p.user_data);
  }
}

// The streams of `b` that are still alive, joined into the last one: the work on the
// others is made to precede the work enqueued after this point on it.
static ct_stream* join_users(Context* c, ct_buffer* b) {
  std::vector<ct_stream*> live;
  {
    std::lock_guard<std::mutex> buffer_lock(b->m);
    std::lock_guard<std::mutex> lock(c->m);
    for (ct_stream* s : b->users)
      if (std::find(c->streams.begin(), c->streams.end(), s) != c->streams.end()) live.push_back(s);
  }
  if (live.empty()) return nullptr;
  ct_stream* last = live.back();
  for (ct_stream* s : live) {
    if (s == last) continue;
    cudaEvent_t e = nullptr;
    if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess) continue;
    cudaEventRecord(e, s->stream);
    cudaStreamWaitEvent(last->stream, e, 0);
    cudaEventDestroy(e);  // released once the wait has passed
  }
  return last;
}

ct_status* buffer_alloc(ct_backend_ctx* cx, int32_t device, uint64_t size, uint64_t, ct_buffer** out) {
  Context* c = context_of(cx);
  *out = nullptr;
  if (device < 0 || device >= int32_t(c->devices.size())) return error(CT_OUT_OF_RANGE, "cuda: no such device");
  sweep_releases(c, false);
  // The allocator's blocks are at least 256-byte aligned (cudaMalloc's), which covers
  // every alignment the ABI asks for up to 256; larger ones are rounded into the size.
  Device& d = *c->devices[size_t(device)];
  ct_stream* home = d.home.load();
  void* previous = nullptr;
  Block* block = d.allocator->allocate(size, home, &previous);
  if (!block)
    return error(CT_RESOURCE_EXHAUSTED, "cuda: out of memory on " + d.name + " allocating " + std::to_string(size) +
                                            " bytes (after returning the cache to the device)");
  auto* b = new ct_buffer;
  b->device = device, b->size = size, b->block = block, b->ptr = block->ptr;
  b->home = home, b->previous = static_cast<cudaEvent_t>(previous);
  *out = b;
  return nullptr;
}

void buffer_free(ct_backend_ctx* cx, ct_buffer* b) {
  if (!b) return;
  Context* c = context_of(cx);
  ct_stream* last = join_users(c, b);
  if (b->previous) cudaEventDestroy(b->previous);
  if (b->block) {
    c->devices[size_t(b->device)]->allocator->free(b->block, last);
  } else if (b->on_release) {
    cudaEvent_t e = nullptr;
    if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) == cudaSuccess &&
        cudaEventRecord(e, last ? last->stream : nullptr) == cudaSuccess) {
      std::lock_guard<std::mutex> lock(c->m);
      c->pending.push_back({e, b->on_release, b->user_data});
    } else {
      if (e) cudaEventDestroy(e);
      cudaDeviceSynchronize();
      b->on_release(b->user_data);
    }
  }
  delete b;
  sweep_releases(c, false);
}

void* buffer_data(ct_backend_ctx*, ct_buffer* b) { return b->ptr; }

ct_status* buffer_wrap(ct_backend_ctx* cx, int32_t device, void* foreign, uint64_t size,
                            void (*on_release)(void*), void* user_data, ct_buffer** out) {
  Context* c = context_of(cx);
  *out = nullptr;
  if (device < 0 || device >= int32_t(c->devices.size())) return error(CT_OUT_OF_RANGE, "cuda: no such device");
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, foreign) != cudaSuccess || a.type != cudaMemoryTypeDevice ||
      a.device != c->devices[size_t(device)]->ordinal) {
    cudaGetLastError();
    return error(CT_INVALID_ARGUMENT, "cuda: buffer_wrap takes memory of this CUDA device (cudaMalloc'd or managed "
                                      "by a framework on it); this pointer is not");
  }
  auto* b = new ct_buffer;
  b->device = device, b->size = size, b->ptr = foreign, b->on_release = on_release, b->user_data = user_data;
  *out = b;
  return nullptr;
}

ct_status* stream_create(ct_backend_ctx* cx, int32_t device, ct_stream** out) {
  Context* c = context_of(cx);
  *out = nullptr;
  if (device < 0 || device >= int32_t(c->devices.size())) return error(CT_OUT_OF_RANGE, "cuda: no such device");
  const int ordinal = c->devices[size_t(device)]->ordinal;
  if (cudaError_t e = cudaSetDevice(ordinal)) return cuda_error(e, "cudaSetDevice");
  auto s = std::make_unique<ct_stream>();
  s->device = device;
  if (cudaError_t e = cudaStreamCreate(&s->stream)) return cuda_error(e, "cudaStreamCreate");
  if (cudaHostAlloc(reinterpret_cast<void**>(&s->staging), kStaging, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();
    s->staging = nullptr;  // no pinned memory: every copy goes straight
  }
  std::lock_guard<std::mutex> lock(c->m);
  c->streams.push_back(s.get());
  c->devices[size_t(device)]->home = s.get();
  *out = s.release();
  return nullptr;
}

void stream_destroy(ct_backend_ctx* cx, ct_stream* s) {
  if (!s) return;
  Context* c = context_of(cx);
  {
    std::lock_guard<std::mutex> lock(c->m);
    c->streams.erase(std::remove(c->streams.begin(), c->streams.end(), s), c->streams.end());
    ct_stream* expected = s;
    c->devices[size_t(s->device)]->home.compare_exchange_strong(expected, nullptr);
  }
  cudaStreamSynchronize(s->stream);
  for (auto& [at, e] : s->staging_busy) cudaEventDestroy(e);
  if (s->staging) cudaFreeHost(s->staging);
  if (s->flag) cudaFree(s->flag);
  if (s->blas) blas().destroy(s->blas);
  cudaStreamDestroy(s->stream);
  delete s;
}

// The stream's first error since the last synchronisation, naming the ops enqueued since.
static ct_status* stream_status(ct_stream* s, cudaError_t e) {
  if (e != cudaSuccess && s->error.empty()) {
    std::string ops;
    for (const std::string& n : s->recent) ops += (ops.empty() ? "" : ", ") + n;
    s->error = std::string("cuda: ") + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ") in work enqueued " +
               (ops.empty() ? "on the stream" : "by the last ops: " + ops);
  }
  if (s->error.empty()) return nullptr;
  const std::string m = s->error;
  return error(CT_INTERNAL, m);
}

ct_status* stream_synchronize(ct_backend_ctx* cx, ct_stream* s) {
  const cudaError_t e = cudaStreamSynchronize(s->stream);
  if (e == cudaSuccess && s->flag_op) {
    int bad = 0;
    cudaMemcpy(&bad, s->flag, sizeof bad, cudaMemcpyDeviceToHost);
    if (bad) {
      cudaMemset(s->flag, 0, sizeof bad);
      if (s->error.empty())
        s->error = std::string(s->flag_op) + ": an index is out of range for its axis (cuda device)";
    }
    s->flag_op = nullptr;
  }
  ct_status* st = stream_status(s, e);
  s->error.clear();
  s->recent.clear();
  sweep_releases(context_of(cx), false);
  return st;
}

ct_status* event_record(ct_backend_ctx*, ct_stream* s, ct_event** out) {
  *out = nullptr;
  auto e = std::make_unique<ct_event>();
  e->stream = s;
  if (cudaError_t r = cudaEventCreateWithFlags(&e->event, cudaEventDisableTiming)) return cuda_error(r, "cudaEventCreate");
  if (cudaError_t r = cudaEventRecord(e->event, s->stream)) {
    cudaEventDestroy(e->event);
    return cuda_error(r, "cudaEventRecord");
  }
  *out = e.release();
  return nullptr;
}

ct_status* event_wait(ct_backend_ctx*, ct_event* e) {
  const cudaError_t r = cudaEventSynchronize(e->event);
  if (r == cudaSuccess && e->stream->error.empty()) return nullptr;
  return stream_status(e->stream, r);  // the error stays on the stream for its synchronisation
}

ct_status* stream_wait_event(ct_backend_ctx*, ct_stream* s, ct_event* e) {
  if (cudaError_t r = cudaStreamWaitEvent(s->stream, e->event, 0)) return cuda_error(r, "cudaStreamWaitEvent");
  return nullptr;
}

void event_destroy(ct_backend_ctx*, ct_event* e) {
  if (!e) return;
  cudaEventDestroy(e->event);
  delete e;
}

// A slot of `size` bytes in the stream's pinned ring, free of earlier copies; nullptr when
// the stream has no ring or the copy is too large for one.
static char* staging_slot(ct_stream* s, uint64_t size) {
  if (!s->staging || size > kStagedCopy) return nullptr;
  if (s->staging_at + size > kStaging) s->staging_at = 0;
  const uint64_t from = s->staging_at, to = from + size;
  auto keep = s->staging_busy.begin();
  for (auto& [at, e] : s->staging_busy) {
    const bool overlaps = at < to && at + kStagedCopy > from;
    if (overlaps) cudaEventSynchronize(e);
    if (overlaps || cudaEventQuery(e) == cudaSuccess) cudaEventDestroy(e);
    else *keep++ = {at, e};
  }
  s->staging_busy.erase(keep, s->staging_busy.end());
  s->staging_at = to;
  return s->staging + from;
}

ct_status* copy_from_host(ct_backend_ctx*, ct_stream* s, const void* src, ct_buffer* dst, uint64_t offset,
                               uint64_t size, int32_t) {
  if (size == 0) return nullptr;
  note_use(s, dst);
  char* dptr = static_cast<char*>(dst->ptr) + offset;
  if (char* slot = staging_slot(s, size)) {
    std::memcpy(slot, src, size);
    if (cudaError_t e = cudaMemcpyAsync(dptr, slot, size, cudaMemcpyHostToDevice, s->stream))
      return cuda_error(e, "copy to the device");
    cudaEvent_t done = nullptr;
    if (cudaEventCreateWithFlags(&done, cudaEventDisableTiming) == cudaSuccess) {
      cudaEventRecord(done, s->stream);
      s->staging_busy.push_back({uint64_t(slot - s->staging), done});
    } else {
      cudaStreamSynchronize(s->stream);
    }
    return nullptr;
  }
  // From pageable memory the driver has read the source by the time the call returns.
  if (cudaError_t e = cudaMemcpyAsync(dptr, src, size, cudaMemcpyHostToDevice, s->stream))
    return cuda_error(e, "copy to the device");
  return nullptr;
}

ct_status* copy_to_host(ct_backend_ctx*, ct_stream* s, ct_buffer* src, uint64_t offset, void* dst,
                             uint64_t size) {
  if (size == 0) return nullptr;
  note_use(s, src);
  if (cudaError_t e = cudaMemcpyAsync(dst, static_cast<char*>(src->ptr) + offset, size, cudaMemcpyDeviceToHost,
                                      s->stream))
    return cuda_error(e, "copy to the host");
  return nullptr;
}

ct_status* copy_device(ct_backend_ctx*, ct_stream* s, ct_buffer* src, uint64_t src_offset, ct_buffer* dst,
                            uint64_t dst_offset, uint64_t size) {
  if (size == 0) return nullptr;
  note_use(s, src);
  note_use(s, dst);
  if (cudaError_t e = cudaMemcpyAsync(static_cast<char*>(dst->ptr) + dst_offset,
                                      static_cast<char*>(src->ptr) + src_offset, size, cudaMemcpyDeviceToDevice,
                                      s->stream))
    return cuda_error(e, "copy on the device");
  return nullptr;
}

}  // namespace catena_cuda
