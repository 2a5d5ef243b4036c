// The CPU backend (libcatena-cpu.so): the reference backend. It implements every core op
// of api/OPS.md, on host memory, synchronously, with its own thread pool and OpenBLAS
// for GEMM. The runtime falls back to it whenever another device lacks an op.
#include "kernels.hpp"
#include "openblas.hpp"
#include "threadpool.hpp"

#include <catena/abi.h>

#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

struct ct_buffer {
  void* data;
  uint64_t size;
  void (*on_release)(void*);  // set for wrapped memory
  void* user_data;
};
struct ct_stream {
  int32_t device;
};
struct ct_event {
  int32_t unused;
};

namespace catena_cpu {

namespace {

const ct_host* g_host = nullptr;

ct_status* error(ct_code code, const std::string& message) { return g_host->status_new(code, message.c_str()); }

std::string cpuinfo_field(const char* key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, std::strlen(key), key) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        size_t start = line.find_first_not_of(' ', colon + 1);
        return start == std::string::npos ? "" : line.substr(start);
      }
    }
  }
  return "";
}

struct Context {
  std::string name, vendor, description;
  std::vector<KernelDef> kernels;
  std::unordered_map<std::string, const KernelDef*> by_name;
  // Names arrive interned, so kernels are cached by the name's address in a small
  // open-addressing table read without a lock (entries are written once, under one).
  static constexpr size_t kSlots = 1024;
  std::atomic<const char*> slot_name[kSlots] = {};
  std::atomic<const KernelDef*> slot_kernel[kSlots] = {};
  std::mutex insert_mutex;

  const KernelDef* find(const char* name) {
    size_t h = (reinterpret_cast<uintptr_t>(name) >> 4) * 0x9E3779B97F4A7C15ull >> 54;  // 10 bits
    for (size_t probe = 0; probe < kSlots; ++probe) {
      size_t i = (h + probe) & (kSlots - 1);
      const char* n = slot_name[i].load(std::memory_order_acquire);
      if (n == name) return slot_kernel[i].load(std::memory_order_relaxed);
      if (!n) break;
    }
    auto it = by_name.find(name);
    const KernelDef* k = it == by_name.end() ? nullptr : it->second;
    std::lock_guard<std::mutex> lock(insert_mutex);
    for (size_t probe = 0; probe < kSlots; ++probe) {
      size_t i = (h + probe) & (kSlots - 1);
      const char* n = slot_name[i].load(std::memory_order_relaxed);
      if (n == name) break;
      if (!n) {
        slot_kernel[i].store(k, std::memory_order_relaxed);
        slot_name[i].store(name, std::memory_order_release);
        break;
      }
    }
    return k;
  }
};

Context* ctx_of(ct_backend_ctx* c) { return reinterpret_cast<Context*>(c); }

ct_status* cpu_init(ct_backend_ctx** out) {
  *out = nullptr;
  try {
    auto* c = new Context();
    add_elementwise_kernels(c->kernels);
    add_reduce_kernels(c->kernels);
    add_gemm_kernels(c->kernels);
    add_indexing_kernels(c->kernels);
    add_random_kernels(c->kernels);
    add_conv_kernels(c->kernels);
    add_pool_kernels(c->kernels);
    add_optim_kernels(c->kernels);
    add_int8_kernels(c->kernels);
    for (const KernelDef& k : c->kernels) c->by_name[k.name] = &k;
    c->name = cpuinfo_field("model name");
    if (c->name.empty()) c->name = "CPU";
    c->vendor = cpuinfo_field("vendor_id");
    const Blas& b = blas();
    std::string blas_line;
    if (b.loaded) {
      blas_line = "OpenBLAS kernel " + (b.corename.empty() ? std::string("?") : b.corename) + " (" + b.selection + ")";
    } else {
      blas_line = b.error;
    }
    c->description = blas_line + "; " + int8_kernel_description() + "; " + std::to_string(num_threads()) + " threads";
    *out = reinterpret_cast<ct_backend_ctx*>(c);
    return nullptr;
  } catch (const std::exception& e) {
    return error(CT_INTERNAL, std::string("cpu backend init: ") + e.what());
  }
}

int32_t cpu_device_count(ct_backend_ctx*) { return 1; }

ct_status* cpu_device_props(ct_backend_ctx* cx, int32_t device, ct_device_props* p) {
  if (device != 0) return error(CT_OUT_OF_RANGE, "the cpu backend has one device (0)");
  Context* c = ctx_of(cx);
  size_t size = p->struct_size;
  std::memset(p, 0, size);
  p->struct_size = size;
  p->kind = "cpu";
  p->name = c->name.c_str();
  p->vendor = c->vendor.c_str();
  p->description = c->description.c_str();
  p->dl_device_type = CT_DL_CPU;
  p->flags = CT_DEVICE_HOST_ADDRESSABLE | CT_DEVICE_SYNCHRONOUS;
  long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  p->memory_total = pages > 0 ? uint64_t(pages) * uint64_t(page) : 0;
  p->memory_free = avail > 0 ? uint64_t(avail) * uint64_t(page) : 0;
  p->compute_units = num_threads();
  return nullptr;
}

