// The OpenCL backend (libcatena-opencl.so): every device of every OpenCL platform is
// opencl:N. Buffers are cl_mem (the host never addresses them), in-order command queues
// are streams, cl_events are events; errors a kernel meets surface at the next
// synchronisation, naming the op. Kernels are OpenCL C generated per (op, dtypes),
// compiled once per device and cached on disk by device, driver and source.
//
// Ops so far: fill, copy (any dtype conversion), the elementwise unary and binary ops,
// comparisons, where, sum/mean/max/min, gemm; any strides. float16/bfloat16 are declined
// (the runtime falls back to the CPU for them), float64 only where the device has
// cl_khr_fp64.
#include "kernels.hpp"

#include "../env_setting.hpp"

#include <catena/abi.h>
#include <catena/ct_sdk.h>

#include <CL/cl.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace catena_opencl;

namespace {

const ct_host* g_host = nullptr;
ct_status* error(ct_code code, const std::string& m) { return g_host->status_new(code, m.c_str()); }
ct_status* cl_error(cl_int rc, const std::string& what) {
  return error(rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES || rc == CL_OUT_OF_HOST_MEMORY
                   ? CT_RESOURCE_EXHAUSTED
                   : CT_INTERNAL,
               "opencl: " + what + " failed (OpenCL error " + std::to_string(rc) + ")");
}

std::string device_string(cl_device_id d, cl_device_info what) {
  size_t n = 0;
  if (clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  clGetDeviceInfo(d, what, n, &s[0], nullptr);
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string platform_string(cl_platform_id p, cl_platform_info what) {
  size_t n = 0;
  if (clGetPlatformInfo(p, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  clGetPlatformInfo(p, what, n, &s[0], nullptr);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// cl_khr_device_uuid and cl_khr_pci_bus_info, by value (older headers lack the names).
constexpr cl_device_info kDeviceUuid = 0x106A;
constexpr cl_device_info kPciBusInfo = 0x410F;
struct PciBusInfo {
  cl_uint domain, bus, device, function;
};

struct Device {
  cl_platform_id platform = nullptr;
  cl_device_id id = nullptr;
  cl_context context = nullptr;
  std::string name, vendor, description, driver, platform_name, pci;
  bool fp64 = false, has_uuid = false, is_cpu = false;
  uint8_t uuid[16] = {};
  uint64_t memory = 0;
  int32_t compute_units = 0;
  std::mutex m;  // kernels: compiling, and setting arguments until the enqueue
  std::map<uint64_t, cl_kernel> kernels;
};

struct Context {
  std::vector<std::unique_ptr<Device>> devices;
  std::string cache_dir;
};
Context* ctx(ct_backend_ctx* c) { return reinterpret_cast<Context*>(c); }

std::string default_cache_dir() {
  if (const char* v = std::getenv("CATENA_OPENCL_CACHE")) return v;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/catena/opencl";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/catena/opencl";
  return "";
}

void make_dirs(const std::string& dir) {
  for (size_t at = 1; at <= dir.size(); ++at)
    if (at == dir.size() || dir[at] == '/') ::mkdir(dir.substr(0, at).c_str(), 0755);
}

}  // namespace

struct ct_buffer {
  cl_mem mem;
  int32_t device;
  uint64_t size;
};

struct ct_stream {
  int32_t device;
  cl_command_queue queue;
  cl_mem flag = nullptr;   // set by kernels that find a bad index (core.take, take_add)
  bool flag_used = false;
  cl_mem scratch = nullptr;  // columns for the convolution; queue order makes reuse safe
  size_t scratch_size = 0;
  std::mutex m;
  std::vector<std::pair<cl_event, std::string>> pending;  // work since the last check, by op
  std::string error;                                       // the first failure found
};

struct ct_event {
  ct_stream* stream;
  cl_event event;
};

namespace {

// Looks at the work enqueued so far: remembers the first failed command; with `all`,
// waits for everything. Completed events are released.
void check_pending(ct_stream* s, bool all) {
  std::lock_guard<std::mutex> lock(s->m);
  if (all) clFinish(s->queue);
  if (all && s->flag_used) {
    cl_int bad = 0, zero = 0;
    clEnqueueReadBuffer(s->queue, s->flag, CL_TRUE, 0, sizeof bad, &bad, 0, nullptr, nullptr);
    if (bad) {
      if (s->error.empty())
        s->error = std::string(bad & 1 ? "core.take" : "core.take_add") +
                   ": an index is out of range for its axis (OpenCL device)";
      clEnqueueWriteBuffer(s->queue, s->flag, CL_TRUE, 0, sizeof zero, &zero, 0, nullptr, nullptr);
    }
  }
  size_t keep = 0;
  for (auto& [ev, op] : s->pending) {
    cl_int status = CL_COMPLETE;
    clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, nullptr);
    if (status < 0 && s->error.empty())
      s->error = "opencl: " + op + " failed on the device (OpenCL status " + std::to_string(status) + ")";
    if (status == CL_COMPLETE || status < 0) {
      clReleaseEvent(ev);
    } else {
      s->pending[keep++] = {ev, op};
    }
  }
  s->pending.resize(keep);
}

void track(ct_stream* s, cl_event ev, const std::string& op) {
  bool sweep;
  {
    std::lock_guard<std::mutex> lock(s->m);
    s->pending.push_back({ev, op});
    sweep = s->pending.size() >= 4096;
  }
  if (sweep) check_pending(s, false);
}

ct_status* be_init(ct_backend_ctx** out) {
  cl_uint np = 0;
  cl_int rc = clGetPlatformIDs(0, nullptr, &np);
  if (rc != CL_SUCCESS || np == 0)
    return error(CT_UNAVAILABLE, "no OpenCL platform found: install an OpenCL driver (Debian: pocl-opencl-icd "
                                 "for the CPU, or the GPU vendor's ICD), then check with clinfo");
  std::vector<cl_platform_id> platforms(np);
  clGetPlatformIDs(np, platforms.data(), nullptr);
  auto c = std::make_unique<Context>();
  c->cache_dir = default_cache_dir();
  for (cl_platform_id p : platforms) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS || nd == 0) continue;
    std::vector<cl_device_id> ids(nd);
    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, ids.data(), nullptr);
    for (cl_device_id id : ids) {
      auto d = std::make_unique<Device>();
      d->platform = p;
      d->id = id;
      cl_int e = CL_SUCCESS;
      d->context = clCreateContext(nullptr, 1, &id, nullptr, nullptr, &e);
      if (e != CL_SUCCESS) continue;
      d->name = device_string(id, CL_DEVICE_NAME);
      d->vendor = device_string(id, CL_DEVICE_VENDOR);
      d->driver = device_string(id, CL_DRIVER_VERSION);
      d->platform_name = platform_string(p, CL_PLATFORM_NAME);
      const std::string ext = device_string(id, CL_DEVICE_EXTENSIONS);
      d->fp64 = ext.find("cl_khr_fp64") != std::string::npos;
      cl_ulong mem = 0;
      clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, nullptr);
      d->memory = mem;
      cl_uint cu = 0;
      clGetDeviceInfo(id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, nullptr);
      d->compute_units = int32_t(cu);
      if (ext.find("cl_khr_device_uuid") != std::string::npos &&
          clGetDeviceInfo(id, kDeviceUuid, 16, d->uuid, nullptr) == CL_SUCCESS)
        d->has_uuid = true;
      PciBusInfo pci{};
      if (ext.find("cl_khr_pci_bus_info") != std::string::npos &&
          clGetDeviceInfo(id, kPciBusInfo, sizeof pci, &pci, nullptr) == CL_SUCCESS) {
        char b[32];
        std::snprintf(b, sizeof b, "%04x:%02x:%02x.%x", pci.domain, pci.bus, pci.device, pci.function);
        d->pci = b;
      }
      if (!d->has_uuid) {
        // No driver identity: a stable one from what the driver says about the device.
        uint64_t h1 = fnv1a(d->platform_name + "|" + d->vendor + "|" + d->name + "|" + d->pci);
        uint64_t h2 = fnv1a(std::to_string(c->devices.size()), h1);
        std::memcpy(d->uuid, &h1, 8);
        std::memcpy(d->uuid + 8, &h2, 8);
      }
      cl_device_type type = 0;
      clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof type, &type, nullptr);
      d->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
      const char* kind = type & CL_DEVICE_TYPE_GPU ? "GPU" : type & CL_DEVICE_TYPE_CPU ? "CPU"
                                                     : type & CL_DEVICE_TYPE_ACCELERATOR ? "accelerator" : "device";
      d->description = std::string(kind) + " on " + d->platform_name + " (" + device_string(id, CL_DEVICE_VERSION) +
                       ", driver " + d->driver + (d->fp64 ? ", fp64" : ", no fp64") + ")";
      c->devices.push_back(std::move(d));
    }
  }
  if (c->devices.empty())
    return error(CT_UNAVAILABLE, "OpenCL platforms were found but no usable device: check the driver with clinfo");
  *out = reinterpret_cast<ct_backend_ctx*>(c.release());
  return nullptr;
}

