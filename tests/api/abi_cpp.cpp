// The ABI headers compile alone as C++, with their static_asserts, and match DLPack.
#include <catena/abi.h>

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
#endif

int catena_abi_cpp_check() { return CT_ABI_MINOR; }
