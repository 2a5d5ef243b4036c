// A test-only backend whose memory the host cannot address (libcatena-opaque.so).
//
// Buffers are opaque handles: buffer_data returns a non-canonical address that faults
// if anyone dereferences it, so a runtime that assumes host memory crashes the tests.
// Work runs asynchronously on one worker thread per stream; errors surface at the next
// synchronisation. It implements only a few ops (float32, contiguous) so that every
// test run also exercises op-by-op fallback to the CPU.
//
// Test hooks: the op "test.fault" fails asynchronously; CATENA_OPAQUE_MEMORY caps the
// bytes each device can hold (to exercise out-of-memory handling); CATENA_OPAQUE_BROKEN_MUL=1
// makes core.mul a kernel with a bug (its last element off by 0.1 %), which the conformance
// kit must catch.
#include <catena/abi.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

const ct_host* g_host = nullptr;
ct_status* error(ct_code code, const std::string& m) { return g_host->status_new(code, m.c_str()); }

constexpr uintptr_t kHandleTag = 0xdead000000000000ull;  // non-canonical: any dereference faults
constexpr int kDevices = 2;

}  // namespace

struct ct_buffer {
  uint64_t id;
  int32_t device;
  uint64_t size;
};

struct ct_stream {
  int32_t device;
  std::thread worker;
  std::mutex m;
  std::condition_variable cv, idle;
  std::deque<std::function<std::string()>> queue;  // a job returns "" or an error message
  uint64_t submitted = 0, completed = 0;
  std::string error;  // first asynchronous error since the last synchronisation
  bool stop = false;

  void run() {
    for (;;) {
      std::function<std::string()> job;
      {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return stop || !queue.empty(); });
        if (queue.empty()) return;
        job = std::move(queue.front());
        queue.pop_front();
      }
      std::string e = job();
      std::lock_guard<std::mutex> lock(m);
      if (!e.empty() && error.empty()) error = e;
      ++completed;
      idle.notify_all();
    }
  }
  void push(std::function<std::string()> job) {
    std::lock_guard<std::mutex> lock(m);
    queue.push_back(std::move(job));
    ++submitted;
    cv.notify_one();
  }
  void wait_for(uint64_t seq) {
    std::unique_lock<std::mutex> lock(m);
    idle.wait(lock, [&] { return completed >= seq; });
  }
};

struct ct_event {
  ct_stream* stream;
  uint64_t seq;
};

namespace {

struct Context {
  std::mutex m;
  uint64_t next_id = 1;
  std::map<uint64_t, std::vector<unsigned char>> memory;  // id -> bytes
  uint64_t used[kDevices] = {};
  uint64_t cap = 0;
  std::vector<ct_stream*> streams[kDevices];