void be_shutdown(ct_backend_ctx* cx) {
  Context* c = ctx(cx);
  for (auto& d : c->devices) {
    for (auto& [h, k] : d->kernels) {
      cl_program p = nullptr;
      clGetKernelInfo(k, CL_KERNEL_PROGRAM, sizeof p, &p, nullptr);
      clReleaseKernel(k);
      if (p) clReleaseProgram(p);
    }
    clReleaseContext(d->context);
  }
  delete c;
}

int32_t be_device_count(ct_backend_ctx* c) { return int32_t(ctx(c)->devices.size()); }

ct_status* be_device_props(ct_backend_ctx* cx, int32_t device, ct_device_props* p) {
  Context* c = ctx(cx);
  if (device < 0 || size_t(device) >= c->devices.size()) return error(CT_OUT_OF_RANGE, "no such OpenCL device");
  Device& d = *c->devices[size_t(device)];
  size_t size = p->struct_size;
  std::memset(p, 0, size);
  p->struct_size = size;
  p->kind = "opencl";
  p->name = d.name.c_str();
  p->vendor = d.vendor.c_str();
  p->description = d.description.c_str();
  p->dl_device_type = CT_DL_OPENCL;
  p->flags = CT_DEVICE_HAS_UUID;
  std::memcpy(p->uuid, d.uuid, 16);
  p->pci_bus_id = d.pci.empty() ? nullptr : d.pci.c_str();
  p->memory_total = d.memory;
  p->compute_units = d.compute_units;
  return nullptr;
}

ct_status* be_buffer_alloc(ct_backend_ctx* cx, int32_t device, uint64_t size, uint64_t, ct_buffer** out) {
  *out = nullptr;
  Device& d = *ctx(cx)->devices[size_t(device)];
  cl_int rc = CL_SUCCESS;
  // OpenCL has no empty buffers: a zero-size one holds one byte nobody reads.
  cl_mem m = clCreateBuffer(d.context, CL_MEM_READ_WRITE, size ? size : 1, nullptr, &rc);
  if (rc != CL_SUCCESS)
    return error(CT_RESOURCE_EXHAUSTED, "opencl:" + std::to_string(device) + ": cannot allocate " +
                                            std::to_string(size) + " bytes (OpenCL error " + std::to_string(rc) + ")");
  *out = new ct_buffer{m, device, size};
  return nullptr;
}

// OpenCL keeps a released buffer until the commands using it have completed.
void be_buffer_free(ct_backend_ctx*, ct_buffer* b) {
  clReleaseMemObject(b->mem);
  delete b;
}

void* be_buffer_data(ct_backend_ctx*, ct_buffer* b) { return b->mem; }

ct_status* be_stream_create(ct_backend_ctx* cx, int32_t device, ct_stream** out) {
  Device& d = *ctx(cx)->devices[size_t(device)];
  cl_int rc = CL_SUCCESS;
  cl_command_queue q = clCreateCommandQueue(d.context, d.id, 0, &rc);
  if (rc != CL_SUCCESS) return cl_error(rc, "clCreateCommandQueue");
  auto* s = new ct_stream();
  s->device = device;
  s->queue = q;
  *out = s;
  return nullptr;
}

void be_stream_destroy(ct_backend_ctx*, ct_stream* s) {
  check_pending(s, true);
  if (s->flag) clReleaseMemObject(s->flag);
  if (s->scratch) clReleaseMemObject(s->scratch);
  clReleaseCommandQueue(s->queue);
  delete s;
}

ct_status* be_stream_synchronize(ct_backend_ctx*, ct_stream* s) {
  check_pending(s, true);
  std::lock_guard<std::mutex> lock(s->m);
  if (s->error.empty()) return nullptr;
  std::string e;
  e.swap(s->error);
  return error(CT_INTERNAL, e);
}

ct_status* be_event_record(ct_backend_ctx*, ct_stream* s, ct_event** out) {
  cl_event ev = nullptr;
  cl_int rc = clEnqueueMarkerWithWaitList(s->queue, 0, nullptr, &ev);
  if (rc != CL_SUCCESS) return cl_error(rc, "clEnqueueMarkerWithWaitList");
  *out = new ct_event{s, ev};
  return nullptr;
}

ct_status* be_event_wait(ct_backend_ctx*, ct_event* e) {
  clWaitForEvents(1, &e->event);
  check_pending(e->stream, false);
  std::lock_guard<std::mutex> lock(e->stream->m);
  return e->stream->error.empty() ? nullptr : error(CT_INTERNAL, e->stream->error);
}

ct_status* be_stream_wait_event(ct_backend_ctx* cx, ct_stream* s, ct_event* e) {
  if (e->stream == s) return nullptr;
  Context* c = ctx(cx);
  if (c->devices[size_t(s->device)]->context == c->devices[size_t(e->stream->device)]->context) {
    cl_int rc = clEnqueueBarrierWithWaitList(s->queue, 1, &e->event, nullptr);
    return rc == CL_SUCCESS ? nullptr : cl_error(rc, "clEnqueueBarrierWithWaitList");
  }
  clWaitForEvents(1, &e->event);  // another device's context: the host waits
  return nullptr;
}

void be_event_destroy(ct_backend_ctx*, ct_event* e) {
  clReleaseEvent(e->event);
  delete e;
}

ct_status* be_copy_from_host(ct_backend_ctx*, ct_stream* s, const void* src, ct_buffer* dst, uint64_t off,
                             uint64_t size, int32_t semantics) {
  if (off + size > dst->size) return error(CT_OUT_OF_RANGE, "copy_from_host past the end of the buffer");
  if (!size) return nullptr;
  // CT_HOST_DURING_CALL: the host memory may change once we return, so the write blocks.
  const cl_bool blocking = semantics == CT_HOST_DURING_CALL ? CL_TRUE : CL_FALSE;
  cl_event ev = nullptr;
  cl_int rc = clEnqueueWriteBuffer(s->queue, dst->mem, blocking, off, size, src, 0, nullptr, &ev);
  if (rc != CL_SUCCESS) return cl_error(rc, "copy to the device");
  track(s, ev, "copy to the device");
  return nullptr;
}

ct_status* be_copy_to_host(ct_backend_ctx*, ct_stream* s, ct_buffer* src, uint64_t off, void* dst, uint64_t size) {
  if (off + size > src->size) return error(CT_OUT_OF_RANGE, "copy_to_host past the end of the buffer");
  if (!size) return nullptr;
  cl_event ev = nullptr;
  cl_int rc = clEnqueueReadBuffer(s->queue, src->mem, CL_FALSE, off, size, dst, 0, nullptr, &ev);
  if (rc != CL_SUCCESS) return cl_error(rc, "copy to the host");
  track(s, ev, "copy to the host");
  return nullptr;
}

ct_status* be_copy_device(ct_backend_ctx* cx, ct_stream* s, ct_buffer* src, uint64_t so, ct_buffer* dst, uint64_t d0,
                          uint64_t size) {
  if (so + size > src->size || d0 + size > dst->size) return error(CT_OUT_OF_RANGE, "copy_device past a buffer's end");
  if (!size) return nullptr;
  Context* c = ctx(cx);
  if (c->devices[size_t(src->device)]->context != c->devices[size_t(dst->device)]->context) {
    // Between devices: through the host.
    std::vector<char> staged(size);
    cl_int rc = clEnqueueReadBuffer(s->queue, src->mem, CL_TRUE, so, size, staged.data(), 0, nullptr, nullptr);
    if (rc == CL_SUCCESS) rc = clEnqueueWriteBuffer(s->queue, dst->mem, CL_TRUE, d0, size, staged.data(), 0, nullptr, nullptr);
    return rc == CL_SUCCESS ? nullptr : cl_error(rc, "copy between OpenCL devices");
  }
  cl_event ev = nullptr;
  cl_int rc = clEnqueueCopyBuffer(s->queue, src->mem, dst->mem, so, d0, size, 0, nullptr, &ev);
  if (rc != CL_SUCCESS) return cl_error(rc, "clEnqueueCopyBuffer");
  track(s, ev, "device copy");
  return nullptr;
}

