// Tensors: creation, views, host transfer.
#include "internal.hpp"
#include "pool.hpp"

#include <catena/ops.hpp>

#include <algorithm>
#include <cstring>
#include <numeric>

namespace catena {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) : Shape(dims.data(), static_cast<int>(dims.size())) {}

Shape::Shape(const int64_t* dims, int ndim) {
  if (ndim > kMaxDims)
    throw Error(CT_INVALID_ARGUMENT, "a shape has at most " + std::to_string(kMaxDims) + " dimensions, got " +
                                         std::to_string(ndim));
  for (int i = 0; i < ndim; ++i) {
    if (dims[i] < 0) throw Error(CT_INVALID_ARGUMENT, "negative extent " + std::to_string(dims[i]) + " in a shape");
    dims_[i] = dims[i];
  }
  ndim_ = ndim;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[i];
  return n;
}

void Shape::push_back(int64_t d) {
  if (ndim_ == kMaxDims) throw Error(CT_INVALID_ARGUMENT, "a shape has at most " + std::to_string(kMaxDims) + " dimensions");
  dims_[ndim_++] = d;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < ndim_; ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
  if (ndim_ == 1) s += ",";
  return s + ")";
}

bool operator==(const Shape& a, const Shape& b) {
  return a.ndim_ == b.ndim_ && std::equal(a.begin(), a.end(), b.begin());
}

void contiguous_strides(const Shape& shape, int64_t* strides) {
  int64_t s = 1;
  for (int i = shape.ndim() - 1; i >= 0; --i) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
}

void view_extent(const Shape& shape, const int64_t* strides, int64_t offset, int64_t* lo, int64_t* hi) {
  *lo = *hi = offset;
  for (int i = 0; i < shape.ndim(); ++i) {
    int64_t span = strides[i] * (shape[i] - 1);
    if (span < 0) *lo += span;
    else *hi += span;
  }
}

namespace {

int norm_axis(int axis, int ndim, const char* what) {
  if (axis < -ndim || axis >= std::max(ndim, 1))
    throw Error(CT_OUT_OF_RANGE, std::string(what) + ": axis " + std::to_string(axis) + " is out of range for " +
                                     std::to_string(ndim) + " dimensions");
  return axis < 0 ? axis + ndim : axis;
}

}  // namespace

namespace {
// A fresh tensor's impl and its storage in one allocation; views made from it keep the
// block alive through Impl::owner.
struct Fresh {
  Tensor::Impl impl;
  Storage storage;
  Fresh(Device& d, uint64_t bytes) : storage(d, bytes) {}
};
}  // namespace

Tensor Tensor::empty(const Shape& shape, Dtype dtype, Device& device) {
  auto block = std::allocate_shared<Fresh>(PoolAllocator<Fresh>(), device,
                                           static_cast<uint64_t>(shape.numel()) * dtype.size());
  std::shared_ptr<Impl> impl(block, &block->impl);
  impl->storage = &block->storage;
  impl->dtype = dtype;
  impl->shape = shape;
  contiguous_strides(shape, impl->strides);
  return Tensor(std::move(impl));
}

namespace {
// A wrapped tensor's impl and its storage in one allocation, as Fresh.
struct Wrapped {
  Tensor::Impl impl;
  Storage storage;
  Wrapped(Device& d, ct_buffer* b, uint64_t bytes) : storage(d, b, bytes) {}
};

void run_release(void* user) {
  auto* f = static_cast<std::function<void()>*>(user);
  (*f)();
  delete f;
}
}  // namespace

Tensor wrap_host_memory(void* data, uint64_t bytes, const Shape& shape, Dtype dtype, std::function<void()> release) {
  if (uint64_t(shape.numel()) * dtype.size() > bytes)
    throw Error(CT_INVALID_ARGUMENT, "wrap_host_memory: " + std::to_string(bytes) + " bytes for " + shape.str());
  Device& cpu = runtime().cpu();
  Device::Impl& d = cpu.impl();
  if (!d.table->buffer_wrap) throw Error(CT_UNIMPLEMENTED, "the cpu backend cannot wrap host memory");
  auto* user = new std::function<void()>(std::move(release));
  ct_buffer* b = nullptr;
  ct_status* s = d.table->buffer_wrap(d.ctx, d.index, data, bytes, run_release, user, &b);
  if (s) {
    delete user;
    check_status(s, "wrapping host memory");
  }
  std::shared_ptr<Wrapped> block;
  try {
    block = std::make_shared<Wrapped>(cpu, b, bytes);
  } catch (...) {
    d.table->buffer_free(d.ctx, b);
    throw;
  }
  std::shared_ptr<Tensor::Impl> impl(block, &block->impl);
  impl->storage = &block->storage;
  impl->dtype = dtype;
  impl->shape = shape;
  contiguous_strides(shape, impl->strides);
  impl->layout = int8_t(compute_layout(shape, impl->strides));
  return Tensor(std::move(impl));
}