  unsigned char* bytes(uint64_t id) {
    std::lock_guard<std::mutex> lock(m);
    auto it = memory.find(id);
    return it == memory.end() ? nullptr : it->second.data();
  }
};
Context* ctx(ct_backend_ctx* c) { return reinterpret_cast<Context*>(c); }

uint64_t handle_id(const void* data) { return reinterpret_cast<uintptr_t>(data) & ~kHandleTag; }

ct_status* op_init(ct_backend_ctx** out) {
  auto* c = new Context();
  if (const char* cap = std::getenv("CATENA_OPAQUE_MEMORY")) c->cap = std::strtoull(cap, nullptr, 10);
  *out = reinterpret_cast<ct_backend_ctx*>(c);
  return nullptr;
}

void op_shutdown(ct_backend_ctx* c) { delete ctx(c); }
int32_t op_device_count(ct_backend_ctx*) { return kDevices; }

ct_status* op_device_props(ct_backend_ctx* c, int32_t device, ct_device_props* p) {
  if (device < 0 || device >= kDevices) return error(CT_OUT_OF_RANGE, "no such opaque device");
  size_t size = p->struct_size;
  std::memset(p, 0, size);
  p->struct_size = size;
  p->kind = "opaque";
  p->name = "Catena opaque test device";
  p->vendor = "Catena tests";
  p->description = "memory the host cannot address; asynchronous; float32 fill/add/mul/copy only";
  p->dl_device_type = CT_DL_EXT_DEV;
  p->flags = CT_DEVICE_HAS_UUID;
  for (int i = 0; i < 16; ++i) p->uuid[i] = static_cast<uint8_t>(0xc0 + i + 16 * device);
  p->memory_total = ctx(c)->cap ? ctx(c)->cap : (uint64_t(1) << 30);
  p->compute_units = 1;
  return nullptr;
}

ct_status* op_buffer_alloc(ct_backend_ctx* cx, int32_t device, uint64_t size, uint64_t, ct_buffer** out) {
  *out = nullptr;
  Context* c = ctx(cx);
  std::lock_guard<std::mutex> lock(c->m);
  if (c->cap && c->used[device] + size > c->cap)
    return error(CT_RESOURCE_EXHAUSTED, "opaque:" + std::to_string(device) + " is out of memory (" +
                                            std::to_string(c->used[device]) + " of " + std::to_string(c->cap) +
                                            " bytes in use, " + std::to_string(size) + " requested)");
  uint64_t id = c->next_id++;
  c->memory[id].resize(size);
  c->used[device] += size;
  *out = new ct_buffer{id, device, size};
  return nullptr;
}

void release(Context* c, ct_buffer* b) {
  std::lock_guard<std::mutex> lock(c->m);
  c->memory.erase(b->id);
  c->used[b->device] -= b->size;
  delete b;
}

void op_buffer_free(ct_backend_ctx* cx, ct_buffer* b) {
  Context* c = ctx(cx);
  ct_stream* s = nullptr;
  {
    std::lock_guard<std::mutex> lock(c->m);
    if (!c->streams[b->device].empty()) s = c->streams[b->device][0];
  }
  if (!s) return release(c, b);
  // Deferred: the memory goes once the work already queued on the device has run.
  s->push([c, b] {
    release(c, b);
    return std::string();
  });
}

void* op_buffer_data(ct_backend_ctx*, ct_buffer* b) { return reinterpret_cast<void*>(kHandleTag | b->id); }

ct_status* op_stream_create(ct_backend_ctx* cx, int32_t device, ct_stream** out) {
  auto* s = new ct_stream();
  s->device = device;
  s->worker = std::thread([s] { s->run(); });
  std::lock_guard<std::mutex> lock(ctx(cx)->m);
  ctx(cx)->streams[device].push_back(s);
  *out = s;
  return nullptr;
}

void op_stream_destroy(ct_backend_ctx* cx, ct_stream* s) {
  {
    std::lock_guard<std::mutex> lock(s->m);
    s->stop = true;
    s->cv.notify_all();
  }
  s->worker.join();
  std::lock_guard<std::mutex> lock(ctx(cx)->m);
  auto& v = ctx(cx)->streams[s->device];
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == s) v.erase(v.begin() + static_cast<long>(i));
  delete s;
}

ct_status* op_stream_synchronize(ct_backend_ctx*, ct_stream* s) {
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(s->m);
    seq = s->submitted;
  }
  s->wait_for(seq);
  std::lock_guard<std::mutex> lock(s->m);
  if (s->error.empty()) return nullptr;
  std::string e;
  e.swap(s->error);
  return error(CT_INTERNAL, e);
}

ct_status* op_event_record(ct_backend_ctx*, ct_stream* s, ct_event** out) {
  std::lock_guard<std::mutex> lock(s->m);
  *out = new ct_event{s, s->submitted};
  return nullptr;
}

ct_status* op_event_wait(ct_backend_ctx*, ct_event* e) {
  e->stream->wait_for(e->seq);
  std::lock_guard<std::mutex> lock(e->stream->m);
  return e->stream->error.empty() ? nullptr : error(CT_INTERNAL, e->stream->error);
}

ct_status* op_stream_wait_event(ct_backend_ctx*, ct_stream* s, ct_event* e) {
  if (e->stream == s) return nullptr;  // same stream: already ordered
  ct_stream* other = e->stream;
  uint64_t seq = e->seq;
  s->push([other, seq] {
    other->wait_for(seq);
    return std::string();
  });
  return nullptr;
}