// --- Kernels ---------------------------------------------------------------------------

// The compiled kernel "k" of `source` on device d: from memory, the disk cache (keyed by
// device, driver and source), or the compiler.
ct_status* kernel_for(Context* c, Device& d, const std::string& source, cl_kernel* out) {
  const uint64_t key = fnv1a(d.platform_name + "|" + d.name + "|" + d.driver + "|" + source);
  auto it = d.kernels.find(key);
  if (it != d.kernels.end()) {
    *out = it->second;
    return nullptr;
  }
  char hex[24];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(key));
  const std::string file = c->cache_dir.empty() ? "" : c->cache_dir + "/" + hex + ".bin";
  cl_program program = nullptr;
  cl_int rc = CL_SUCCESS;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    std::string bin((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!bin.empty()) {
      const unsigned char* p = reinterpret_cast<const unsigned char*>(bin.data());
      size_t n = bin.size();
      cl_int status = CL_SUCCESS;
      program = clCreateProgramWithBinary(d.context, 1, &d.id, &n, &p, &status, &rc);
      if (rc != CL_SUCCESS || status != CL_SUCCESS || clBuildProgram(program, 1, &d.id, "", nullptr, nullptr) != CL_SUCCESS) {
        if (program) clReleaseProgram(program);
        program = nullptr;  // a stale or foreign binary: compile again
      }
    }
  }
  if (!program) {
    const char* text = source.c_str();
    program = clCreateProgramWithSource(d.context, 1, &text, nullptr, &rc);
    if (rc != CL_SUCCESS) return cl_error(rc, "clCreateProgramWithSource");
    rc = clBuildProgram(program, 1, &d.id, "-cl-std=CL1.2", nullptr, nullptr);
    if (rc != CL_SUCCESS) {
      size_t n = 0;
      clGetProgramBuildInfo(program, d.id, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
      std::string log(n, '\0');
      clGetProgramBuildInfo(program, d.id, CL_PROGRAM_BUILD_LOG, n, &log[0], nullptr);
      clReleaseProgram(program);
      return error(CT_INTERNAL, "opencl: a kernel did not compile on " + d.name + ": " + log.substr(0, 2000));
    }
    if (!file.empty()) {
      size_t n = 0;
      clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, nullptr);
      std::string bin(n, '\0');
      unsigned char* p = reinterpret_cast<unsigned char*>(&bin[0]);
      if (n && clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof p, &p, nullptr) == CL_SUCCESS) {
        make_dirs(c->cache_dir);
        const std::string tmp = file + ".tmp" + std::to_string(::getpid());
        std::ofstream o(tmp, std::ios::binary);
        o.write(bin.data(), std::streamsize(bin.size()));
        o.close();
        if (o) std::rename(tmp.c_str(), file.c_str());
        else std::remove(tmp.c_str());
      }
    }
  }
  cl_kernel k = clCreateKernel(program, "k", &rc);
  if (rc != CL_SUCCESS) {
    clReleaseProgram(program);
    return cl_error(rc, "clCreateKernel");
  }
  d.kernels[key] = k;
  *out = k;
  return nullptr;
}

std::string type_of(const ct_tensor* t) { return cl_type(t->dl.dtype.code, t->dl.dtype.bits); }

// Operands laid over the output's iteration space.
Layout layout(const ct_tensor* space, std::initializer_list<const ct_tensor*> operands) {
  Layout l{};
  l.ndim = space->dl.ndim;
  for (int d = 0; d < l.ndim; ++d) l.shape[d] = space->dl.shape[d];
  int j = 0;
  for (const ct_tensor* t : operands) {
    for (int d = 0; d < l.ndim; ++d) l.stride[j][d] = t->dl.strides[d];
    l.offset[j] = cl_long(t->dl.byte_offset / ct_sdk_elem_size(t));
    ++j;
  }
  return l;
}

const char* kUnary[] = {"neg", "abs", "square", "relu", "sqrt", "exp", "log", "sin", "cos", "tanh", "sigmoid"};
const char* kBinary[] = {"add", "sub", "mul", "div", "maximum", "minimum", "pow", "relu_grad",
                         "equal", "not_equal", "less", "less_equal", "greater", "greater_equal"};
const char* kReduce[] = {"sum", "mean", "max", "min"};

template <size_t N>
bool listed(const char* const (&names)[N], const std::string& s) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

void fill4(cl_long out[4], const ct_tensor* t) {
  for (int i = 0; i < 4; ++i) out[i] = t->dl.strides[i];
}

// The geometry of a convolution op (extents and the three operands' strides), from the
// SDK's reading of it.
bool conv_geometry(const ct_op* op, Geometry* g) {
  ct_sdk_conv2d c;
  const char* why = nullptr;
  if (!ct_sdk_conv2d_geometry(op, &c, &why)) return false;
  g->n = c.n, g->c = c.c, g->h = c.h, g->w = c.w, g->oc = c.oc, g->kh = c.kh, g->kw = c.kw, g->oh = c.oh, g->ow = c.ow;
  g->sy = c.sy, g->sx = c.sx, g->ph = c.ph, g->pw = c.pw, g->dy = c.dy, g->dx = c.dx, g->groups = c.groups;
  fill4(g->big, c.big), fill4(g->filter, c.filter), fill4(g->small, c.small);
  g->big_offset = ct_sdk_offset(c.big), g->filter_offset = ct_sdk_offset(c.filter), g->small_offset = ct_sdk_offset(c.small);
  if (c.bias) g->bias_offset = ct_sdk_offset(c.bias), g->bias_stride = c.bias->dl.strides[0];
  return true;
}

// The geometry of a pooling op: big x/gx, filter the indexes, small y/gy.
bool pool_geometry(const ct_op* op, Geometry* g) {
  ct_sdk_pool2d p;
  const char* why = nullptr;
  if (!ct_sdk_pool2d_geometry(op, &p, &why)) return false;
  g->n = p.n, g->c = p.c, g->h = p.h, g->w = p.w, g->oh = p.oh, g->ow = p.ow;
  g->kh = p.kh, g->kw = p.kw, g->sy = p.sy, g->sx = p.sx, g->ph = p.ph, g->pw = p.pw;
  fill4(g->big, p.big), fill4(g->small, p.small);
  g->big_offset = ct_sdk_offset(p.big), g->small_offset = ct_sdk_offset(p.small);
  if (p.indexes) fill4(g->filter, p.indexes), g->filter_offset = ct_sdk_offset(p.indexes);
  return true;
}

size_t round_up(int64_t n, size_t to) { return (size_t(n) + to - 1) / to * to; }

// One matrix product Y = alpha op(A) op(B) + beta C, batched: strides (batch, row, col,
// offset) in elements of op(A), op(B), C and Y as the product sees them. K may be split
// in two (kb blocks of K, a_kb / b_kb elements apart; the convolution's weight gradient).
struct GemmCall {
  int64_t batch = 1, M = 0, N = 0, K = 0, kb = 1, a_kb = 0, b_kb = 0;
  cl_long4 sa{}, sb{}, sc{}, sy{};
  double alpha = 1, beta = 0;
  bool has_c = false;
  std::string type;  // "float" or "double"
};

// The kernel form for a product's layout: "dot" when op(A) and op(B) are both contiguous
// along K (y = x W^T, the linear layer's forward), "rows" when op(B) is contiguous along N
// (its two gradients), else the plain tiled kernel (which has no split K: kb must be 1).
enum class GemmForm { dot, rows, tiled };
struct GemmPlan {
  GemmForm form;
  int rm, cn;
  size_t global[3];
};

GemmPlan plan_gemm(const GemmCall& g) {
  const int vw = g.type == "double" ? 8 : 16;
  auto blocks = [](int64_t n, int64_t b) { return size_t((n + b - 1) / b); };
  GemmPlan p{};
  if (g.sa.s[2] == 1 && g.sb.s[1] == 1 && g.K >= vw) {
    p.form = GemmForm::dot;
    p.rm = int(std::min<int64_t>(4, g.M)), p.cn = int(std::min<int64_t>(4, g.N));
    p.global[0] = blocks(g.N, p.cn), p.global[1] = blocks(g.M, p.rm);
  } else if (g.sb.s[2] == 1) {
    p.form = GemmForm::rows;
    p.rm = int(std::min<int64_t>(8, g.M)), p.cn = 1;
    p.global[0] = blocks(g.N, vw * p.cn), p.global[1] = blocks(g.M, p.rm);
  } else {
    p.form = GemmForm::tiled;
    p.rm = p.cn = kGemmTile;
    p.global[0] = round_up(g.N, kGemmTile), p.global[1] = round_up(g.M, kGemmTile);
  }
  p.global[2] = size_t(g.batch);
  return p;
}

