/*
 * DLPack's managed tensors, field for field, under Catena's names (so that this header can
 * sit beside a dlpack.h of any version in one program): DLPack 1.0's
 * DLManagedTensorVersioned and the older DLManagedTensor, which numpy 1.22-1.26 and most
 * libraries of that time exchange. The tensor inside is ct_dltensor, DLPack's DLTensor
 * layout (ct_tensor.h). A pointer to one of these structs is a pointer to DLPack's. C99.
 *
 * Rules of the exchange, from DLPack: whoever receives a managed tensor calls its deleter
 * exactly once, when done with the memory (on any thread); the producer keeps the memory
 * valid until then. A tensor marked read-only must not be written.
 */
#ifndef CATENA_DLPACK_H
#define CATENA_DLPACK_H

#include <catena/ct_tensor.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CATENA_DLPACK_MAJOR 1
#define CATENA_DLPACK_MINOR 0

/* DLPack 1.0's flags. */
#define CATENA_DLPACK_FLAG_READ_ONLY ((uint64_t)1 << 0)
#define CATENA_DLPACK_FLAG_IS_COPIED ((uint64_t)1 << 1)

/* DLPackVersion */
typedef struct catena_dlpack_version {
  uint32_t major;
  uint32_t minor;
} catena_dlpack_version;

/* DLManagedTensor (DLPack before 1.0; PyCapsule name "dltensor") */
typedef struct catena_dlpack_managed {
  ct_dltensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(struct catena_dlpack_managed* self);
} catena_dlpack_managed;

/* DLManagedTensorVersioned (DLPack 1.0; PyCapsule name "dltensor_versioned") */
typedef struct catena_dlpack_versioned {
  catena_dlpack_version version;
  void* manager_ctx;
  void (*deleter)(struct catena_dlpack_versioned* self);
  uint64_t flags;
  ct_dltensor dl_tensor;
} catena_dlpack_versioned;

#if CT_ABI_64
CT_STATIC_ASSERT(sizeof(catena_dlpack_managed) == 64, catena_dlpack_managed_size);
CT_STATIC_ASSERT(sizeof(catena_dlpack_versioned) == 80, catena_dlpack_versioned_size);
CT_STATIC_ASSERT(offsetof(catena_dlpack_versioned, flags) == 24, catena_dlpack_versioned_flags_offset);
CT_STATIC_ASSERT(offsetof(catena_dlpack_versioned, dl_tensor) == 32, catena_dlpack_versioned_tensor_offset);
#endif

#ifdef __cplusplus
}
#endif

#endif /* CATENA_DLPACK_H */
