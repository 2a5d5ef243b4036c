/*
 * Catena ABI v1 — the tensor: DLPack's DLTensor layout plus the buffer that owns it.
 */
#ifndef CATENA_CT_TENSOR_H
#define CATENA_CT_TENSOR_H

#include "ct_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A block of device memory, created by a backend's buffer_alloc or buffer_wrap and
 * destroyed by the same backend's buffer_free. Opaque to the host. */
typedef struct ct_buffer ct_buffer;

/* DLPack device types Catena uses (values identical to DLDeviceType). */
enum {
  CT_DL_CPU = 1,
  CT_DL_CUDA = 2,
  CT_DL_CUDA_HOST = 3,
  CT_DL_OPENCL = 4,
  CT_DL_EXT_DEV = 12 /* devices DLPack has no code for (FPGA, test devices) */
};

/* Field for field the layout of DLPack's DLTensor (dlpack.h, v0.6 and later), so a
 * pointer to it can be handed to any DLPack consumer. Frozen layout. */
typedef struct ct_dltensor {
  /* Host-addressable devices: the address of the buffer's first byte. Other devices:
   * the value the backend's buffer_data returned (a cl_mem, a handle); the host never
   * dereferences it. The element at index i lives at data + byte_offset +
   * sum(i_k * strides[k]) * element_size. */
  void* data;
  int32_t device_type; /* CT_DL_*: what kind of memory `data` refers to */
  int32_t device_id;   /* the device's index within its backend */
  int32_t ndim;
  ct_dtype dtype;
  /* ndim extents. Borrowed: lives as long as the ct_tensor. */
  const int64_t* shape;
  /* ndim strides in elements (not bytes), never NULL in Catena; may be 0 (broadcast)
   * or negative. Borrowed: lives as long as the ct_tensor. */
  const int64_t* strides;
  uint64_t byte_offset;
} ct_dltensor;

#if CT_ABI_64
CT_STATIC_ASSERT(sizeof(ct_dltensor) == 48, ct_dltensor_size);
CT_STATIC_ASSERT(offsetof(ct_dltensor, device_type) == 8, ct_dltensor_device_offset);
CT_STATIC_ASSERT(offsetof(ct_dltensor, dtype) == 20, ct_dltensor_dtype_offset);
CT_STATIC_ASSERT(offsetof(ct_dltensor, byte_offset) == 40, ct_dltensor_byte_offset_offset);
#endif

/* A tensor as the host passes it to a backend: a view (dl) into a buffer. The host
 * creates and owns every ct_tensor it passes; a backend borrows it for the duration of
 * the call that received it and must not keep the pointer. The *buffer* stays alive
 * until the work enqueued on it has completed (the host guarantees it). */
typedef struct ct_tensor {
  size_t struct_size;
  ct_dltensor dl;
  /* The buffer dl.data lies in. NULL only for tensors with no elements. */
  ct_buffer* buffer;
} ct_tensor;

#if CT_ABI_64
CT_STATIC_ASSERT(offsetof(ct_tensor, buffer) == 56, ct_tensor_last_offset);
CT_STATIC_ASSERT(sizeof(ct_tensor) == 64, ct_tensor_size);
#endif

#ifdef __cplusplus
}
#endif

#endif /* CATENA_CT_TENSOR_H */
