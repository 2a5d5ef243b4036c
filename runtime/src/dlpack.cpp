// DLPack exchange (catena/dlpack.h): host memory in without a copy, any tensor out
// without a copy.
#include "internal.hpp"

#include <catena/tensor.hpp>

#include <atomic>
#include <cstdint>

namespace catena {

namespace {

// What an import needs from either managed struct.
struct Incoming {
  const ct_dltensor* dl;
  bool read_only;
  std::function<void()> release;  // calls the producer's deleter
};

// The shape (checked as Catena can hold it) and strides in elements; NULL strides mean
// compact row-major.
void read_geometry(const ct_dltensor& dl, Shape* shape, int64_t* strides) {
  *shape = checked_shape(dl.shape, dl.ndim, "from_dlpack: ");
  if (!dl.strides) return contiguous_strides(*shape, strides);
  uint64_t span = 0;  // elements between the view's lowest and highest, kept within 2^62
  for (int i = 0; i < dl.ndim; ++i) {
    const int64_t st = dl.strides[i];
    if (st > (int64_t(1) << 60) || st < -(int64_t(1) << 60))
      throw Error(CT_INVALID_ARGUMENT, "from_dlpack: strides[" + std::to_string(i) + "] is " + std::to_string(st));
    const uint64_t reach = uint64_t(st < 0 ? -st : st), steps = dl.shape[i] > 1 ? uint64_t(dl.shape[i] - 1) : 0;
    if (steps && reach > ((uint64_t(1) << 62) - span) / steps)
      throw Error(CT_INVALID_ARGUMENT, "from_dlpack: the strides reach past 2^62 elements");
    span += reach * steps;
    strides[i] = st;
  }
}

Tensor import(const Incoming& in) {
  const ct_dltensor& dl = *in.dl;
  if (dl.device_type != CT_DL_CPU && dl.device_type != CT_DL_CUDA_HOST)
    throw Error(CT_UNIMPLEMENTED, "from_dlpack: memory of DLPack device type " + std::to_string(dl.device_type) +
                                      " cannot be imported; only host memory (kDLCPU = 1, kDLCUDAHost = 3) can");
  const Dtype dtype = checked_dtype(dl.dtype, "from_dlpack: ");
  Shape shape;
  int64_t strides[kMaxDims] = {};
  read_geometry(dl, &shape, strides);
  const size_t es = dtype.size();
  char* origin = static_cast<char*>(dl.data) + dl.byte_offset;  // element 0
  if (shape.numel() > 0 && !dl.data) throw Error(CT_INVALID_ARGUMENT, "from_dlpack: data is NULL");

  if (shape.numel() == 0) {
    in.release();
    return Tensor::empty(shape, dtype, runtime().cpu());
  }
  // The memory the view touches, from its lowest element to its highest.
  int64_t lo = 0, hi = 0;
  view_extent(shape, strides, 0, &lo, &hi);
  char* base = origin + lo * int64_t(es);
  const uint64_t bytes = uint64_t(hi - lo + 1) * es;
  const Shape flat{hi - lo + 1};
  const bool aligned = reinterpret_cast<uintptr_t>(origin) % es == 0;
  if (aligned && !in.read_only) return wrap_host_memory(base, bytes, flat, dtype, in.release).view(shape, strides, -lo);
  // A copy Catena may write, through the runtime's strided copy (from an aligned copy of
  // the bytes when the producer's are not aligned); the producer's memory is let go now.
  const Tensor source = aligned ? wrap_host_memory(base, bytes, flat, dtype, [] {})
                                : Tensor::from_host(base, bytes, flat, dtype, runtime().cpu());
  Tensor copy = source.view(shape, strides, -lo).clone();
  in.release();
  return copy;
}

// An exported tensor: the struct handed out, and the tensor that keeps the memory alive.
template <class Managed>
struct Outgoing {
  Managed managed{};
  Tensor tensor;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};

template <class Managed>
Outgoing<Managed>* export_tensor(const Tensor& t) {
  if (!t.defined()) throw Error(CT_INVALID_ARGUMENT, "to_dlpack: the tensor is undefined");
  t.device().synchronize();  // the consumer reads the memory as soon as it has it
  auto* out = new Outgoing<Managed>();
  out->tensor = t;
  const ct_tensor abi = t.abi();
  for (int i = 0; i < t.ndim(); ++i) {
    out->shape[i] = abi.dl.shape[i];
    out->strides[i] = abi.dl.strides[i];
  }
  ct_dltensor& dl = out->managed.dl_tensor;
  dl = abi.dl;
  dl.shape = out->shape;
  dl.strides = out->strides;
  out->managed.manager_ctx = out;
  out->managed.deleter = [](Managed* self) { delete static_cast<Outgoing<Managed>*>(self->manager_ctx); };
  return out;
}

// Calls a managed tensor's deleter once, however many copies of the function exist.
template <class Managed>
std::function<void()> deleter_of(Managed* m) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  return [m, done] {
    if (!done->exchange(true) && m->deleter) m->deleter(m);
  };
}

}  // namespace

Tensor Tensor::from_dlpack(catena_dlpack_versioned* managed) {
  if (!managed) throw Error(CT_INVALID_ARGUMENT, "from_dlpack: the managed tensor is NULL");
  if (managed->version.major != CATENA_DLPACK_MAJOR)
    throw Error(CT_INVALID_ARGUMENT, "from_dlpack: DLPack version " + std::to_string(managed->version.major) + "." +
                                         std::to_string(managed->version.minor) + "; Catena reads major version " +
                                         std::to_string(CATENA_DLPACK_MAJOR));
  return import({&managed->dl_tensor, (managed->flags & CATENA_DLPACK_FLAG_READ_ONLY) != 0, deleter_of(managed)});
}

Tensor Tensor::from_dlpack(catena_dlpack_managed* managed) {
  if (!managed) throw Error(CT_INVALID_ARGUMENT, "from_dlpack: the managed tensor is NULL");
  return import({&managed->dl_tensor, false, deleter_of(managed)});
}

catena_dlpack_versioned* Tensor::to_dlpack_versioned() const {
  auto* out = export_tensor<catena_dlpack_versioned>(*this);
  out->managed.version = {CATENA_DLPACK_MAJOR, CATENA_DLPACK_MINOR};
  out->managed.flags = 0;
  return &out->managed;
}

catena_dlpack_managed* Tensor::to_dlpack() const { return &export_tensor<catena_dlpack_managed>(*this)->managed; }

}  // namespace catena