// Buffers from this size on are placed on 2 MiB boundaries and asked to be backed by huge
// pages: the first touch of a large array (loading a model, a layer's first activations)
// then takes one page fault per 2 MiB instead of one per 4 KiB, which is most of the cost
// of filling fresh memory (a 614 MB model loads in half the time).
constexpr uint64_t kHugePageFrom = uint64_t(4) << 20;
constexpr uint64_t kHugePage = uint64_t(2) << 20;

ct_status* cpu_buffer_alloc(ct_backend_ctx*, int32_t device, uint64_t size, uint64_t alignment, ct_buffer** out) {
  *out = nullptr;
  if (device != 0) return error(CT_OUT_OF_RANGE, "the cpu backend has one device (0)");
  if (alignment < 64) alignment = 64;
  if (alignment & (alignment - 1)) return error(CT_INVALID_ARGUMENT, "alignment must be a power of two");
  const bool huge = size >= kHugePageFrom;
  if (huge) alignment = std::max(alignment, kHugePage);
  uint64_t rounded = (size + alignment - 1) / alignment * alignment;
  void* data = nullptr;
  if (rounded) {
    data = std::aligned_alloc(alignment, rounded);
    if (!data)
      return error(CT_RESOURCE_EXHAUSTED, "out of host memory allocating " + std::to_string(size) + " bytes");
    if (huge) ::madvise(data, rounded, MADV_HUGEPAGE);  // advice only: without it, 4 KiB pages
  }
  *out = new (std::nothrow) ct_buffer{data, size, nullptr, nullptr};
  if (!*out) {
    std::free(data);
    return error(CT_RESOURCE_EXHAUSTED, "out of host memory");
  }
  return nullptr;
}

void cpu_buffer_free(ct_backend_ctx*, ct_buffer* b) {
  if (!b) return;
  if (b->on_release) b->on_release(b->user_data);
  else std::free(b->data);
  delete b;
}

void* cpu_buffer_data(ct_backend_ctx*, ct_buffer* b) { return b->data; }

ct_status* cpu_buffer_wrap(ct_backend_ctx*, int32_t device, void* foreign, uint64_t size, void (*on_release)(void*),
                           void* user_data, ct_buffer** out) {
  *out = nullptr;
  if (device != 0) return error(CT_OUT_OF_RANGE, "the cpu backend has one device (0)");
  if (!on_release) return error(CT_INVALID_ARGUMENT, "buffer_wrap needs an on_release callback");
  *out = new ct_buffer{foreign, size, on_release, user_data};
  return nullptr;
}

ct_status* cpu_stream_create(ct_backend_ctx*, int32_t device, ct_stream** out) {
  *out = new ct_stream{device};
  return nullptr;
}
void cpu_stream_destroy(ct_backend_ctx*, ct_stream* s) { delete s; }
// Everything runs inline, so there is never pending work or a pending error.
ct_status* cpu_stream_synchronize(ct_backend_ctx*, ct_stream*) { return nullptr; }
ct_status* cpu_event_record(ct_backend_ctx*, ct_stream*, ct_event** out) {
  *out = new ct_event{0};
  return nullptr;
}
ct_status* cpu_event_wait(ct_backend_ctx*, ct_event*) { return nullptr; }
ct_status* cpu_stream_wait_event(ct_backend_ctx*, ct_stream*, ct_event*) { return nullptr; }
void cpu_event_destroy(ct_backend_ctx*, ct_event* e) { delete e; }

ct_status* range_error(const char* what, uint64_t offset, uint64_t size, uint64_t capacity) {
  return error(CT_OUT_OF_RANGE, std::string(what) + ": bytes [" + std::to_string(offset) + ", " +
                                    std::to_string(offset + size) + ") exceed the buffer's " + std::to_string(capacity));
}

ct_status* cpu_copy_from_host(ct_backend_ctx*, ct_stream*, const void* src, ct_buffer* dst, uint64_t off, uint64_t size,
                              int32_t) {
  if (off + size > dst->size) return range_error("copy_from_host", off, size, dst->size);
  if (size) std::memcpy(static_cast<char*>(dst->data) + off, src, size);
  return nullptr;
}

ct_status* cpu_copy_to_host(ct_backend_ctx*, ct_stream*, ct_buffer* src, uint64_t off, void* dst, uint64_t size) {
  if (off + size > src->size) return range_error("copy_to_host", off, size, src->size);
  if (size) std::memcpy(dst, static_cast<const char*>(src->data) + off, size);
  return nullptr;
}