std::string gemm_call_source(const GemmCall& g) {
  GemmPlan p = plan_gemm(g);
  if (p.form == GemmForm::tiled) return gemm_source(g.type);
  return gemm_fast_source(g.type, p.form == GemmForm::dot, p.rm, p.cn);
}

// The product core.gemm describes (buffers aside).
GemmCall gemm_call(const ct_op* op) {
  const ct_tensor *A = op->inputs[0], *B = op->inputs[1], *C = op->num_inputs > 2 ? op->inputs[2] : nullptr;
  const ct_tensor* y = op->outputs[0];
  int64_t ta = 0, tb = 0;
  ct_sdk_has_int(op, "trans_a", &ta);
  ct_sdk_has_int(op, "trans_b", &tb);
  GemmCall g;
  if (const ct_attr* a = ct_sdk_attr(op, "alpha")) g.alpha = a->v.f;
  if (const ct_attr* b = ct_sdk_attr(op, "beta")) g.beta = b->v.f;
  const int r = y->dl.ndim;
  g.batch = r == 3 ? y->dl.shape[0] : 1, g.M = y->dl.shape[r - 2], g.N = y->dl.shape[r - 1];
  g.K = ta ? A->dl.shape[r - 2] : A->dl.shape[r - 1];
  auto strides = [&](const ct_tensor* t, bool trans) {
    cl_long4 s4;
    s4.s[0] = r == 3 ? t->dl.strides[0] : 0;
    s4.s[1] = trans ? t->dl.strides[r - 1] : t->dl.strides[r - 2];
    s4.s[2] = trans ? t->dl.strides[r - 2] : t->dl.strides[r - 1];
    s4.s[3] = cl_long(t->dl.byte_offset / ct_sdk_elem_size(t));
    return s4;
  };
  g.sa = strides(A, ta != 0), g.sb = strides(B, tb != 0), g.sy = strides(y, false);
  g.sc = C ? strides(C, false) : g.sy;
  g.has_c = C != nullptr;
  g.type = type_of(y);
  return g;
}

// The OpenCL C source for the op, or "" with *reason set.
std::string source_for(Device& d, const ct_op* op, const char** reason) {
  auto no = [&](const char* why) {
    *reason = why;
    return std::string();
  };
  const std::string name = op->name;
  if (op->version != 1) return no("unknown op version");
  if (name.rfind("core.", 0) != 0) return no("the OpenCL backend has no such kernel yet");
  const std::string tail = name.substr(5);
  for (int i = 0; i < op->num_inputs; ++i)
    if (op->inputs[i]->dl.ndim > kMaxRank) return no("rank above 8");
  for (int i = 0; i < op->num_outputs; ++i)
    if (op->outputs[i]->dl.ndim > kMaxRank) return no("rank above 8");
  auto usable = [&](const ct_tensor* t) {
    const std::string ty = type_of(t);
    return !ty.empty() && (ty != "double" || d.fp64) && t->dl.dtype.lanes == 1;
  };
  for (int i = 0; i < op->num_inputs; ++i)
    if (!usable(op->inputs[i])) return no(d.fp64 ? "float16/bfloat16 not supported" : "no fp64 on this device, or float16");
  for (int i = 0; i < op->num_outputs; ++i)
    if (!usable(op->outputs[i])) return no(d.fp64 ? "float16/bfloat16 not supported" : "no fp64 on this device, or float16");
  const ct_tensor* y = op->outputs[0];
  if (tail == "max_pool2d") {
    const ct_tensor* x = op->inputs[0];
    if (op->num_inputs != 1 || op->num_outputs != 2) return no("takes x; gives y and indexes");
    if (x->dl.dtype.code != CT_DTYPE_FLOAT || !ct_sdk_same_dtype(x, y) || x->dl.ndim != 4 || y->dl.ndim != 4) return no("4-D float operands");
    const ct_tensor* idx = op->outputs[1];
    if (idx->dl.dtype.code != CT_DTYPE_INT || idx->dl.dtype.bits != 32 || idx->dl.ndim != 4) return no("indexes are int32");
    Geometry g{};
    if (!pool_geometry(op, &g)) return no("ksize, stride, pad (INTS) expected");
    return pool_source(tail, type_of(y));
  }
  if (op->num_outputs != 1) return no("one output expected");
  const bool is_float = y->dl.dtype.code == CT_DTYPE_FLOAT;
  if (tail == "fill") {
    if (op->num_inputs != 0) return no("fill takes no inputs");
    const ct_attr* v = ct_sdk_attr(op, "value");
    if (!v || v->type != CT_ATTR_FLOAT) return no("fill needs a FLOAT value");
    return fill_source(type_of(y));
  }
  if (tail == "copy") {
    if (op->num_inputs != 1 || op->inputs[0]->dl.ndim != y->dl.ndim) return no("copy takes one input of y's rank");
    return convert_source(type_of(op->inputs[0]), op->inputs[0]->dl.dtype.code, type_of(y), y->dl.dtype.code);
  }
  if (listed(kUnary, tail)) {
    if (op->num_inputs != 1 || !ct_sdk_same_dtype(op->inputs[0], y)) return no("one input of y's dtype expected");
    if (y->dl.dtype.code == CT_DTYPE_BOOL) return no("bool is not an arithmetic dtype");
    std::string s = unary_source(tail, type_of(y), is_float);
    return s.empty() ? no("not defined for integer dtypes") : s;
  }
  if (listed(kBinary, tail)) {
    if (op->num_inputs != 2 || !ct_sdk_same_dtype(op->inputs[0], op->inputs[1])) return no("two inputs of one dtype expected");
    const ct_tensor* a = op->inputs[0];
    const bool in_float = a->dl.dtype.code == CT_DTYPE_FLOAT;
    const bool comparison = tail.find("equal") != std::string::npos || tail == "less" || tail == "greater";
    if (comparison ? y->dl.dtype.code != CT_DTYPE_BOOL : !ct_sdk_same_dtype(a, y)) return no("unexpected output dtype");
    if (!comparison && a->dl.dtype.code == CT_DTYPE_BOOL) return no("bool is not an arithmetic dtype");
    std::string s = binary_source(tail, type_of(a), in_float);
    return s.empty() ? no("not defined for integer dtypes") : s;
  }
  if (tail == "where") {
    if (op->num_inputs != 3 || op->inputs[0]->dl.dtype.code != CT_DTYPE_BOOL || !ct_sdk_same_dtype(op->inputs[1], y) ||
        !ct_sdk_same_dtype(op->inputs[2], y))
      return no("where takes (bool, a, b) of y's dtype");
    return where_source(type_of(y));
  }
  if (listed(kReduce, tail)) {
    const ct_attr* axes = ct_sdk_attr(op, "axes");
    if (op->num_inputs != 1 || !ct_sdk_same_dtype(op->inputs[0], y) || op->inputs[0]->dl.ndim != y->dl.ndim)
      return no("one input of y's dtype and rank expected");
    if (!axes || axes->type != CT_ATTR_INTS) return no("axes (INTS) expected");
    if (y->dl.dtype.code == CT_DTYPE_BOOL) return no("bool is not an arithmetic dtype");
    std::string s = reduce_source(tail, type_of(y), is_float);
    return s.empty() ? no("not defined for integer dtypes") : s;
  }
  if (tail == "gemm") {
    if (!is_float) return no("integer GEMM is not implemented on OpenCL");
    if (op->num_inputs < 2 || op->num_inputs > 3) return no("gemm takes A, B and optionally C");
    for (int i = 0; i < op->num_inputs; ++i)
      if (!ct_sdk_same_dtype(op->inputs[i], y)) return no("all operands must share one dtype");
    if (y->dl.ndim != 2 && y->dl.ndim != 3) return no("rank 2 or 3 expected");
    return gemm_call_source(gemm_call(op));
  }
  if (tail == "quantize" || tail == "dequantize") {
    const bool q = tail == "quantize";
    if (op->num_inputs != 2) return no("takes a value and a scale");
    const ct_tensor *x = op->inputs[0], *s = op->inputs[1];
    if (type_of(s) != "float" || !ct_sdk_same_shape(x, s) || !ct_sdk_same_shape(x, y)) return no("a float32 scale of one shape");
    const std::string from = type_of(x), to = type_of(y);
    if (q ? (x->dl.dtype.code != CT_DTYPE_FLOAT || (to != "char" && to != "uchar"))
          : (!is_float || (from != "char" && from != "uchar" && from != "int")))
      return no(q ? "float to int8 or uint8" : "int8, uint8 or int32 to float");
    return q ? quantize_source(from, to) : dequantize_source(from, to);
  }
  if (tail == "gemm_i8") {
    if (op->num_inputs != 2 && op->num_inputs != 4 && op->num_inputs != 5) return no("takes A, B and optionally scales and bias");
    const ct_tensor *a = op->inputs[0], *b = op->inputs[1];
    if (type_of(a) != "char" || type_of(b) != "char" || a->dl.ndim != 2 || b->dl.ndim != 2 || y->dl.ndim != 2)
      return no("int8 matrices");
    if (a->dl.shape[1] != b->dl.shape[1] || y->dl.shape[0] != a->dl.shape[0] || y->dl.shape[1] != b->dl.shape[0])
      return no("A (M, K), B (N, K), Y (M, N)");
    if (type_of(y) != (op->num_inputs == 2 ? "int" : "float")) return no("Y is int32, or float32 with scales");
    for (int i = 2; i < op->num_inputs; ++i)
      if (type_of(op->inputs[i]) != "float" || op->inputs[i]->dl.ndim != 1) return no("float32 vectors of scales and bias");
    return gemm_i8_source();
  }
  if (tail == "argmax") {
    int64_t axis = -1;
    if (op->num_inputs != 1 || y->dl.dtype.code != CT_DTYPE_INT || y->dl.dtype.bits != 64) return no("argmax gives int64");
    if (!ct_sdk_has_int(op, "axis", &axis) || axis < 0 || axis >= op->inputs[0]->dl.ndim) return no("axis (INT) expected");
    if (op->inputs[0]->dl.dtype.code == CT_DTYPE_BOOL) return no("bool is not an arithmetic dtype");
    return argmax_source(type_of(op->inputs[0]), op->inputs[0]->dl.dtype.code == CT_DTYPE_FLOAT);
  }
  if (tail == "conv2d" || tail == "conv2d_grad_input" || tail == "conv2d_grad_weight") {
    if (!is_float) return no("needs a floating-point dtype");
    const int want = tail == "conv2d" ? 0 : 2;
    if (want ? op->num_inputs != 2 : (op->num_inputs < 2 || op->num_inputs > 3)) return no("unexpected inputs");
    for (int i = 0; i < op->num_inputs; ++i)
      if (!ct_sdk_same_dtype(op->inputs[i], y) || (i < 2 && op->inputs[i]->dl.ndim != 4)) return no("4-D operands of one dtype");
    if (y->dl.ndim != 4) return no("4-D operands of one dtype");
    Geometry g{};
    if (!conv_geometry(op, &g)) return no("bad stride, pad, dilation or groups");
    return conv_source(tail, type_of(y));
  }
  if (tail == "max_pool2d" || tail == "max_pool2d_grad" || tail == "max_pool2d_gather" || tail == "avg_pool2d" ||
      tail == "avg_pool2d_grad") {
    const ct_tensor* x = op->inputs[0];
    if (x->dl.dtype.code != CT_DTYPE_FLOAT || x->dl.ndim != 4 || y->dl.ndim != 4) return no("4-D float operands");
    Geometry g{};
    if (!pool_geometry(op, &g)) return no("ksize, stride, pad (INTS) expected");
    return pool_source(tail, type_of(y));
  }
  if (tail == "take" || tail == "take_add") {
    const bool add = tail == "take_add";
    if (op->num_inputs != (add ? 3 : 2)) return no("unexpected inputs");
    const ct_tensor* idx = op->inputs[1];
    if (idx->dl.dtype.code != CT_DTYPE_INT || (idx->dl.dtype.bits != 32 && idx->dl.dtype.bits != 64))
      return no("indices must be int32 or int64");
    if (!ct_sdk_same_dtype(op->inputs[0], y) || (add && !ct_sdk_same_dtype(op->inputs[2], y))) return no("dtypes must match");
    if (add && y->dl.dtype.code == CT_DTYPE_BOOL) return no("bool is not an arithmetic dtype");
    int64_t axis = -1;
    if (!ct_sdk_has_int(op, "axis", &axis) || axis < 0 || axis >= op->inputs[0]->dl.ndim) return no("axis (INT) expected");
    return take_source(add, type_of(y), type_of(idx));
  }
  if (tail == "random_uniform" || tail == "random_normal") {
    if (op->num_inputs != 0 || !is_float) return no("takes no input and one float output");
    int64_t v = 0;
    if (!ct_sdk_has_int(op, "seed", &v) || !ct_sdk_has_int(op, "offset", &v)) return no("missing attribute seed or offset");
    return random_source(tail == "random_normal", type_of(y), d.fp64);
  }
  return no("the OpenCL backend has no such kernel yet");
}