void op_event_destroy(ct_backend_ctx*, ct_event* e) { delete e; }

ct_status* op_copy_from_host(ct_backend_ctx* cx, ct_stream* s, const void* src, ct_buffer* dst, uint64_t off,
                             uint64_t size, int32_t semantics) {
  if (off + size > dst->size) return error(CT_OUT_OF_RANGE, "copy_from_host past the end of the buffer");
  Context* c = ctx(cx);
  uint64_t id = dst->id;
  if (semantics == CT_HOST_DURING_CALL) {
    std::vector<unsigned char> staged(static_cast<const unsigned char*>(src),
                                      static_cast<const unsigned char*>(src) + size);
    s->push([c, id, off, staged = std::move(staged)] {
      std::memcpy(c->bytes(id) + off, staged.data(), staged.size());
      return std::string();
    });
  } else {
    s->push([c, id, off, src, size] {
      std::memcpy(c->bytes(id) + off, src, size);
      return std::string();
    });
  }
  return nullptr;
}

ct_status* op_copy_to_host(ct_backend_ctx* cx, ct_stream* s, ct_buffer* src, uint64_t off, void* dst, uint64_t size) {
  if (off + size > src->size) return error(CT_OUT_OF_RANGE, "copy_to_host past the end of the buffer");
  Context* c = ctx(cx);
  uint64_t id = src->id;
  s->push([c, id, off, dst, size] {
    std::memcpy(dst, c->bytes(id) + off, size);
    return std::string();
  });
  return nullptr;
}

ct_status* op_copy_device(ct_backend_ctx* cx, ct_stream* s, ct_buffer* src, uint64_t so, ct_buffer* dst, uint64_t d0,
                          uint64_t size) {
  if (so + size > src->size || d0 + size > dst->size) return error(CT_OUT_OF_RANGE, "copy_device past a buffer's end");
  Context* c = ctx(cx);
  uint64_t a = src->id, b = dst->id;
  s->push([c, a, b, so, d0, size] {
    std::memmove(c->bytes(b) + d0, c->bytes(a) + so, size);
    return std::string();
  });
  return nullptr;
}

bool is_f32_contiguous(const ct_tensor* t) {
  if (t->dl.dtype.code != CT_DTYPE_FLOAT || t->dl.dtype.bits != 32 || t->dl.dtype.lanes != 1) return false;
  int64_t expect = 1;
  for (int i = t->dl.ndim - 1; i >= 0; --i) {
    if (t->dl.shape[i] != 1 && t->dl.strides[i] != expect) return false;
    expect *= t->dl.shape[i];
  }
  return true;
}

int64_t count(const ct_tensor* t) {
  int64_t n = 1;
  for (int i = 0; i < t->dl.ndim; ++i) n *= t->dl.shape[i];
  return n;
}

int32_t op_supports(ct_backend_ctx*, int32_t, const ct_op* op, const char** reason) {
  std::string name = op->name;
  auto no = [&](const char* why) {
    if (reason) *reason = why;
    return static_cast<int32_t>(CT_UNSUPPORTED);
  };
  if (name == "test.fault") return CT_SUPPORTED;
  bool binary = name == "core.add" || name == "core.mul";
  if (name != "core.fill" && name != "core.copy" && !binary) return no("the opaque test device has no such kernel");
  if (op->version != 1) return no("unknown op version");
  for (int i = 0; i < op->num_inputs; ++i)
    if (!is_f32_contiguous(op->inputs[i]) || count(op->inputs[i]) != count(op->outputs[0]))
      return no("only contiguous float32 operands of the output's size");
  if (op->num_outputs != 1 || !is_f32_contiguous(op->outputs[0])) return no("only one contiguous float32 output");
  if (binary && op->num_inputs != 2) return no("needs two inputs");
  if (name == "core.copy" && op->num_inputs != 1) return no("needs one input");
  return CT_SUPPORTED;
}

