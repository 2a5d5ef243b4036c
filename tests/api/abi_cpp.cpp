// The ABI headers compile alone as C++, with their static_asserts, and match DLPack.
#include <catena/abi.h>
#include <catena/dlpack.h>

#if __has_include(<dlpack/dlpack.h>)
#include <dlpack/dlpack.h>
static_assert(sizeof(ct_dltensor) == sizeof(DLTensor), "ct_dltensor must match DLTensor");
static_assert(offsetof(ct_dltensor, data) == offsetof(DLTensor, data), "data");
static_assert(offsetof(ct_dltensor, device_type) == offsetof(DLTensor, device), "device");
static_assert(offsetof(ct_dltensor, ndim) == offsetof(DLTensor, ndim), "ndim");
static_assert(offsetof(ct_dltensor, dtype) == offsetof(DLTensor, dtype), "dtype");
static_assert(offsetof(ct_dltensor, shape) == offsetof(DLTensor, shape), "shape");
static_assert(offsetof(ct_dltensor, strides) == offsetof(DLTensor, strides), "strides");
static_assert(offsetof(ct_dltensor, byte_offset) == offsetof(DLTensor, byte_offset), "byte_offset");
static_assert(sizeof(ct_dtype) == sizeof(DLDataType), "dtype size");
static_assert(int(CT_DL_CPU) == int(kDLCPU) && int(CT_DL_CUDA) == int(kDLCUDA) && int(CT_DL_OPENCL) == int(kDLOpenCL),
              "device codes");
static_assert(int(CT_DTYPE_FLOAT) == int(kDLFloat) && int(CT_DTYPE_INT) == int(kDLInt) &&
                  int(CT_DTYPE_UINT) == int(kDLUInt),
              "dtype codes");
// DLPack 0.6's managed tensor (Debian's libdlpack-dev); the versioned one of DLPack 1.0 is
// checked against its specification's layout in catena/dlpack.h.
static_assert(sizeof(catena_dlpack_managed) == sizeof(DLManagedTensor), "managed tensor size");
static_assert(offsetof(catena_dlpack_managed, manager_ctx) == offsetof(DLManagedTensor, manager_ctx), "manager_ctx");
static_assert(offsetof(catena_dlpack_managed, deleter) == offsetof(DLManagedTensor, deleter), "deleter");
#endif

int catena_abi_cpp_check() { return CT_ABI_MINOR; }
