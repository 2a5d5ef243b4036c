// Tensors: a typed, strided view into a buffer on one device.
#pragma once

#include <catena/ct_tensor.h>
#include <catena/dlpack.h>
#include <catena/dtype.hpp>
#include <catena/runtime.hpp>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace catena {

constexpr int kMaxDims = 8;

// A shape of at most kMaxDims extents, stored inline.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);
  Shape(const int64_t* dims, int ndim);

  int ndim() const { return ndim_; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  const int64_t* data() const { return dims_; }
  const int64_t* begin() const { return dims_; }
  const int64_t* end() const { return dims_ + ndim_; }
  int64_t numel() const;
  void push_back(int64_t d);
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  std::string str() const;  // "(2, 3)"

  friend bool operator==(const Shape& a, const Shape& b);
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  int ndim_ = 0;
  int64_t dims_[kMaxDims] = {};
};

class Storage;

class Tensor {
 public:
  Tensor() = default;  // undefined tensor

  static Tensor empty(const Shape& shape, Dtype dtype, Device& device = default_device());
  static Tensor zeros(const Shape& shape, Dtype dtype, Device& device = default_device());
  static Tensor full(const Shape& shape, double value, Dtype dtype, Device& device = default_device());
  // Copies `bytes` of contiguous row-major host data.
  static Tensor from_host(const void* data, size_t bytes, const Shape& shape, Dtype dtype,
                          Device& device = default_device());
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device& device = default_device());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int ndim() const { return shape().ndim(); }
  int64_t size(int axis) const;  // negative axes count from the end
  int64_t numel() const { return shape().numel(); }
  Dtype dtype() const;
  Device& device() const;
  const int64_t* strides() const;  // in elements
  int64_t offset() const;          // in elements, from the buffer's start
  bool is_contiguous() const;
  std::string str() const;  // "Tensor(float32, (2, 3), cpu)"

  // Copy the elements, in row-major order, to host memory of exactly numel*itemsize
  // bytes. Synchronises the device.
  void copy_to_host(void* dst, size_t bytes) const;
  template <class T>
  std::vector<T> to_vector() const;
  // The address of element 0 of a tensor in host-addressable, synchronous memory (the
  // cpu device); throws elsewhere. For data loading and interop, not for kernels.
  void* host_data() const;

  // DLPack (catena/dlpack.h), both ways. Import takes the managed tensor over and calls
  // its deleter exactly once, on any thread, when the last tensor viewing the memory is
  // gone; host memory (kDLCPU, kDLCUDAHost) becomes a cpu tensor without a copy, with its
  // strides. A read-only tensor, or one whose data is not aligned to its element size, is
  // copied (and its deleter called before the call returns). When import throws, the
  // caller still owns `managed`.
  static Tensor from_dlpack(catena_dlpack_versioned* managed);
  static Tensor from_dlpack(catena_dlpack_managed* managed);
  // Export: the memory itself (no copy), kept alive until the consumer calls the deleter;
  // the device is synchronised first. Writes through either side are seen by the other.
  catena_dlpack_versioned* to_dlpack_versioned() const;
  catena_dlpack_managed* to_dlpack() const;

  Tensor to(Device& device) const;  // a copy on `device` (this tensor if already there)
  Tensor contiguous() const;        // this tensor if already contiguous
  Tensor clone() const;
  Tensor astype(Dtype dtype) const;

  // Views (no copy) — reshape copies only when the strides make a view impossible.
  Tensor reshape(const Shape& shape) const;
  Tensor transpose(const std::vector<int>& axes = {}) const;  // default: reverse
  Tensor broadcast_to(const Shape& shape) const;
  Tensor slice(int axis, int64_t start, int64_t stop, int64_t step = 1) const;
  Tensor squeeze(int axis) const;
  Tensor expand_dims(int axis) const;

  // The ABI description of this tensor. Valid while the tensor is alive.
  ct_tensor abi() const;
  // 0 contiguous, 1 strided, 2 with zero or negative strides (dispatch's layout class).
  int impl_layout() const;
  Storage& storage() const;

  struct Impl;
  explicit Tensor(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  // A view sharing this tensor's storage.
  Tensor view(const Shape& shape, const int64_t* strides, int64_t offset) const;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace catena