// optim.*: dense float operands of one dtype and shape.
std::string optim_source_for(Device& d, const ct_op* op, const char** reason) {
  auto no = [&](const char* why) {
    *reason = why;
    return std::string();
  };
  const std::string rule = std::string(op->name).substr(6);
  static const std::map<std::string, int> states = {{"sgd", 0},     {"momentum_sgd", 1}, {"nesterov_ag", 1},
                                                    {"adagrad", 1}, {"rmsprop", 1},      {"adadelta", 2},
                                                    {"adam", 2}};
  auto it = states.find(rule);
  if (it == states.end()) return no("the OpenCL backend has no such optimizer kernel");
  if (op->version != 1) return no("unknown op version");
  int64_t ams = 0;
  ct_sdk_has_int(op, "amsgrad", &ams);
  const int want = 1 + it->second + (rule == "adam" && ams ? 1 : 0);
  if (op->num_inputs != 1 || op->num_outputs != want) return no("unexpected number of operands");
  const ct_tensor* g = op->inputs[0];
  const std::string ty = type_of(g);
  if (g->dl.dtype.code != CT_DTYPE_FLOAT || ty.empty() || (ty == "double" && !d.fp64))
    return no("float32 (or float64 with fp64) only");
  auto dense = [&](const ct_tensor* t) {
    if (!ct_sdk_same_dtype(t, g) || t->dl.ndim != g->dl.ndim) return false;
    int64_t expect = 1;
    for (int i = t->dl.ndim - 1; i >= 0; --i) {
      if (t->dl.shape[i] != g->dl.shape[i]) return false;
      if (t->dl.shape[i] != 1 && t->dl.strides[i] != expect) return false;
      expect *= t->dl.shape[i];
    }
    return true;
  };
  if (!dense(g)) return no("needs a dense gradient");
  for (int i = 0; i < op->num_outputs; ++i)
    if (!dense(op->outputs[i])) return no("needs dense parameter and state");
  return optim_source(rule, ty, ams != 0);
}

std::string any_source(Device& d, const ct_op* op, const char** reason) {
  if (std::strncmp(op->name, "optim.", 6) == 0) return optim_source_for(d, op, reason);
  return source_for(d, op, reason);
}

int32_t be_supports(ct_backend_ctx* cx, int32_t device, const ct_op* op, const char** reason) {
  const char* why = nullptr;
  Device& d = *ctx(cx)->devices[size_t(device)];
  if (!any_source(d, op, &why).empty()) return CT_SUPPORTED;
  if (reason) *reason = why;
  return CT_UNSUPPORTED;
}

cl_mem mem_of(const ct_tensor* t) { return static_cast<cl_mem>(t->dl.data); }

// Sets the arguments (in order) and enqueues `global` work-items; the device's mutex is
// held from the first argument to the enqueue.
struct Launcher {
  cl_kernel k;
  cl_uint next = 0;
  cl_int rc = CL_SUCCESS;
  template <class T>
  Launcher& arg(const T& v) {
    if (rc == CL_SUCCESS) rc = clSetKernelArg(k, next, sizeof(T), &v);
    ++next;
    return *this;
  }
};