ct_status* cpu_copy_device(ct_backend_ctx*, ct_stream*, ct_buffer* src, uint64_t so, ct_buffer* dst, uint64_t d0,
                           uint64_t size) {
  if (so + size > src->size) return range_error("copy_device (source)", so, size, src->size);
  if (d0 + size > dst->size) return range_error("copy_device (destination)", d0, size, dst->size);
  if (size) std::memcpy(static_cast<char*>(dst->data) + d0, static_cast<const char*>(src->data) + so, size);
  return nullptr;
}

int32_t cpu_supports_op(ct_backend_ctx* cx, int32_t, const ct_op* op, const char** reason) {
  const KernelDef* k = ctx_of(cx)->find(op->name);
  const char* why = nullptr;
  if (!k) why = "the cpu backend has no kernel of this name";
  else if (op->version != k->version) why = "the cpu backend implements another version of this op";
  else why = k->support(*op);
  if (why) {
    if (reason) *reason = why;
    return CT_UNSUPPORTED;
  }
  return CT_SUPPORTED;
}

// launch trusts the host's half of the contract: it is called only for ops supports_op
// accepted, with operands of the shapes the catalogue gives (the runtime allocates them).
// Set CATENA_CPU_CHECK=1 to check every launch again anyway (for hosts under development).
ct_status* cpu_launch(ct_backend_ctx* cx, ct_stream*, const ct_op* op) {
  static const bool check_each = [] {
    const char* v = std::getenv("CATENA_CPU_CHECK");
    return v && *v && *v != '0';
  }();
  const KernelDef* k = ctx_of(cx)->find(op->name);
  if (!k) return error(CT_UNIMPLEMENTED, std::string("no cpu kernel for ") + op->name);
  if (check_each)
    if (const char* why = k->support(*op)) return error(CT_INVALID_ARGUMENT, std::string(op->name) + ": " + why);
  try {
    DenormalScope ftz;
    k->run(*op);
    return nullptr;
  } catch (const KernelError& e) {
    return error(e.code, e.message);
  } catch (const std::bad_alloc&) {
    return error(CT_RESOURCE_EXHAUSTED, std::string(op->name) + ": out of host memory");
  } catch (const std::exception& e) {
    return error(CT_INTERNAL, std::string(op->name) + ": " + e.what());
  }
}

const ct_backend k_backend = {
    /* .struct_size          = */ sizeof(ct_backend),
    /* .init                 = */ cpu_init,
    /* .shutdown             = */ nullptr,
    /* .device_count         = */ cpu_device_count,
    /* .device_props         = */ cpu_device_props,
    /* .buffer_alloc         = */ cpu_buffer_alloc,
    /* .buffer_free          = */ cpu_buffer_free,
    /* .buffer_data          = */ cpu_buffer_data,
    /* .buffer_wrap          = */ cpu_buffer_wrap,
    /* .stream_create        = */ cpu_stream_create,
    /* .stream_destroy       = */ cpu_stream_destroy,
    /* .stream_synchronize   = */ cpu_stream_synchronize,
    /* .event_record         = */ cpu_event_record,
    /* .event_wait           = */ cpu_event_wait,
    /* .stream_wait_event    = */ cpu_stream_wait_event,
    /* .event_destroy        = */ cpu_event_destroy,
    /* .copy_from_host       = */ cpu_copy_from_host,
    /* .copy_to_host         = */ cpu_copy_to_host,
    /* .copy_device          = */ cpu_copy_device,
    /* .supports_op          = */ cpu_supports_op,
    /* .launch               = */ cpu_launch,
    /* .stream_native_handle = */ nullptr,
};

const ct_plugin k_plugin = {
    /* .struct_size    = */ sizeof(ct_plugin),
    /* .abi_major      = */ CT_ABI_MAJOR,
    /* .abi_minor      = */ CT_ABI_MINOR,
    /* .min_host_minor = */ 0,
    /* .kind           = */ CT_PLUGIN_BACKEND,
    /* .name           = */ "cpu",
    /* .version        = */ CATENA_VERSION,
    /* .backend        = */ &k_backend,
    /* .functions      = */ nullptr,
};

}  // namespace

}  // namespace catena_cpu

CT_EXPORT const ct_plugin* ct_plugin_entry(const ct_host* host) {
  // The host checks our ABI version against its own before it calls anything else, so
  // the table is returned even to a host of another major; its services are kept only
  // when their layout is the one we were built with.
  if (host && host->abi_major == CT_ABI_MAJOR) catena_cpu::g_host = host;
  return &catena_cpu::k_plugin;
}