Shape checked_shape(const int64_t* dims, int64_t ndim, const std::string& where) {
  if (ndim < 0 || ndim > kMaxDims)
    throw Error(CT_INVALID_ARGUMENT, where + "ndim is " + std::to_string(ndim) + ": a tensor has 0 to " +
                                         std::to_string(kMaxDims) + " dimensions");
  if (ndim > 0 && !dims) throw Error(CT_INVALID_ARGUMENT, where + "shape is NULL");
  uint64_t count = 1;
  for (int64_t i = 0; i < ndim; ++i) {
    if (dims[i] < 0)
      throw Error(CT_INVALID_ARGUMENT,
                  where + "shape[" + std::to_string(i) + "] is " + std::to_string(dims[i]) + ": extents are >= 0");
    if (dims[i] > 0 && count > (uint64_t(1) << 62) / uint64_t(dims[i]))
      throw Error(CT_INVALID_ARGUMENT, where + "the shape's element count overflows");
    count *= uint64_t(dims[i]);
  }
  return Shape(dims, int(ndim));
}

Dtype checked_dtype(ct_dtype dtype, const std::string& where) {
  const Dtype dt(dtype);
  if (dt.index() == 15 || dtype.lanes != 1)
    throw Error(CT_INVALID_ARGUMENT, where + "dtype (code " + std::to_string(dtype.code) + ", " +
                                         std::to_string(dtype.bits) + " bits, " + std::to_string(dtype.lanes) +
                                         " lanes) is not one Catena has: float16/32/64, bfloat16, int8/32/64, "
                                         "uint8 or bool, one lane");
  return dt;
}

Tensor Tensor::zeros(const Shape& shape, Dtype dtype, Device& device) { return full(shape, 0.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, Dtype dtype, Device& device) {
  Tensor t = empty(shape, dtype, device);
  ops::fill(t, value);
  return t;
}

Tensor Tensor::from_host(const void* data, size_t bytes, const Shape& shape, Dtype dtype, Device& device) {
  size_t want = static_cast<size_t>(shape.numel()) * dtype.size();
  if (bytes != want)
    throw Error(CT_INVALID_ARGUMENT, "from_host: " + std::to_string(bytes) + " bytes given but shape " + shape.str() +
                                         " of " + dtype.name() + " needs " + std::to_string(want));
  Tensor t = empty(shape, dtype, device);
  if (want) {
    Device::Impl& d = device.impl();
    std::lock_guard<std::mutex> lock(d.stream_mutex);
    check_status(d.table->copy_from_host(d.ctx, d.stream, data, t.storage().buffer(), 0, want, CT_HOST_DURING_CALL),
                 [&] { return "copying to " + device.name(); });
  }
  return t;
}

#define CATENA_FROM_VECTOR(T, DT)                                                                          \
  template <>                                                                                              \
  Tensor Tensor::from_vector<T>(const std::vector<T>& v, const Shape& shape, Device& device) {              \
    return from_host(v.data(), v.size() * sizeof(T), shape, DT, device);                                   \
  }                                                                                                        \
  template <>                                                                                              \
  std::vector<T> Tensor::to_vector<T>() const {                                                            \
    if (dtype() != DT)                                                                                     \
      throw Error(CT_INVALID_ARGUMENT, "to_vector<" #T ">: the tensor holds " + dtype().name() +          \
                                           "; convert it with astype(" + DT.name() + ") first");           \
    std::vector<T> out(static_cast<size_t>(numel()));                                                      \
    copy_to_host(out.data(), out.size() * sizeof(T));                                                      \
    return out;                                                                                            \
  }
CATENA_FROM_VECTOR(float, float32)
CATENA_FROM_VECTOR(double, float64)
CATENA_FROM_VECTOR(int32_t, int32)
CATENA_FROM_VECTOR(int64_t, int64)
CATENA_FROM_VECTOR(uint8_t, uint8)
CATENA_FROM_VECTOR(int8_t, int8)
CATENA_FROM_VECTOR(uint16_t, float16)
#undef CATENA_FROM_VECTOR

const Shape& Tensor::shape() const { return impl_->shape; }
Dtype Tensor::dtype() const { return impl_->dtype; }
Device& Tensor::device() const { return impl_->storage->device(); }
const int64_t* Tensor::strides() const { return impl_->strides; }
int64_t Tensor::offset() const { return impl_->offset; }
Storage& Tensor::storage() const { return *impl_->storage; }

int64_t Tensor::size(int axis) const { return shape()[norm_axis(axis, ndim(), "size")]; }

int compute_layout(const Shape& shape, const int64_t* strides) {
  int64_t expected = 1;
  bool contiguous = true;
  for (int i = shape.ndim() - 1; i >= 0; --i) {
    if (shape[i] != 1 && strides[i] != expected) contiguous = false;
    expected *= shape[i];
  }
  if (contiguous) return 0;
  for (int i = 0; i < shape.ndim(); ++i)
    if (strides[i] <= 0 && shape[i] > 1) return 2;
  return 1;
}

bool Tensor::is_contiguous() const { return impl_->layout == 0; }
int Tensor::impl_layout() const { return impl_->layout; }

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return "Tensor(" + dtype().name() + ", " + shape().str() + ", " + device().name() + ")";
}