// Enqueues one product with the kernel compiled from gemm_call_source(g); the device's
// mutex is held.
ct_status* enqueue_gemm(Device& d, ct_stream* s, cl_kernel k, const GemmCall& g, cl_mem A, cl_mem B, cl_mem C, cl_mem Y,
                        const std::string& what) {
  if (g.batch * g.M * g.N == 0) return nullptr;
  const GemmPlan p = plan_gemm(g);
  Launcher L{k};
  cl_long4 dims4;
  dims4.s[0] = g.batch, dims4.s[1] = g.M, dims4.s[2] = g.N, dims4.s[3] = g.K;
  L.arg(A).arg(B).arg(C).arg(Y).arg(dims4).arg(g.sa).arg(g.sb).arg(g.sc).arg(g.sy);
  if (g.type == "double") L.arg(cl_double(g.alpha)).arg(cl_double(g.beta));
  else L.arg(cl_float(g.alpha)).arg(cl_float(g.beta));
  L.arg(cl_int(g.has_c ? 1 : 0));
  size_t local[3] = {1, 1, 1};
  if (p.form == GemmForm::tiled) {
    local[0] = local[1] = kGemmTile;
  } else {
    L.arg(cl_long(g.kb)).arg(cl_long(g.a_kb)).arg(cl_long(g.b_kb));
  }
  if (L.rc != CL_SUCCESS) return cl_error(L.rc, "setting the arguments of " + what);
  // The fast forms keep a block of outputs per work-item in registers: one work-item per
  // group on a CPU device (the driver's threads take groups); a GPU driver picks.
  const bool one_per_group = p.form == GemmForm::tiled || d.is_cpu;
  cl_event ev = nullptr;
  cl_int rc = clEnqueueNDRangeKernel(s->queue, k, 3, nullptr, p.global, one_per_group ? local : nullptr, 0, nullptr, &ev);
  if (rc != CL_SUCCESS) return cl_error(rc, "enqueueing " + what);
  track(s, ev, what);
  return nullptr;
}

// The stream's scratch buffer, at least `bytes` long.
ct_status* scratch_for(Device& d, ct_stream* s, size_t bytes) {
  if (s->scratch_size >= bytes) return nullptr;
  if (s->scratch) clReleaseMemObject(s->scratch);  // freed once the work queued on it is done
  s->scratch = nullptr, s->scratch_size = 0;
  cl_int rc = CL_SUCCESS;
  s->scratch = clCreateBuffer(d.context, CL_MEM_READ_WRITE, bytes, nullptr, &rc);
  if (rc != CL_SUCCESS) return cl_error(rc, "the convolution's column buffer (" + std::to_string(bytes >> 20) + " MiB)");
  s->scratch_size = bytes;
  return nullptr;
}

// One of im2col / col2im over images n0 .. n0 + count.
ct_status* enqueue_columns(Context* c, Device& d, ct_stream* s, const std::string& which, const std::string& t,
                           cl_mem from, cl_mem to, const Geometry& g, int64_t n0, int64_t total, const char* op) {
  cl_kernel k = nullptr;
  if (ct_status* st = kernel_for(c, d, conv_source(which, t), &k)) return st;
  Launcher L{k};
  L.arg(from).arg(to).arg(g).arg(cl_long(n0)).arg(cl_long(total));
  if (L.rc != CL_SUCCESS) return cl_error(L.rc, std::string("setting the arguments of ") + op);
  size_t global = round_up(total, 64);
  cl_event ev = nullptr;
  cl_int rc = clEnqueueNDRangeKernel(s->queue, k, 1, nullptr, &global, nullptr, 0, nullptr, &ev);
  if (rc != CL_SUCCESS) return cl_error(rc, std::string("enqueueing ") + op);
  track(s, ev, op);
  return nullptr;
}

// The convolution and its gradients as columns and the register-blocked products, in
// chunks of images that bound the column buffer: y_n = W col_n + b; gcol_n = W^T gy_n,
// then gathered into gx; gW = sum_n gy_n col_n^T as one product with K split over the
// images. Leaves *done false (the direct kernels run) for groups, layouts the products
// cannot address, and a weight gradient with fewer output pixels than a vector.
ct_status* conv_by_gemm(Context* c, Device& d, ct_stream* s, const ct_op* op, const std::string& tail, bool* done) {
  *done = false;
  Geometry g{};
  if (!conv_geometry(op, &g) || g.groups != 1) return nullptr;
  const ct_tensor* y = op->outputs[0];
  const std::string t = type_of(y);
  const int64_t P = g.oh * g.ow, CKK = g.c * g.kh * g.kw;
  if (P == 0 || CKK == 0 || g.n == 0 || g.oc == 0) return nullptr;
  if (g.filter[2] != g.kw * g.filter[3] || g.filter[1] != g.kh * g.filter[2] || g.small[2] != g.ow * g.small[3])
    return nullptr;  // W not (OC, C*KH*KW) or y not (N, OC, OH*OW) with one stride each
  const int64_t per_image = CKK * P;
  // CATENA_OPENCL_COLUMNS bounds the column buffer (elements; default 2^24, 64 MiB of floats).
  static const int64_t limit =
      catena_backend::env_integer("catena opencl backend", "CATENA_OPENCL_COLUMNS", int64_t(1) << 24, 1, int64_t(1) << 40);
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(g.n, limit / per_image));
  GemmCall m;
  m.type = t;
  // Every stride is set here; the chunks below move only offsets (strides' s[3]).
  const cl_long4 columns = {{per_image, P, 1, 0}};  // (image, row, column) of the buffer
  const cl_long4 small = {{g.small[0], g.small[1], g.small[3], g.small_offset}};
  if (tail == "conv2d") {
    m.M = g.oc, m.N = P, m.K = CKK;
    m.sa = {{0, g.filter[0], g.filter[3], g.filter_offset}};
    m.sb = columns, m.sy = small;
    if (op->num_inputs == 3) m.has_c = true, m.beta = 1, m.sc = {{0, g.bias_stride, 0, g.bias_offset}};
  } else if (tail == "conv2d_grad_input") {
    m.M = CKK, m.N = P, m.K = g.oc;
    m.sa = {{0, g.filter[3], g.filter[0], g.filter_offset}};
    m.sb = small, m.sy = m.sc = columns;
  } else {
    m.M = g.oc, m.N = CKK, m.K = P;
    m.sa = {{0, g.small[1], g.small[3], g.small_offset}}, m.a_kb = g.small[0];
    m.sb = {{0, 1, P, 0}}, m.b_kb = per_image;
    m.sy = m.sc = {{0, g.filter[0], g.filter[3], g.filter_offset}};
    if (plan_gemm(m).form != GemmForm::dot) return nullptr;
  }
  // The product's kernel depends on M, N, K and the layouts, not on the chunk.
  cl_kernel k = nullptr;
  if (ct_status* st = kernel_for(c, d, gemm_call_source(m), &k)) return st;
  if (ct_status* st = scratch_for(d, s, size_t(chunk * per_image) * ct_sdk_elem_size(y))) return st;
  for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
    const int64_t count = std::min(chunk, g.n - n0);
    if (tail == "conv2d") {
      if (ct_status* st = enqueue_columns(c, d, s, "im2col", t, mem_of(op->inputs[0]), s->scratch, g, n0,
                                          count * per_image, op->name))
        return st;
      m.batch = count;
      m.sy.s[3] = g.small_offset + n0 * g.small[0];
      if (!m.has_c) m.sc = m.sy;
      const ct_tensor* b = op->num_inputs == 3 ? op->inputs[2] : y;
      if (ct_status* st = enqueue_gemm(d, s, k, m, mem_of(op->inputs[1]), s->scratch, mem_of(b), mem_of(y), op->name))
        return st;
    } else if (tail == "conv2d_grad_input") {
      m.batch = count;
      m.sb.s[3] = g.small_offset + n0 * g.small[0];
      if (ct_status* st = enqueue_gemm(d, s, k, m, mem_of(op->inputs[1]), mem_of(op->inputs[0]), s->scratch, s->scratch,
                                       op->name))
        return st;
      if (ct_status* st = enqueue_columns(c, d, s, "col2im", t, s->scratch, mem_of(y), g, n0, count * g.c * g.h * g.w,
                                          op->name))
        return st;
    } else {
      if (ct_status* st = enqueue_columns(c, d, s, "im2col", t, mem_of(op->inputs[0]), s->scratch, g, n0,
                                          count * per_image, op->name))
        return st;
      m.batch = 1, m.kb = count;
      m.sa.s[3] = g.small_offset + n0 * g.small[0];
      m.has_c = n0 > 0, m.beta = 1;  // later chunks add to the earlier ones (C is gW itself)
      if (ct_status* st = enqueue_gemm(d, s, k, m, mem_of(op->inputs[1]), s->scratch, mem_of(y), mem_of(y), op->name))
        return st;
    }
  }
  *done = true;
  return nullptr;
}

