// The CUDA backend (libcatena-cuda.so): every CUDA GPU is cuda:N. Buffers come from a
// stream-ordered caching allocator per device (allocator.hpp), streams are CUDA streams,
// errors a kernel meets surface at the next synchronisation naming the ops enqueued since.
// GEMM runs on cuBLAS (float32 exact unless CATENA_CUDA_TF32=1); fill, copy, the
// elementwise ops and the reductions on the backend's own kernels (kernels.cu). Everything else is declined
// with a reason, and the runtime runs it on the cpu.
//
// On a machine without an NVIDIA driver the library still loads: init reports the backend
// unavailable, saying why (driver.hpp). The CUDA runtime is linked statically; cuBLAS is
// opened by init once a driver is there (blas.hpp).
#include "backend.hpp"
#include "blas.hpp"
#include "driver.hpp"

#include "../env_setting.hpp"

#include <catena/ct_sdk.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>

namespace catena_cuda {

const ct_host* g_host = nullptr;

ct_status* error(ct_code code, const std::string& m) { return g_host->status_new(code, m.c_str()); }

ct_status* cuda_error(cudaError_t e, const std::string& what) {
  cudaGetLastError();  // clear a non-sticky error
  return error(e == cudaErrorMemoryAllocation ? CT_RESOURCE_EXHAUSTED : CT_INTERNAL,
               "cuda: " + what + " failed: " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")");
}

ct_status* cublas_error(cublasStatus_t s, const std::string& what) {
  return error(s == CUBLAS_STATUS_ALLOC_FAILED ? CT_RESOURCE_EXHAUSTED : CT_INTERNAL,
               "cuda: " + what + " failed: " + blas().status_string(s));
}

Context* context_of(ct_backend_ctx* c) { return reinterpret_cast<Context*>(c); }

namespace {

std::string pci_id(const cudaDeviceProp& p) {
  char b[32];
  std::snprintf(b, sizeof b, "%04x:%02x:%02x.0", unsigned(p.pciDomainID), unsigned(p.pciBusID), unsigned(p.pciDeviceID));
  return b;
}

// The oldest compute capability this build has code for (its lowest sm_XX).
constexpr int kMinMajor = 8;

ct_status* init(ct_backend_ctx** out) {
  *out = nullptr;
  const DriverCheck driver = check_driver(CUDART_VERSION);
  if (!driver.ok) return error(CT_UNAVAILABLE, driver.message);
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count)) {
    cudaGetLastError();
    return error(CT_UNAVAILABLE, std::string("no usable CUDA GPU: ") + cudaGetErrorString(e) + " (" +
                                     cudaGetErrorName(e) + "); check the GPU with nvidia-smi");
  }
  const Blas& cublas = blas(CATENA_CUDA_LIBDIR);
  if (!cublas.loaded) return error(CT_UNAVAILABLE, cublas.error);
  auto c = std::make_unique<Context>();
  c->tf32 = catena_backend::env_integer("catena cuda", "CATENA_CUDA_TF32", 0, 0, 1) == 1;
  const uint64_t cache_limit =
      uint64_t(catena_backend::env_integer("catena cuda", "CATENA_CUDA_CACHE_MB", 1 << 20, 0, int64_t(1) << 30)) << 20;
  int blas_version = 0;
  {
    cublasHandle_t h = nullptr;
    if (cublas.create(&h) == CUBLAS_STATUS_SUCCESS) {
      cublas.version(h, &blas_version);
      cublas.destroy(h);
    }
  }
  std::string skipped;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    if (p.major < kMinMajor) {
      skipped += std::string(skipped.empty() ? "" : "; ") + p.name + " (compute capability " + std::to_string(p.major) +
                 "." + std::to_string(p.minor) + ")";
      continue;
    }
    auto d = std::make_unique<Device>();
    d->ordinal = i;
    d->name = p.name;
    d->pci = pci_id(p);
    std::memcpy(d->uuid, p.uuid.bytes, 16);
    d->memory = p.totalGlobalMem;
    d->sms = p.multiProcessorCount;
    d->major = p.major, d->minor = p.minor;
    d->description = "compute capability " + std::to_string(p.major) + "." + std::to_string(p.minor) + ", " +
                     std::to_string(p.multiProcessorCount) + " SMs; driver for CUDA " +
                     cuda_version_string(driver.driver_version) + ", runtime " + cuda_version_string(CUDART_VERSION) +
                     ", cuBLAS " + std::to_string(blas_version) + "; float32 GEMM " +
                     (c->tf32 ? "in TF32 (CATENA_CUDA_TF32=1)" : "exact (TF32 with CATENA_CUDA_TF32=1)");
    d->memory_source = std::make_unique<DeviceMemory>(i);
    d->allocator = std::make_unique<CachingAllocator>(*d->memory_source, cache_limit);
    c->devices.push_back(std::move(d));
  }
  if (c->devices.empty())
    return error(CT_UNAVAILABLE, skipped.empty() ? std::string("no CUDA GPU found (the NVIDIA driver is installed)")
                                                 : "no GPU this build supports (compute capability 8.0 or newer): " +
                                                       skipped);
  if (!skipped.empty())
    g_host->log(CT_LOG_WARNING, "cuda", ("GPUs below compute capability 8.0 are not used: " + skipped).c_str());
  *out = reinterpret_cast<ct_backend_ctx*>(c.release());
  return nullptr;
}