ct_tensor Tensor::abi() const {
  ct_tensor t{};
  t.struct_size = sizeof(ct_tensor);
  Storage& s = *impl_->storage;
  t.dl.data = s.data();
  t.dl.device_type = s.device().impl().dl_device_type;
  t.dl.device_id = s.device().backend_index();
  t.dl.ndim = impl_->shape.ndim();
  t.dl.dtype = impl_->dtype.raw;
  t.dl.shape = impl_->shape.data();
  t.dl.strides = impl_->strides;
  t.dl.byte_offset = static_cast<uint64_t>(impl_->offset) * impl_->dtype.size();
  t.buffer = s.buffer();
  return t;
}

void Tensor::copy_to_host(void* dst, size_t bytes) const {
  size_t want = static_cast<size_t>(numel()) * dtype().size();
  if (bytes != want)
    throw Error(CT_INVALID_ARGUMENT, "copy_to_host: " + str() + " has " + std::to_string(want) + " bytes, " +
                                         std::to_string(bytes) + " given");
  if (!want) return;
  Tensor c = contiguous();
  Device::Impl& d = c.device().impl();
  std::lock_guard<std::mutex> lock(d.stream_mutex);
  check_status(d.table->copy_to_host(d.ctx, d.stream, c.storage().buffer(), c.offset() * dtype().size(), dst, want),
               [&] { return "copying from " + c.device().name(); });
  check_status(d.table->stream_synchronize(d.ctx, d.stream), [&] { return "on " + c.device().name(); });
}

void* Tensor::host_data() const {
  Device& d = device();
  if (!d.host_addressable() || !(d.flags() & CT_DEVICE_SYNCHRONOUS))
    throw Error(CT_INVALID_ARGUMENT, "host_data: " + str() + " is not in host memory; copy it with .to(runtime().cpu())");
  return static_cast<char*>(storage().data()) + offset() * dtype().size();
}

Tensor Tensor::to(Device& target) const {
  if (&target == &device()) return *this;
  Tensor src = contiguous();
  size_t bytes = static_cast<size_t>(numel()) * dtype().size();
  if (target.host_addressable() && (target.flags() & CT_DEVICE_SYNCHRONOUS)) {
    Tensor out = empty(shape(), dtype(), target);
    if (bytes) src.copy_to_host(out.storage().data(), bytes);  // lands in place: the target's memory is host memory
    return out;
  }
  std::vector<unsigned char> host(bytes);
  src.copy_to_host(host.data(), bytes);
  return from_host(host.data(), bytes, shape(), dtype(), target);
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  ops::copy(out, *this);
  return out;
}

Tensor Tensor::astype(Dtype dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), dt, device());
  ops::copy(out, *this);
  return out;
}

Tensor Tensor::view(const Shape& shape, const int64_t* strides, int64_t offset) const {
  auto impl = std::allocate_shared<Impl>(PoolAllocator<Impl>());
  impl->storage = impl_->storage;
  impl->owner = impl_->owner ? impl_->owner : std::shared_ptr<const void>(impl_);
  impl->dtype = impl_->dtype;
  impl->shape = shape;
  std::copy(strides, strides + shape.ndim(), impl->strides);
  impl->offset = offset;
  impl->layout = static_cast<int8_t>(compute_layout(shape, impl->strides));
  return Tensor(std::move(impl));
}