ct_status* be_launch(ct_backend_ctx* cx, ct_stream* s, const ct_op* op) {
  Context* c = ctx(cx);
  Device& d = *c->devices[size_t(s->device)];
  const char* why = nullptr;
  const std::string source = any_source(d, op, &why);
  if (source.empty()) return error(CT_INVALID_ARGUMENT, std::string("opencl: ") + op->name + ": " + why);
  const std::string name = op->name, tail = name.substr(name.find('.') + 1);
  const bool optim = name.rfind("optim.", 0) == 0;
  const ct_tensor* y = op->outputs[0];
  const int64_t n = ct_sdk_numel(y);
  std::lock_guard<std::mutex> lock(d.m);
  if (tail.rfind("conv2d", 0) == 0) {
    bool done = false;
    if (ct_status* st = conv_by_gemm(c, d, s, op, tail, &done)) return st;
    if (done) return nullptr;
  }
  cl_kernel k = nullptr;
  if (ct_status* st = kernel_for(c, d, source, &k)) return st;
  Launcher L{k};
  size_t global = round_up(n, 64);  // one work-item per element (kernels check the bound)
  if (n == 0 && tail != "gemm") return nullptr;
  auto real = [&](double v) {  // a scalar argument in y's float type
    if (type_of(y) == "double") L.arg(cl_double(v));
    else L.arg(cl_float(v));
  };
  auto attr_or = [&](const char* key, double fallback) {
    const ct_attr* a = ct_sdk_attr(op, key);
    return a && a->type == CT_ATTR_FLOAT ? a->v.f : a && (a->type == CT_ATTR_INT || a->type == CT_ATTR_BOOL) ? double(a->v.i) : fallback;
  };
  if (optim) {
    const ct_tensor* g = op->inputs[0];
    // Unused state slots repeat the last operand (never touched by the kernel).
    const ct_tensor* st[3];
    for (int i = 0; i < 3; ++i) st[i] = op->outputs[std::min(i + 1, op->num_outputs - 1)];
    auto off = [](const ct_tensor* t) { return cl_long(t->dl.byte_offset / ct_sdk_elem_size(t)); };
    L.arg(mem_of(g)).arg(mem_of(op->outputs[0])).arg(mem_of(st[0])).arg(mem_of(st[1])).arg(mem_of(st[2]))
        .arg(cl_long(n)).arg(off(g)).arg(off(op->outputs[0])).arg(off(st[0])).arg(off(st[1])).arg(off(st[2]));
    double lr = attr_or("lr", 0.01), c[5] = {0, 0, 0, 0, 0};
    if (tail == "momentum_sgd" || tail == "nesterov_ag") c[0] = attr_or("momentum", 0.9);
    else if (tail == "adagrad") lr = attr_or("lr", 0.001), c[0] = attr_or("eps", 1e-8);
    else if (tail == "rmsprop") c[0] = attr_or("alpha", 0.99), c[1] = attr_or("eps", 1e-8), c[2] = attr_or("eps_inside_sqrt", 0);
    else if (tail == "adadelta") c[0] = attr_or("rho", 0.95), c[1] = attr_or("eps", 1e-6);
    else if (tail == "adam") {
      lr = attr_or("lr", 0.001);
      // 1 - beta in the parameter's type, as the CPU computes it.
      const bool f64 = type_of(y) == "double";
      c[0] = f64 ? 1.0 - attr_or("beta1", 0.9) : double(1.0f - float(attr_or("beta1", 0.9)));
      c[1] = f64 ? 1.0 - attr_or("beta2", 0.999) : double(1.0f - float(attr_or("beta2", 0.999)));
      c[2] = attr_or("eps", 1e-8), c[3] = attr_or("eta", 1.0), c[4] = attr_or("weight_decay_rate", 0.0);
    }
    real(lr);
    for (double v : c) real(v);
  } else if (tail == "quantize" || tail == "dequantize") {
    Layout l = layout(y, {op->inputs[0], op->inputs[1], y});
    L.arg(mem_of(op->inputs[0])).arg(mem_of(op->inputs[1])).arg(mem_of(y)).arg(l).arg(cl_long(n))
        .arg(cl_long(ct_sdk_int(op, "zero_point", 0)));
  } else if (tail == "gemm_i8") {
    I8Geometry g{};
    const ct_tensor *a = op->inputs[0], *b = op->inputs[1];
    auto off = [](const ct_tensor* t) { return cl_long(t->dl.byte_offset / ct_sdk_elem_size(t)); };
    g.m = y->dl.shape[0], g.n = y->dl.shape[1], g.k = a->dl.shape[1];
    g.a[0] = a->dl.strides[0], g.a[1] = a->dl.strides[1], g.a[2] = off(a);
    g.b[0] = b->dl.strides[0], g.b[1] = b->dl.strides[1], g.b[2] = off(b);
    g.y[0] = y->dl.strides[0], g.y[1] = y->dl.strides[1], g.y[2] = off(y);
    const int mode = op->num_inputs == 2 ? 0 : op->num_inputs == 4 ? 1 : 2;
    const ct_tensor* vec[3] = {y, y, y};
    for (int i = 2; i < op->num_inputs; ++i) vec[i - 2] = op->inputs[i];
    cl_long* dst[3] = {g.sa, g.sb, g.bias};
    for (int i = 0; i < 3; ++i)
      if (vec[i] != y) dst[i][0] = vec[i]->dl.strides[0], dst[i][1] = off(vec[i]);
    L.arg(mem_of(a)).arg(mem_of(b)).arg(mem_of(vec[0])).arg(mem_of(vec[1])).arg(mem_of(vec[2])).arg(mem_of(y)).arg(g)
        .arg(cl_int(mode));
  } else if (tail == "argmax") {
    const ct_tensor* x = op->inputs[0];
    int64_t axis = 0;
    ct_sdk_has_int(op, "axis", &axis);
    Layout l = layout(y, {x, y});
    l.stride[0][axis] = 0;
    L.arg(mem_of(x)).arg(mem_of(y)).arg(l).arg(cl_long(x->dl.shape[axis])).arg(cl_long(x->dl.strides[axis])).arg(cl_long(n));
  } else if (tail == "random_uniform" || tail == "random_normal") {
    int64_t seed = 0, offset = 0;
    ct_sdk_has_int(op, "seed", &seed);
    ct_sdk_has_int(op, "offset", &offset);
    Layout l = layout(y, {y});
    L.arg(mem_of(y)).arg(l).arg(cl_long(n)).arg(cl_ulong(seed)).arg(cl_ulong(offset));
    const bool normal = tail == "random_normal";
    const double a = normal ? attr_or("mean", 0.0) : attr_or("low", 0.0);
    const double b = normal ? attr_or("stddev", 1.0) : attr_or("high", 1.0);
    if (d.fp64) L.arg(cl_double(a)).arg(cl_double(b));
    else L.arg(cl_float(a)).arg(cl_float(b));
  } else if (tail.rfind("conv2d", 0) == 0) {
    Geometry g{};
    conv_geometry(op, &g);
    int64_t total = 0;
    if (tail == "conv2d") {
      const ct_tensor* b = op->num_inputs == 3 ? op->inputs[2] : nullptr;
      total = g.n * g.oc * g.oh * g.ow;
      L.arg(mem_of(op->inputs[0])).arg(mem_of(op->inputs[1])).arg(mem_of(b ? b : y)).arg(mem_of(y)).arg(g)
          .arg(cl_int(b ? 1 : 0)).arg(cl_long(total));
    } else if (tail == "conv2d_grad_input") {
      total = g.n * g.c * g.h * g.w;
      L.arg(mem_of(op->inputs[0])).arg(mem_of(op->inputs[1])).arg(mem_of(y)).arg(g).arg(cl_long(total));
    } else {
      total = g.oc * (g.c / g.groups) * g.kh * g.kw;
      L.arg(mem_of(op->inputs[0])).arg(mem_of(op->inputs[1])).arg(mem_of(y)).arg(g).arg(cl_long(total));
    }
    global = round_up(total, 64);
  } else if (tail.find("pool2d") != std::string::npos) {
    Geometry g{};
    pool_geometry(op, &g);
    int64_t total = 0;
    if (tail == "max_pool2d") {
      total = g.n * g.c * g.oh * g.ow;
      L.arg(mem_of(op->inputs[0])).arg(mem_of(y)).arg(mem_of(op->outputs[1])).arg(g).arg(cl_long(total));
    } else if (tail == "max_pool2d_grad") {
      total = g.n * g.c * g.h * g.w;
      L.arg(mem_of(op->inputs[0])).arg(mem_of(op->inputs[1])).arg(mem_of(y)).arg(g).arg(cl_long(total));
    } else if (tail == "avg_pool2d_grad") {
      total = g.n * g.c * g.h * g.w;
      L.arg(mem_of(op->inputs[0])).arg(mem_of(op->inputs[0])).arg(mem_of(y)).arg(g).arg(cl_long(total));
    } else if (tail == "max_pool2d_gather") {
      total = g.n * g.c * g.oh * g.ow;
      L.arg(mem_of(op->inputs[0])).arg(mem_of(op->inputs[1])).arg(mem_of(y)).arg(g).arg(cl_long(total));
    } else {  // avg_pool2d
      total = g.n * g.c * g.oh * g.ow;
      L.arg(mem_of(op->inputs[0])).arg(mem_of(y)).arg(g).arg(cl_long(total));
    }
    global = round_up(total, 64);
  } else if (tail == "take" || tail == "take_add") {
    const bool add = tail == "take_add";
    const ct_tensor *x = op->inputs[0], *idx = op->inputs[1];
    int64_t axis = 0;
    ct_sdk_has_int(op, "axis", &axis);
    int64_t outer = 1, inner = 1, nk = ct_sdk_numel(idx);
    for (int a = 0; a < axis; ++a) outer *= x->dl.shape[a];
    for (int a = int(axis) + 1; a < x->dl.ndim; ++a) inner *= x->dl.shape[a];
    const int64_t len = x->dl.shape[axis];
    if (!s->flag) {
      cl_int rc = CL_SUCCESS, zero = 0;
      s->flag = clCreateBuffer(d.context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof zero, &zero, &rc);
      if (rc != CL_SUCCESS) return cl_error(rc, "the index-error flag");
    }
    s->flag_used = true;
    auto own = [](const ct_tensor* t) {  // a tensor's own shape and strides
      Layout l{};
      l.ndim = t->dl.ndim;
      for (int i = 0; i < t->dl.ndim; ++i) l.shape[i] = t->dl.shape[i], l.stride[0][i] = t->dl.strides[i];
      l.offset[0] = cl_long(t->dl.byte_offset / ct_sdk_elem_size(t));
      return l;
    };
    if (!add) {
      L.arg(mem_of(x)).arg(mem_of(idx)).arg(mem_of(y)).arg(s->flag).arg(own(x)).arg(own(idx)).arg(own(y))
          .arg(cl_long(outer)).arg(cl_long(nk)).arg(cl_long(inner)).arg(cl_long(len)).arg(cl_long(n));
    } else {
      const ct_tensor* upd = op->inputs[2];
      L.arg(mem_of(x)).arg(mem_of(idx)).arg(mem_of(upd)).arg(mem_of(y)).arg(s->flag).arg(own(x)).arg(own(idx))
          .arg(own(upd)).arg(own(y)).arg(cl_long(outer)).arg(cl_long(nk)).arg(cl_long(inner)).arg(cl_long(len))
          .arg(cl_long(n));
    }
  } else if (tail == "fill") {
    double v = ct_sdk_attr(op, "value")->v.f;
    const std::string ty = type_of(y);
    Layout l = layout(y, {y});
    L.arg(mem_of(y)).arg(l).arg(cl_long(n));
    if (ty == "float") L.arg(cl_float(v));
    else if (ty == "double") L.arg(cl_double(v));
    else if (y->dl.dtype.code == CT_DTYPE_BOOL) L.arg(cl_uchar(v != 0));
    else if (std::isnan(v)) {
      if (ty == "long") L.arg(cl_long(0));
      else if (ty == "int") L.arg(cl_int(0));
      else if (ty == "char") L.arg(cl_char(0));
      else L.arg(cl_uchar(0));
    } else {
      auto sat = [&](double lo, double hi) { return std::min(std::max(std::trunc(v), lo), hi); };
      if (ty == "long") L.arg(cl_long(v >= 9.2233720368547758e18 ? INT64_MAX : v <= -9.2233720368547758e18 ? INT64_MIN : int64_t(v)));
      else if (ty == "int") L.arg(cl_int(sat(-2147483648.0, 2147483647.0)));
      else if (ty == "char") L.arg(cl_char(sat(-128, 127)));
      else L.arg(cl_uchar(sat(0, 255)));
    }
  } else if (tail == "copy" || listed(kUnary, tail)) {
    const ct_tensor* x = op->inputs[0];
    Layout l = layout(y, {x, y});
    L.arg(mem_of(x)).arg(mem_of(y)).arg(l).arg(cl_long(n));
  } else if (listed(kBinary, tail)) {
    const ct_tensor *a = op->inputs[0], *b = op->inputs[1];
    Layout l = layout(y, {a, b, y});
    L.arg(mem_of(a)).arg(mem_of(b)).arg(mem_of(y)).arg(l).arg(cl_long(n));
  } else if (tail == "where") {
    Layout l = layout(y, {op->inputs[0], op->inputs[1], op->inputs[2], y});
    L.arg(mem_of(op->inputs[0])).arg(mem_of(op->inputs[1])).arg(mem_of(op->inputs[2])).arg(mem_of(y)).arg(l).arg(cl_long(n));
  } else if (listed(kReduce, tail)) {
    const ct_tensor* x = op->inputs[0];
    const ct_attr* axes = ct_sdk_attr(op, "axes");
    bool reduced[kMaxRank] = {};
    for (int i = 0; i < axes->count; ++i)
      if (axes->v.ints[i] >= 0 && axes->v.ints[i] < x->dl.ndim) reduced[axes->v.ints[i]] = true;
    Layout lo = layout(y, {x, y});  // output space: x's base offset, y
    Layout lr{};
    lr.ndim = x->dl.ndim;
    int64_t n_red = 1;
    for (int dd = 0; dd < x->dl.ndim; ++dd) {
      lr.shape[dd] = reduced[dd] ? x->dl.shape[dd] : 1;
      lr.stride[0][dd] = x->dl.strides[dd];
      if (reduced[dd]) n_red *= x->dl.shape[dd], lo.stride[0][dd] = 0;
    }
    L.arg(mem_of(x)).arg(mem_of(y)).arg(lo).arg(lr).arg(cl_long(n)).arg(cl_long(n_red));
  } else {  // gemm
    GemmCall g = gemm_call(op);
    const ct_tensor* C = op->num_inputs > 2 ? op->inputs[2] : nullptr;
    return enqueue_gemm(d, s, k, g, mem_of(op->inputs[0]), mem_of(op->inputs[1]), mem_of(C ? C : y), mem_of(y),
                        op->name);
  }
  if (L.rc != CL_SUCCESS) return cl_error(L.rc, std::string("setting the arguments of ") + op->name);
  cl_event ev = nullptr;
  cl_int rc = clEnqueueNDRangeKernel(s->queue, k, 1, nullptr, &global, nullptr, 0, nullptr, &ev);
  if (rc != CL_SUCCESS) return cl_error(rc, std::string("enqueueing ") + op->name);
  track(s, ev, op->name);
  return nullptr;
}