void shutdown(ct_backend_ctx* cx) {
  Context* c = context_of(cx);
  sweep_releases(c, true);
  for (auto& d : c->devices) d->allocator->release_cached();
  delete c;
}

int32_t device_count(ct_backend_ctx* cx) { return int32_t(context_of(cx)->devices.size()); }

ct_status* device_props(ct_backend_ctx* cx, int32_t device, ct_device_props* p) {
  Context* c = context_of(cx);
  if (device < 0 || device >= int32_t(c->devices.size())) return error(CT_OUT_OF_RANGE, "cuda: no such device");
  const Device& d = *c->devices[size_t(device)];
  const size_t size = p->struct_size;
  std::memset(p, 0, size);
  p->struct_size = size;
  p->kind = "cuda";
  p->name = d.name.c_str();
  p->vendor = "NVIDIA";
  p->description = d.description.c_str();
  p->dl_device_type = CT_DL_CUDA;
  p->flags = CT_DEVICE_HAS_UUID;
  std::memcpy(p->uuid, d.uuid, 16);
  p->pci_bus_id = d.pci.c_str();
  p->memory_total = d.memory;
  size_t free_bytes = 0, total = 0;
  int saved = 0;
  cudaGetDevice(&saved);
  if (cudaSetDevice(d.ordinal) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total) == cudaSuccess)
    p->memory_free = free_bytes;
  cudaGetLastError();
  cudaSetDevice(saved);
  p->compute_units = d.sms;
  return nullptr;
}

int32_t supports(ct_backend_ctx* cx, int32_t device, const ct_op* op, const char** reason) {
  return supports_op(context_of(cx), device, op, reason);
}

ct_status* run(ct_backend_ctx* cx, ct_stream* s, const ct_op* op) { return launch(context_of(cx), s, op); }

void* native_stream(ct_backend_ctx*, ct_stream* s) { return s->stream; }

const ct_backend k_backend = {
    sizeof(ct_backend),
    init,
    shutdown,
    device_count,
    device_props,
    buffer_alloc,
    buffer_free,
    buffer_data,
    buffer_wrap,
    stream_create,
    stream_destroy,
    stream_synchronize,
    event_record,
    event_wait,
    stream_wait_event,
    event_destroy,
    copy_from_host,
    copy_to_host,
    copy_device,
    supports,
    run,
    native_stream,
};

const ct_plugin k_plugin = {
    sizeof(ct_plugin), CT_ABI_MAJOR, CT_ABI_MINOR, 0, CT_PLUGIN_BACKEND, "cuda", CATENA_VERSION, &k_backend, nullptr,
};

}  // namespace
}  // namespace catena_cuda

extern "C" CT_EXPORT const ct_plugin* ct_plugin_entry(const ct_host* host) {
  catena_cuda::g_host = host;
  return &catena_cuda::k_plugin;
}