Tensor Tensor::reshape(const Shape& target) const {
  Shape s = target;
  if (s.numel() != numel())
    throw Error(CT_INVALID_ARGUMENT, "reshape: cannot reshape " + shape().str() + " (" + std::to_string(numel()) +
                                         " elements) to " + target.str());
  int64_t strides[kMaxDims];
  if (is_contiguous()) {
    contiguous_strides(s, strides);
    return view(s, strides, offset());
  }
  return contiguous().reshape(s);
}

Tensor Tensor::transpose(const std::vector<int>& axes) const {
  int n = ndim();
  std::vector<int> perm(axes);
  if (perm.empty())
    for (int i = n - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int>(perm.size()) != n)
    throw Error(CT_INVALID_ARGUMENT, "transpose: " + std::to_string(perm.size()) + " axes given for a tensor of " +
                                         std::to_string(n) + " dimensions");
  std::vector<bool> used(n, false);
  Shape s;
  int64_t strides[kMaxDims];
  for (int i = 0; i < n; ++i) {
    int a = norm_axis(perm[i], n, "transpose");
    if (used[a]) throw Error(CT_INVALID_ARGUMENT, "transpose: axis " + std::to_string(a) + " repeated");
    used[a] = true;
    s.push_back(shape()[a]);
    strides[i] = impl_->strides[a];
  }
  return view(s, strides, offset());
}

Tensor Tensor::broadcast_to(const Shape& target) const {
  int n = target.ndim(), m = ndim();
  if (m > n)
    throw Error(CT_INVALID_ARGUMENT, "broadcast_to: cannot broadcast " + shape().str() + " to " + target.str());
  int64_t strides[kMaxDims];
  for (int i = 0; i < n; ++i) {
    int j = i - (n - m);
    if (j < 0) {
      strides[i] = 0;
    } else if (shape()[j] == target[i]) {
      strides[i] = impl_->strides[j];
    } else if (shape()[j] == 1) {
      strides[i] = 0;
    } else {
      throw Error(CT_INVALID_ARGUMENT, "broadcast_to: cannot broadcast " + shape().str() + " to " + target.str());
    }
  }
  return view(target, strides, offset());
}

Tensor Tensor::slice(int axis, int64_t start, int64_t stop, int64_t step) const {
  int a = norm_axis(axis, ndim(), "slice");
  if (step == 0) throw Error(CT_INVALID_ARGUMENT, "slice: step must not be 0");
  int64_t n = shape()[a];
  auto clamp = [&](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
  // Python's slice semantics.
  if (start < 0) start += n;
  if (stop < 0) stop += n;
  int64_t len;
  if (step > 0) {
    start = clamp(start, 0, n);
    stop = clamp(stop, 0, n);
    len = stop > start ? (stop - start + step - 1) / step : 0;
  } else {
    start = clamp(start, -1, n - 1);
    stop = clamp(stop, -1, n - 1);
    len = start > stop ? (start - stop - step - 1) / (-step) : 0;
  }
  Shape s = shape();
  s[a] = len;
  int64_t strides[kMaxDims];
  std::copy(impl_->strides, impl_->strides + ndim(), strides);
  strides[a] = impl_->strides[a] * step;
  int64_t off = offset() + (len ? start * impl_->strides[a] : 0);
  return view(s, strides, off);
}

Tensor Tensor::squeeze(int axis) const {
  int a = norm_axis(axis, ndim(), "squeeze");
  if (shape()[a] != 1)
    throw Error(CT_INVALID_ARGUMENT, "squeeze: axis " + std::to_string(a) + " of " + shape().str() + " is not 1");
  Shape s;
  int64_t strides[kMaxDims];
  int k = 0;
  for (int i = 0; i < ndim(); ++i)
    if (i != a) s.push_back(shape()[i]), strides[k++] = impl_->strides[i];
  return view(s, strides, offset());
}

Tensor Tensor::expand_dims(int axis) const {
  int a = axis < 0 ? axis + ndim() + 1 : axis;
  if (a < 0 || a > ndim()) throw Error(CT_OUT_OF_RANGE, "expand_dims: axis " + std::to_string(axis) + " out of range");
  Shape s;
  int64_t strides[kMaxDims];
  int k = 0;
  for (int i = 0; i <= ndim(); ++i) {
    if (i == a) {
      s.push_back(1);
      strides[k++] = 0;
    }
    if (i < ndim()) s.push_back(shape()[i]), strides[k++] = impl_->strides[i];
  }
  return view(s, strides, offset());
}

}  // namespace catena