void* be_native(ct_backend_ctx*, ct_stream* s) { return s->queue; }

const ct_backend k_backend = {
    /* .struct_size          = */ sizeof(ct_backend),
    /* .init                 = */ be_init,
    /* .shutdown             = */ be_shutdown,
    /* .device_count         = */ be_device_count,
    /* .device_props         = */ be_device_props,
    /* .buffer_alloc         = */ be_buffer_alloc,
    /* .buffer_free          = */ be_buffer_free,
    /* .buffer_data          = */ be_buffer_data,
    /* .buffer_wrap          = */ nullptr,
    /* .stream_create        = */ be_stream_create,
    /* .stream_destroy       = */ be_stream_destroy,
    /* .stream_synchronize   = */ be_stream_synchronize,
    /* .event_record         = */ be_event_record,
    /* .event_wait           = */ be_event_wait,
    /* .stream_wait_event    = */ be_stream_wait_event,
    /* .event_destroy        = */ be_event_destroy,
    /* .copy_from_host       = */ be_copy_from_host,
    /* .copy_to_host         = */ be_copy_to_host,
    /* .copy_device          = */ be_copy_device,
    /* .supports_op          = */ be_supports,
    /* .launch               = */ be_launch,
    /* .stream_native_handle = */ be_native,
};

const ct_plugin k_plugin = {
    /* .struct_size    = */ sizeof(ct_plugin),
    /* .abi_major      = */ CT_ABI_MAJOR,
    /* .abi_minor      = */ CT_ABI_MINOR,
    /* .min_host_minor = */ 0,
    /* .kind           = */ CT_PLUGIN_BACKEND,
    /* .name           = */ "opencl",
    /* .version        = */ "0.1",
    /* .backend        = */ &k_backend,
    /* .functions      = */ nullptr,
};

}  // namespace

CT_EXPORT const ct_plugin* ct_plugin_entry(const ct_host* host) {
  if (host && host->abi_major == CT_ABI_MAJOR) g_host = host;
  return &k_plugin;
}