struct Ref {
  uint64_t id;
  uint64_t byte_offset;
};
Ref ref(const ct_tensor* t) { return {handle_id(t->dl.data), t->dl.byte_offset}; }

ct_status* op_launch(ct_backend_ctx* cx, ct_stream* s, const ct_op* op) {
  Context* c = ctx(cx);
  std::string name = op->name;
  if (name == "test.fault") {
    s->push([] { return std::string("device fault injected by test.fault"); });
    return nullptr;
  }
  Ref y = ref(op->outputs[0]);
  int64_t n = count(op->outputs[0]);
  if (name == "core.fill") {
    float v = 0;
    for (int i = 0; i < op->num_attrs; ++i)
      if (std::strcmp(op->attrs[i].name, "value") == 0) v = static_cast<float>(op->attrs[i].v.f);
    s->push([c, y, n, v] {
      float* out = reinterpret_cast<float*>(c->bytes(y.id) + y.byte_offset);
      for (int64_t i = 0; i < n; ++i) out[i] = v;
      return std::string();
    });
    return nullptr;
  }
  Ref a = ref(op->inputs[0]);
  if (name == "core.copy") {
    s->push([c, a, y, n] {
      std::memmove(c->bytes(y.id) + y.byte_offset, c->bytes(a.id) + a.byte_offset, sizeof(float) * n);
      return std::string();
    });
    return nullptr;
  }
  Ref b = ref(op->inputs[1]);
  bool add = name == "core.add";
  const char* broken = std::getenv("CATENA_OPAQUE_BROKEN_MUL");
  const bool bug = !add && broken && std::strcmp(broken, "1") == 0;
  s->push([c, a, b, y, n, add, bug] {
    const float* pa = reinterpret_cast<const float*>(c->bytes(a.id) + a.byte_offset);
    const float* pb = reinterpret_cast<const float*>(c->bytes(b.id) + b.byte_offset);
    float* py = reinterpret_cast<float*>(c->bytes(y.id) + y.byte_offset);
    for (int64_t i = 0; i < n; ++i) py[i] = add ? pa[i] + pb[i] : pa[i] * pb[i];
    if (bug && n > 0) py[n - 1] *= 1.001f;
    return std::string();
  });
  return nullptr;
}

const ct_backend k_backend = {
    /* .struct_size          = */ sizeof(ct_backend),
    /* .init                 = */ op_init,
    /* .shutdown             = */ op_shutdown,
    /* .device_count         = */ op_device_count,
    /* .device_props         = */ op_device_props,
    /* .buffer_alloc         = */ op_buffer_alloc,
    /* .buffer_free          = */ op_buffer_free,
    /* .buffer_data          = */ op_buffer_data,
    /* .buffer_wrap          = */ nullptr,
    /* .stream_create        = */ op_stream_create,
    /* .stream_destroy       = */ op_stream_destroy,
    /* .stream_synchronize   = */ op_stream_synchronize,
    /* .event_record         = */ op_event_record,
    /* .event_wait           = */ op_event_wait,
    /* .stream_wait_event    = */ op_stream_wait_event,
    /* .event_destroy        = */ op_event_destroy,
    /* .copy_from_host       = */ op_copy_from_host,
    /* .copy_to_host         = */ op_copy_to_host,
    /* .copy_device          = */ op_copy_device,
    /* .supports_op          = */ op_supports,
    /* .launch               = */ op_launch,
    /* .stream_native_handle = */ nullptr,
};

const ct_plugin k_plugin = {
    /* .struct_size    = */ sizeof(ct_plugin),
    /* .abi_major      = */ CT_ABI_MAJOR,
    /* .abi_minor      = */ CT_ABI_MINOR,
    /* .min_host_minor = */ 0,
    /* .kind           = */ CT_PLUGIN_BACKEND,
    /* .name           = */ "opaque",
    /* .version        = */ "test",
    /* .backend        = */ &k_backend,
    /* .functions      = */ nullptr,
};

}  // namespace

CT_EXPORT const ct_plugin* ct_plugin_entry(const ct_host* host) {
  if (host && host->abi_major == CT_ABI_MAJOR) g_host = host;
  return &k_plugin;
}
